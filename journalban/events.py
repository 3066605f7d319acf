"""What the stages hand each other.

Raw input travels in batches (``LineBatch``); the matcher makes an object only
for a line that matched (``journalban.matching.engine.Outcome``), and the
decisions stage hands on ``Ban``: an active ban as stored and shown.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from journalban.addresses import IPNetwork, format_network


@dataclass(frozen=True, slots=True)
class LineBatch:
    """Lines read from one source, with the source position after the last one.

    ``times`` holds each line's time when the source knows it (the journal);
    for files it is empty and the time is read from the line. ``prefixed``
    says whether lines still carry their date and syslog prefix.

    ``read`` is how many lines (entries) the batch stands for when the source
    already left out those that cannot match (they hold none of the filter's
    literals): ``lines`` then holds only the others. -1: ``lines`` holds every
    line read.
    """

    source: str
    lines: Sequence[str]
    position: str
    times: Sequence[float] = ()
    prefixed: bool = True
    arrival: float = 0.0
    unreadable: int = 0
    truncated: int = 0
    read: int = -1

    @property
    def count(self) -> int:
        """The lines (entries) read from the source for this batch."""
        return len(self.lines) if self.read < 0 else self.read


@dataclass(frozen=True, slots=True)
class Ban:
    """An active ban. ``expires_at`` None means permanent."""

    jail: str
    network: IPNetwork
    banned_at: float
    expires_at: float | None
    ban_count: int = 1
    reason: str = ""
    failures: int = 0
    source: str = ""
    lines: tuple[str, ...] = field(default=(), compare=False)

    @property
    def address(self) -> str:
        return format_network(self.network)

    def expired(self, now: float) -> bool:
        return self.expires_at is not None and self.expires_at <= now
