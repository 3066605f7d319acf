"""The decisions task's commits: the next group decided while the last one commits.

The store writes a group of batches in a worker thread (sqlite3 lets go of the
GIL while SQLite works), and the decisions task can decide the next group
meanwhile (``OVERLAP``: off by default, see there). A group in flight *lands*
on its own, in this order: its commit,
the bans' matched lines forgotten, the firewall changed, its news deferred (the
decisions task announces it, the calls waiting first), the jails' status told.
At most one group is in flight: the next is handed to the store once the last
has landed. A call waits for it (it sees the committed state of the batches
decided before it), and so does a stop.

A group handed over is no longer touched by the deciding: its ``BatchCommit``
lists, bans (frozen, their lines a tuple) and detector rows (tuples) are its
own, and a new ``Changes`` takes the next group's. The engine counts the bans
in flight as not yet committed (``decisions.unsaved``). A kill -9 while a group
is in flight loses nothing: its positions are written with its bans, in one
transaction, and what was decided after it is read again from the positions.
"""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import Sequence
from typing import TYPE_CHECKING

from journalban.agent.callers import CALLER
from journalban.agent.calltrace import mark, trace_log
from journalban.agent.news import News, news_of
from journalban.errors import BackendError

if TYPE_CHECKING:
    from journalban.agent.api import AgentListener
    from journalban.agent.deciding import BatchItem, CallItem
    from journalban.agent.news import NewsQueue
    from journalban.clock import Clock
    from journalban.decisions.engine import Changes, DecisionEngine
    from journalban.events import Ban
    from journalban.firewall.base import BanEntry, FirewallBackend
    from journalban.state.store import StateStore

log = logging.getLogger("journalban.agent")
# Whether the next group is decided while the last one commits. Off: measured on the
# benchmark machine (2 cores, CPython 3.11), the overlap cost 3-8% more CPU and gained
# no wall time (docs/benchmarks.md, "Deciding while the last group commits"): half of
# a commit holds the GIL (rows built, parameters bound), and the thread takes it back
# after each SQLite step while the deciding thread runs Python. With it off, each group
# lands before the next is decided, as before; the tests run both ways. Session 23's
# commit steps most of its statements in C with the GIL let go once a job (state.nativecommit:
# 1,269 GIL takes on the flood's 18 replayed commits, now 196); measured again at load 1,
# the overlap was no faster (docs/benchmarks.md, "The commit's statements stepped in C"):
# still off. JOURNALBAN_COMMIT_OVERLAP=1 (read at import) turns it on, for an A/B.
OVERLAP_ENV = "JOURNALBAN_COMMIT_OVERLAP"
OVERLAP = os.environ.get(OVERLAP_ENV) == "1"


class AgentCommitting:
    """Commits and what follows them; mixed into ``Agent`` (through ``AgentDeciding``)."""

    decisions: DecisionEngine
    store: StateStore
    backend: FirewallBackend
    clock: Clock
    degraded_reason: str
    _state: str
    _listeners: list[AgentListener]
    _queue: asyncio.Queue[BatchItem | CallItem | None]
    _news: NewsQueue
    # The group in flight (done: landed, or failed), until the decisions task settles it.
    _flight: asyncio.Task[None] | None = None
    _idle = False  # the decisions task waits for the queue

    if TYPE_CHECKING:  # provided by AgentDeciding and Agent

        def _entries(self, bans: Sequence[Ban]) -> list[BanEntry]: ...
        def _mark_waiting(self, stage: str, carried: CallItem | None = None) -> None: ...
        def _notify_status(self, jails: Sequence[str]) -> None: ...

    async def _hand_over(self, changes: Changes, touched: Sequence[str]) -> None:
        """Hand a decided group to the store once the group in flight has landed; unless
        ``OVERLAP``, wait for this one to land too."""
        await self._settle()
        self._launch(changes, touched)
        if not OVERLAP:
            await self._settle()

    def _launch(self, changes: Changes, touched: Sequence[str]) -> None:
        """Hand a decided group to the store (none in flight): it lands on its own."""
        if self._flight is not None:
            raise RuntimeError("a group is in flight: settle it first")
        self.decisions.seal()
        self._flight = asyncio.get_running_loop().create_task(self._land(changes, touched))
        self._flight.add_done_callback(self._landed)

    async def _land(self, changes: Changes, touched: Sequence[str]) -> None:
        await self._commit(changes)
        self._news.defer(await self._after_commit(changes))
        if touched:
            self._notify_status(touched)

    def _landed(self, _flight: asyncio.Task[None]) -> None:
        # Wake the decisions task if it waits for batches: news to announce, or an error.
        if self._idle and not self._queue.full():
            self._queue.put_nowait(None)

    async def _settle(self) -> None:
        """Wait for the group in flight to land.

        Raises:
            StateError: its commit failed (the decisions task stops, as it did on any
                commit it waited for).
        """
        flight = self._flight
        if flight is None:
            return
        try:
            await asyncio.shield(flight)  # cancelled (a stop): it lands on its own
        finally:
            if flight.done():
                self._flight = None

    async def _land_at_stop(self) -> None:
        """The group in flight when the agent stops: its commit, firewall and news finish."""
        flight, self._flight = self._flight, None
        if flight is None:
            return
        try:
            await flight
        except Exception as exc:  # the agent is stopping: say so, nothing more to do
            log.error("the last commit before the stop failed: %s", exc)

    async def _commit(self, changes: Changes) -> None:
        """Write ``changes`` (nothing else in flight; the engine sealed them). Raises: StateError."""
        mark("commit")
        with trace_log().timed("commit", bans=len(changes.bans), commits=len(changes.commits)):
            await asyncio.to_thread(self.store.commit, changes.commits)
        mark("committed")
        self._mark_waiting("group committed")

    async def _after_commit(self, changes: Changes) -> list[News]:
        """Forget the committed bans' lines, change the firewall; the news to tell."""
        self.decisions.forget_lines(changes.bans)
        now = self.clock.now()
        add = self._entries(changes.bans)
        remove = self._entries([b for b, _ in changes.unbans])
        if add or remove:
            try:
                started = self.clock.monotonic()
                if getattr(self.backend, "inline_apply", False):
                    self.backend.apply(add, remove, now)  # (no I/O to wait for: no hand-off)
                else:
                    await asyncio.to_thread(self.backend.apply, add, remove, now)
                for listener in list(self._listeners):  # the metrics' apply latency
                    if (applied := getattr(listener, "firewall_applied", None)) is not None:
                        applied(self.clock.monotonic() - started)
            except BackendError as exc:
                log.error(
                    "firewall refused a batch (%s); retrying on the next integrity check", exc
                )
                self._state = "degraded"
                self.degraded_reason = str(exc)
        return news_of(changes.bans, changes.unbans, now, CALLER.get())
