"""Deciding the next group of batches while the last one commits.

During a backlog the decisions task decides a group of batches (up to
``COMMIT_BATCHES``), commits it in one transaction in a thread, and used to
wait for that commit before deciding the next group: on a flood of bans the
commit (bans, history, detector rows) is a third of the agent's time, and a
second core sat idle meanwhile. Now the commit runs while the next group is
decided; it *lands* (the firewall changed, its bans forgotten from memory's
lines, its news queued) as soon as it is done and the decisions task is
between two slices of failures, or waits for nothing. What stays exactly as
before:

- Nothing is in the firewall, announced or acknowledged before its commit:
  a group lands only after its transaction is durable, and a call (a D-Bus
  ban, a reload, an expiry) runs only once the commit running has landed, so
  a call's commit never runs beside it nor between its decisions and its rows.
- One commit at a time, in order: a group is committed only after the one
  before it has landed. A kill -9 leaves the state at the end of a group,
  its positions and bans together, as before; the next group's decisions
  were in memory only, and are made again from the positions after a restart.
- The same decisions: a ban's history is read from a snapshot taken before
  the running commit started, and the bans not in that snapshot are counted
  from memory (decisions/unsaved.py), so each earlier ban is counted once.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import TYPE_CHECKING

from journalban.state.store import MEMORY

if TYPE_CHECKING:
    from journalban.agent.deciding import BatchItem, CallItem
    from journalban.decisions.engine import Changes, DecisionEngine
    from journalban.state.store import StateStore


@dataclass(slots=True)
class InFlight:
    """A group's commit running in a thread, and what it changes."""

    changes: Changes
    future: asyncio.Future[None]


def _retrieved(future: asyncio.Future[None]) -> None:
    """Take a failed commit's exception (raised where it lands) off the loop's report."""
    if not future.cancelled():
        future.exception()


class CommitOverlap:
    """The running commit of ``AgentDeciding`` (a mixin of ``Agent``)."""

    decisions: DecisionEngine
    store: StateStore
    _queue: asyncio.Queue[BatchItem | CallItem | None]
    _inflight: InFlight | None = None

    if TYPE_CHECKING:  # provided by AgentDeciding

        async def _after_commit(self, changes: Changes, *, defer: bool = False) -> None: ...

    def _can_overlap(self, changes: Changes) -> bool:
        return bool(changes.commits) and self.store.path != MEMORY

    def _launch(self, changes: Changes) -> None:
        """Start committing ``changes`` in a thread (none may be running)."""
        self.decisions.unsaved.committing()
        future = asyncio.ensure_future(asyncio.to_thread(self.store.commit, changes.commits))
        future.add_done_callback(_retrieved)
        self._inflight = InFlight(changes, future)

    async def _land(self) -> None:
        """Wait for the running commit, if any, then change the firewall and queue its news.

        Raises: StateError, as the commit would have where it was awaited.
        """
        flight = self._inflight
        if flight is None:
            return
        await flight.future
        self._inflight = None
        self.decisions.unsaved.landed()
        await self._after_commit(flight.changes, defer=True)

    async def _land_if_done(self) -> None:
        """Land the running commit if it is done (between two slices of a group)."""
        if self._inflight is not None and self._inflight.future.done():
            await self._land()

    async def _next_item(self) -> BatchItem | CallItem | None:
        """The next queued item; while a commit runs and nothing is queued, whichever comes
        first: an item, or the commit's end (it lands, and None is returned)."""
        flight = self._inflight
        if flight is None or not self._queue.empty():
            return await self._queue.get()
        getter = asyncio.ensure_future(self._queue.get())
        try:
            await asyncio.wait((getter, flight.future), return_when=asyncio.FIRST_COMPLETED)
        finally:
            if not getter.done():
                # An item put meanwhile stays queued: Queue.get takes it only once it
                # resumes, and a cancelled getter passes the wake-up on.
                getter.cancel()
        if getter.done():
            return getter.result()
        await self._land()
        return None
