"""Counts that wait for their session's teach line (``sessions: {late: SECONDS}``).

A daemon that numbers its connections itself may log a connection's first
failure before the line naming the client: slapd logs "ACCEPT from IP=..." from
its listener thread and a bind's "RESULT ... err=49" from a worker, and the
worker can win. A filter may let a count of a session not taught yet wait
``late`` seconds; when that session's teach line comes in time, the count is
released as a failure of the address it teaches.

Only a number the daemon never hands out twice is safe for this (a connection's
number is taught by that connection only): ``parse_sessions`` allows ``late``
only when every count regex keys the session with its own ``(?P<session>...)``
group, never with a pid the system reuses. Bounded (``MAX_WAITING`` sessions,
``PER_SESSION`` counts each of at most ``MAX_TEXT`` characters, the oldest
forgotten first, and those older than ``late`` as new ones come); waiting counts
are not kept across a restart (they wait seconds).
"""

from __future__ import annotations

from collections import OrderedDict

from journalban.events import FAILURE, Hit

MAX_WAITING = 10_000
PER_SESSION = 8
MAX_LATE = 60.0
MAX_TEXT = 1024  # of a held line (it is only shown): bounds the memory held


class LateCounts:
    """Counts of untaught sessions, by session key, waiting up to ``late`` seconds."""

    def __init__(self, late: float, max_waiting: int = MAX_WAITING) -> None:
        self.late = late
        self.max_waiting = max_waiting
        self._waiting: OrderedDict[str, list[tuple[str, float, str | None]]] = OrderedDict()

    def __len__(self) -> int:
        return len(self._waiting)

    def hold(self, key: str, message: str, when: float, user: str | None) -> None:
        """Keep a count of session ``key``, which no teach line named yet."""
        waiting = self._waiting
        # The oldest first: those no teach line can release any more go.
        while waiting:
            first = next(iter(waiting.values()))
            if not first or when - first[0][1] <= self.late:
                break
            waiting.popitem(last=False)
        held = waiting.get(key)
        if held is None:
            while len(waiting) >= self.max_waiting:
                waiting.popitem(last=False)
            held = waiting[key] = []
        if len(held) < PER_SESSION:
            held.append((message[:MAX_TEXT], when, user))

    def release(self, key: str, address: str, taught: float) -> list[Hit]:
        """The counts session ``key`` held, as failures of ``address`` taught at ``taught``;
        counts older than ``late`` seconds before it are dropped."""
        held = self._waiting.pop(key, None)
        if not held:
            return []
        return [
            (message, address, when, user, FAILURE)
            for message, when, user in held
            if taught - when <= self.late
        ]
