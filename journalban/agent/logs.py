"""The agent's log: plain lines for people, structured journal fields for tools.

Each ban, unban and restore is logged with a fixed message
(``Ban 203.0.113.5 in jail sshd for 10m``) and the fields JOURNALBAN_EVENT,
JOURNALBAN_JAIL and JOURNALBAN_ADDRESS when the journal is reachable. What a
D-Bus caller asked for also names the caller (``by uid 0 (:1.42)``,
JOURNALBAN_CALLER_UID and JOURNALBAN_CALLER_NAME). A dry
run prefixes every line with ``[dry run]`` and adds JOURNALBAN_DRY_RUN=1.
"""

from __future__ import annotations

import logging
import os
import sys
import time
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path

from journalban.agent.banlines import ban_messages
from journalban.agent.bulklog import log_lines
from journalban.agent.callers import CALLER, CommandLog
from journalban.config.durations import format_duration
from journalban.events import Ban
from journalban.jails.detector import REASONS

# The reasons a ban event names (a ban for failures, by hand or recidive says nothing more).
DETECTOR_REASONS = frozenset(REASONS) - {"failures"}

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


DRY_RUN_PREFIX = "[dry run] "


def setup_logging(level: str, *, dry_run: bool = False) -> None:
    """Log to stderr at ``level``; a dry run's every line says that it is one."""
    numeric = {"debug": 10, "info": 20, "notice": 25, "warning": 30, "error": 40}[level]
    handler = logging.StreamHandler(sys.stderr)
    # Under systemd stderr goes to the journal, which adds its own time stamp.
    fmt = (
        "%(message)s"
        if os.environ.get("JOURNAL_STREAM")
        else "%(asctime)s %(levelname)s %(message)s"
    )
    if dry_run:
        fmt = fmt.replace("%(message)s", DRY_RUN_PREFIX + "%(message)s")
    handler.setFormatter(SecondFormatter(fmt))
    # Nothing logged names its thread, process or source line: a record need not look them up.
    logging.logThreads = logging.logProcesses = logging.logMultiprocessing = False
    root = logging.getLogger("journalban")
    root.handlers[:] = [handler]
    root.setLevel(numeric)
    root.propagate = False


class SecondFormatter(logging.Formatter):
    """``logging.Formatter`` formatting the time once per second: strftime per record
    was a third of the cost of logging a ban (tens of thousands in an attack)."""

    _second = -1
    _text = ""

    def formatTime(self, record: logging.LogRecord, datefmt: str | None = None) -> str:
        if datefmt is not None:
            return super().formatTime(record, datefmt)
        second = int(record.created)
        if second != self._second:
            self._text = time.strftime(self.default_time_format, self.converter(record.created))
            self._second = second
        return f"{self._text},{int(record.msecs):03d}"  # default_msec_format


def event_message(kind: str, ban: Ban, now: float, reason: str = "") -> str:
    """The fixed text of a ban event."""
    if kind == "unban":
        return f"Unban {ban.address} in jail {ban.jail}" + (f" ({reason})" if reason else "")
    if kind == "ban":
        # The length decided (bantime, maybe increased), not what is left of
        # it a moment later: "for 2h", not "for 1h59m59s".
        length = None if ban.expires_at is None else max(0.0, ban.expires_at - ban.banned_at)
        text = f"Ban {ban.address} in jail {ban.jail} for {format_duration(length)}"
        if ban.source.startswith("fleet:"):  # a remote ban names the host it came from
            text += f" from fleet host {ban.source[6:]}"
        return text + _why(ban)
    left = None if ban.expires_at is None else max(0.0, ban.expires_at - now)
    if left is not None and left >= 3600:
        left = round(left / 60) * 60  # what is left, to the minute
    return f"Restore ban of {ban.address} in jail {ban.jail} for {format_duration(left)}{_why(ban)}"


def _why(ban: Ban) -> str:
    """`` (account: 'alice')``: a detector's reason and account (the agent's own log only)."""
    if ban.reason not in DETECTOR_REASONS:
        return ""
    return f" ({ban.reason}" + (f": {ban.account!r})" if ban.account else ")")


