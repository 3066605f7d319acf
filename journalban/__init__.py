"""journalban: bans the addresses behind authentication failures, journald first."""

__version__ = "0.1.0"
