"""Who asked: the caller behind each manual ban, unban, reload and fleet unban.

The D-Bus layer knows the caller (the uid the bus vouches for, and the bus
name); the agent's journal entries and ``GetBanDetails`` must name it. The
call travels from the bus task into the decisions task through the agent's
queue, so the caller rides along in a context variable: the bus sets
``CALLER`` for the call, ``Agent._call`` hands it to the decisions task, and
the event log reads it when it writes the entries of that call's bans.
"""

from __future__ import annotations

import contextlib
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Final

# How many commands ``ListRecentCommands`` and ``journalban status`` show.
RECENT_COMMANDS: Final = 20


@dataclass(frozen=True, slots=True)
class Caller:
    """A D-Bus caller: the Unix uid the bus reports (None if it did not) and its bus name."""

    uid: int | None
    bus_name: str

    def journal_fields(self) -> dict[str, str]:
        fields = {"JOURNALBAN_CALLER_NAME": self.bus_name}
        if self.uid is not None:
            fields["JOURNALBAN_CALLER_UID"] = str(self.uid)
        return fields

    def __str__(self) -> str:
        who = f"uid {self.uid}" if self.uid is not None else "an unknown uid"
        return f"{who} ({self.bus_name})"


@dataclass(frozen=True, slots=True)
class CommandRecord:
    """One command a caller gave: when, what kind (ban, unban, unban_all, ...), on what."""

    at: float
    kind: str
    caller: Caller
    what: str


CALLER: ContextVar[Caller | None] = ContextVar("journalban_caller", default=None)


@contextlib.contextmanager
def calling(caller: Caller | None) -> Iterator[None]:
    """Run the body as ``caller``'s call (None: the agent's own doing)."""
    token = CALLER.set(caller)
    try:
        yield
    finally:
        CALLER.reset(token)


class CommandLog:
    """The last commands given by callers, and who made each active manual ban."""

    def __init__(self, size: int = RECENT_COMMANDS) -> None:
        self._recent: deque[CommandRecord] = deque(maxlen=size)
        self._ban_callers: dict[tuple[str, str], Caller] = {}  # (jail, address) -> caller
        # Told of each command recorded (the agent keeps them in its state: commandstore).
        self.on_record: Callable[[CommandRecord], None] | None = None

    def restore(self, records: Iterable[CommandRecord]) -> None:
        """The commands kept from before a restart, oldest first (before any new one)."""
        self._recent.extend(records)

    def record(self, kind: str, what: str, now: float) -> None:
        """Note a command of the current caller (nothing when the agent acts on its own)."""
        caller = CALLER.get()
        if caller is not None:
            record = CommandRecord(now, kind, caller, what)
            self._recent.append(record)
            if self.on_record is not None:
                self.on_record(record)

    def banned(self, jail: str, address: str) -> None:
        """A ban was made or extended: by the current caller, or by the agent (forgets)."""
        caller = CALLER.get()
        if caller is None:
            self._ban_callers.pop((jail, address), None)
        else:
            self._ban_callers[(jail, address)] = caller

    def unbanned(self, jail: str, address: str) -> None:
        self._ban_callers.pop((jail, address), None)

    @property
    def holds_callers(self) -> bool:
        """Whether a manual ban's caller is remembered (else an agent's ban forgets none)."""
        return bool(self._ban_callers)

    def ban_caller(self, jail: str, address: str) -> Caller | None:
        """Who made the active ban by hand (None: the agent, or a caller before a restart)."""
        return self._ban_callers.get((jail, address))

    def recent(self) -> list[CommandRecord]:
        """The last commands, oldest first."""
        return list(self._recent)