def counted(n: int, noun: str) -> str:
    """``1 jail``, ``2 jails``."""
    return f"{n} {noun}" if n == 1 else f"{n} {noun}s"


def jails_phrase(jails: Iterable[str], recidive: bool) -> str:
    """``2 jails (sshd, postfix), recidive fed by their bans``."""
    names = sorted(jails)
    text = counted(len(names), "jail") + (f" ({', '.join(names)})" if names else "")
    return text + (", recidive fed by their bans" if recidive else "")


def start_message(
    version: str,
    jails: Iterable[str],
    recidive: bool,
    restored: int,
    backend: str,
    dry_state: Path | None = None,
) -> str:
    """The line that says the agent runs, and with what; ``dry_state``: a dry run's state file."""
    text = (
        f"journalban {version} running: {jails_phrase(jails, recidive)}, "
        f"{counted(restored, 'ban')} restored, backend {backend}"
    )
    if dry_state is not None:
        text += (
            f"; a dry run: no firewall is changed and no action runs, and its state "
            f"({dry_state}) is kept apart from a real run's"
        )
    return text


class EventLog:
    """Writes ban events to the log and, when it can, to the journal with fields."""

    def __init__(self, sender: Sender | None = None, *, dry_run: bool = False) -> None:
        self.sender = sender
        self.dry_run = dry_run
        self.commands = CommandLog()

    def command(self, kind: str, what: str, now: float) -> None:
        """A caller's command (reload, unban_all, ...): remembered, and logged when it is a reload."""
        self.commands.record(kind, what, now)
        caller = CALLER.get()
        if kind != "reload" or caller is None:
            return
        text = f"Reloaded, as asked by {caller}"
        if self.sender is None:
            log.info(text)
            return
        try:
            self.sender(MESSAGE=text, PRIORITY="5", SYSLOG_IDENTIFIER="journalban",
                        JOURNALBAN_EVENT="reload", **caller.journal_fields())  # fmt: skip
        except OSError:
            log.info(text)

    def events(self, kind: str, bans: Sequence[Ban], now: float, reason: str = "") -> None:
        """Many events at once (a restore at start, a group's bans): one line each,
        written together (``bulklog``) when there is no journal to send fields to."""
        if self.sender is not None:
            for ban in bans:
                self.event(kind, ban, now, reason)
            return
        if kind == "ban" and CALLER.get() is None and not self.commands.holds_callers:
            # (the agent's own bans, nobody's to note: _noted's text, its rest formatted once)
            log_lines(log, logging.INFO, ban_messages(bans))
            return
        log_lines(log, logging.INFO, [self._noted(kind, ban, now, reason) for ban in bans])

    def event(self, kind: str, ban: Ban, now: float, reason: str = "") -> str:
        text = self._noted(kind, ban, now, reason)
        if self.sender is None:
            log.info(text)
            return text
        caller = CALLER.get()
        fields = {"JOURNALBAN_DRY_RUN": "1"} if self.dry_run else {}
        try:
            self.sender(
                MESSAGE=DRY_RUN_PREFIX + text if self.dry_run else text,
                PRIORITY="5",
                SYSLOG_IDENTIFIER="journalban",
                JOURNALBAN_EVENT=kind,
                JOURNALBAN_JAIL=ban.jail,
                JOURNALBAN_ADDRESS=ban.address,
                JOURNALBAN_REASON=ban.reason,
                **({"JOURNALBAN_ACCOUNT": ban.account} if ban.account else {}),
                **(caller.journal_fields() if caller is not None else {}),
                **fields,
            )
        except OSError:
            log.info(text)
        return text

    def _noted(self, kind: str, ban: Ban, now: float, reason: str) -> str:
        """The event's text, its caller named; who made the ban noted (``CommandLog``)."""
        text = event_message(kind, ban, now, reason)
        caller = CALLER.get()
        if kind not in ("ban", "unban"):
            return text
        if caller is not None or self.commands.holds_callers:
            if kind == "ban":
                self.commands.banned(ban.jail, ban.address)
            else:
                self.commands.unbanned(ban.jail, ban.address)
        return text if caller is None else f"{text} by {caller}"
