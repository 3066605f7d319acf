"""Authentication results a policy service reports, turned into a jail's failures.

No log parsing: each report is one hit (failure or success) for the jail,
queued here and handed to the decisions stage in batches (at most every
``interval`` seconds, or ``batch`` hits), as a source hands its batches. The
queue is bounded: in a flood beyond ``limit`` pending reports, the newest
are dropped and counted, never memory without end.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable

from journalban.events import FAILURE, SUCCESS, Hit, LineBatch

log = logging.getLogger("journalban.enforce")

FailureSink = Callable[[str, LineBatch], Awaitable[None]]
MAX_USER = 64


def safe_text(value: object, limit: int = MAX_USER) -> str:
    """A client-supplied value fit for a line: printable, no separators, bounded."""
    text = value if isinstance(value, str) else ""
    kept = "".join(c if c.isprintable() and c not in "<>" else "?" for c in text[:limit])
    return kept + ("..." if len(text) > limit else "")


class ReportQueue:
    """Reported results of one jail, on their way to its decisions."""

    def __init__(
        self,
        jail: str,
        source: str,
        sink: FailureSink,
        now: Callable[[], float],
        *,
        interval: float = 0.2,
        batch: int = 500,
        limit: int = 20_000,
    ) -> None:
        self.jail, self.source, self.sink, self.now = jail, source, sink, now
        self.interval, self.batch, self.limit = interval, batch, limit
        self._pending: list[Hit] = []
        self._wake = asyncio.Event()
        self.sent = 0
        self.dropped = 0

    def failure(self, address: str, user: str, what: str) -> None:
        self._put(address, user, what, FAILURE)

    def success(self, address: str, user: str, what: str) -> None:
        self._put(address, user, what, SUCCESS)

    def _put(self, address: str, user: str, what: str, mark: int) -> None:
        if len(self._pending) >= self.limit:
            self.dropped += 1
            if self.dropped == 1 or self.dropped % 10_000 == 0:
                log.warning("%s: %d reports waiting; %d dropped so far (a flood)",
                            self.source, self.limit, self.dropped)  # fmt: skip
            return
        kind = "failed" if mark == FAILURE else "succeeded"
        shown = safe_text(user)
        line = f"{self.source}: authentication {kind} for user=<{shown}> rip={address} {what}"
        self._pending.append((line, address, self.now(), shown or None, mark))
        if len(self._pending) >= self.batch:
            self._wake.set()

    async def run(self) -> None:
        """Hand pending hits on, forever (cancel to stop)."""
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self.interval)
            self._wake.clear()
            while self._pending:
                hits, self._pending = self._pending[: self.batch], self._pending[self.batch :]
                self.sent += len(hits)
                batch = LineBatch(
                    source=self.source, lines=[h[0] for h in hits], position=str(self.sent),
                    prefixed=False, arrival=self.now(), hits=hits,
                )  # fmt: skip
                await self.sink(self.jail, batch)
