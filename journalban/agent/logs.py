"""The agent's log: plain lines for people, structured journal fields for tools.

Each ban, unban and restore is logged with a fixed message
(``Ban 203.0.113.5 in jail sshd for 10m``) and the fields JOURNALBAN_EVENT,
JOURNALBAN_JAIL and JOURNALBAN_ADDRESS when the journal is reachable.
"""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Callable, Sequence

from journalban.config.durations import format_duration
from journalban.events import Ban

log = logging.getLogger("journalban")
JOURNAL_SOCKET = "/run/systemd/journal/socket"

# send(MESSAGE=..., FIELD=...) -> None; journal.send when the journal is reachable.
Sender = Callable[..., None]


def journal_sender() -> Sender | None:
    if not os.path.exists(JOURNAL_SOCKET):
        return None
    try:
        from systemd import journal
    except ImportError:  # pragma: no cover - a dependency
        return None
    return journal.send


def setup_logging(level: str) -> None:
    numeric = {"debug": 10, "info": 20, "notice": 25, "warning": 30, "error": 40}[level]
    handler = logging.StreamHandler(sys.stderr)
    # Under systemd stderr goes to the journal, which adds its own time stamp.
    fmt = (
        "%(message)s"
        if os.environ.get("JOURNAL_STREAM")
        else "%(asctime)s %(levelname)s %(message)s"
    )
    handler.setFormatter(logging.Formatter(fmt))
    root = logging.getLogger("journalban")
    root.handlers[:] = [handler]
    root.setLevel(numeric)
    root.propagate = False


def event_message(kind: str, ban: Ban, now: float, reason: str = "") -> str:
    """The fixed text of a ban event."""
    if kind == "unban":
        return f"Unban {ban.address} in jail {ban.jail}" + (f" ({reason})" if reason else "")
    left = None if ban.expires_at is None else max(0.0, ban.expires_at - now)
    verb = "Ban" if kind == "ban" else "Restore ban of"
    return f"{verb} {ban.address} in jail {ban.jail} for {format_duration(left)}"


class EventLog:
    """Writes ban events to the log and, when it can, to the journal with fields."""

    def __init__(self, sender: Sender | None = None) -> None:
        self.sender = sender

    def events(self, kind: str, bans: Sequence[Ban], now: float) -> None:
        """Many events at once (a restore at start): one log write for all of them."""
        if self.sender is not None:
            for ban in bans:
                self.event(kind, ban, now)
        elif bans:
            log.info("\n".join(event_message(kind, ban, now) for ban in bans))

    def event(self, kind: str, ban: Ban, now: float, reason: str = "") -> str:
        text = event_message(kind, ban, now, reason)
        if self.sender is None:
            log.info(text)
            return text
        try:
            self.sender(
                MESSAGE=text,
                PRIORITY="5",
                SYSLOG_IDENTIFIER="journalban",
                JOURNALBAN_EVENT=kind,
                JOURNALBAN_JAIL=ban.jail,
                JOURNALBAN_ADDRESS=ban.address,
            )
        except OSError:
            log.info(text)
        return text
