"""The decisions stage of ``Agent``: one task, the only writer of ban state.

It takes the sources' batches and the callers' calls from one queue (calls
first), decides, commits each group of batches in one SQLite transaction,
then changes the firewall, then announces: logs, actions, listeners. A group can
commit while the next is decided (agent.committing); calls run after it.
"""

from __future__ import annotations

import asyncio
import collections
import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from journalban import announcec
from journalban.agent.callers import CALLER, Caller, calling
from journalban.agent.calltrace import TRACE, CallTrace, mark, tracing
from journalban.agent.committing import AgentCommitting
from journalban.agent.news import News, NewsQueue, jails_of, news_runs, news_slices, tell
from journalban.agent.restoring import Restored, log_restored, restore
from journalban.agent.slicing import hit_slices
from journalban.decisions.engine import Changes
from journalban.decisions.rowbatch import collect_detector_rows
from journalban.events import Ban, LineBatch
from journalban.firewall.base import BanEntry
from journalban.firewall.entrymaker import new_entry

if TYPE_CHECKING:
    from journalban.actions.runner import ActionRunner
    from journalban.agent.api import AgentListener
    from journalban.agent.build import JailParts
    from journalban.agent.logs import EventLog
    from journalban.agent.notify import Notifier
    from journalban.clock import Clock
    from journalban.decisions.engine import DecisionEngine
    from journalban.firewall.base import FirewallBackend
    from journalban.matching.engine import LineMatcher
    from journalban.state.store import StateStore

log = logging.getLogger("journalban.agent")
QUEUE_DEPTH = 4
# Batches at most in one transaction: a backlog's sources refill the queue while the
# group is decided, so a group may hold more than the queue. Each group lands before
# the next is decided (committing.OVERLAP), and a landing costs 3-4 ms of the deciding's
# wall besides its rows: 10 rather than 5 took sshd from a file from 24 groups to 13,
# the waits for them from 82 to 66 ms and the commit thread's CPU from 58 to 50 ms.
COMMIT_BATCHES = 10
# Bans announced (log, actions, signals) between two turns of the event loop:
# a flood's thousands of bans in one commit must not keep D-Bus callers waiting.
# A ban costs about 2.5 µs here (the log line, the packed signal; it was 0.25 ms when
# the slice was 50), so a slice of 200 keeps a call waiting 0.5 ms at most; each slice
# also costs a turn of the loop, a log write and a bus write (sshd-flood in-process,
# no bus: 73 M instructions fewer than slices of 50, of 33,300 M).
ANNOUNCE_SLICE = 200


@dataclass(frozen=True, slots=True)
class BatchItem:
    jail: str
    batch: LineBatch


@dataclass(frozen=True, slots=True)
class CallItem:
    call: Callable[[], Awaitable[Any]]
    future: asyncio.Future[Any]
    caller: Caller | None = None
    trace: CallTrace | None = None


class AgentDeciding(AgentCommitting):
    """The decisions task of ``Agent``, and how calls and batches reach it."""

    decisions: DecisionEngine
    store: StateStore
    backend: FirewallBackend
    clock: Clock
    parts: dict[str, JailParts]
    runner: ActionRunner
    notifier: Notifier
    events: EventLog
    dry_run: bool
    degraded_reason: str
    _state: str
    _listeners: list[AgentListener]
    _matchers: dict[str, LineMatcher]
    _queue: asyncio.Queue[BatchItem | CallItem | None]
    _calls: collections.deque[CallItem]
    _news: NewsQueue

    if TYPE_CHECKING:  # provided by Agent

        def _notify_status(self, jails: Sequence[str]) -> None: ...
        def _status_line(self, bans: int | None = None) -> str: ...

    async def _decide_loop(self) -> None:
        while True:
            if self._flight is not None and self._flight.done():
                await self._settle()  # (a failed commit raises here)
                await self._announce_news()
            if self._calls:
                item: BatchItem | CallItem | None = self._calls.popleft()
            else:
                self._idle = True
                try:
                    item = await self._queue.get()
                finally:
                    self._idle = False
            if item is None:  # a wake-up: a call is in self._calls, or a group landed
                continue
            if isinstance(item, BatchItem):
                carried = await self._handle_batches(item)
                if carried is not None:
                    await self._run_call(carried)
                await self._announce_news()
                continue
            await self._run_call(item)

    async def _run_call(self, item: CallItem) -> None:
        await self._settle()  # a call sees the batches decided before it committed
        # A caller may have been cancelled meanwhile (the fleet's, by a reload).
        try:
            # whose bans these are, for the log; the call's stages, when traced
            with calling(item.caller), tracing(item.trace):
                mark("started")
                result = await item.call()
        except Exception as exc:  # handed to the caller
            if not item.future.done():
                item.future.set_exception(exc)
        else:
            if not item.future.done():
                item.future.set_result(result)

    async def _announce_news(self) -> None:
        """Announce the stream's committed news a slice at a time, the calls waiting first."""
        jails: set[str] = set()
        while self._news:
            while self._calls:
                await self._run_call(self._calls.popleft())
            news = self._news.take(ANNOUNCE_SLICE)
            self._announce(news)
            jails |= jails_of(news)
            await asyncio.sleep(0)  # the bus is served between slices
        if jails:
            self._notify_status(sorted(jails))
            self.notifier.status(self._status_line())

    async def _handle_batches(self, first: BatchItem) -> CallItem | None:
        """Decide on ``first`` and the batches queued behind it; commit them together.

        During a backlog the sources queue batches while a commit runs. One
        transaction for all of them writes the state's index pages once, not
        once per batch (a commit costs milliseconds); the outcome is the same,
        as the engine counts the bans decided but not yet committed. The group
        may be decided while the one before commits, and is handed to the store
        once that one has landed (``AgentCommitting``). Stops before a queued call,
        which is returned to run after the commits and before the group's bans
        are announced (left in ``_news``).
        """
        changes = Changes()
        touched: set[str] = set()
        carried: CallItem | None = None
        item: BatchItem | None = first
        taken = 0
        while item is not None:
            # (a jail removed by a reload is skipped)
            if item.jail in self.parts and await self._decide(item.jail, item.batch, changes):
                touched.add(item.jail)
            taken += 1
            item = None
            if self._calls:
                carried = self._calls.popleft()  # run after this commit, before more batches
            elif taken < COMMIT_BATCHES and not self._queue.empty():
                queued = self._queue.get_nowait()
                if isinstance(queued, CallItem):
                    carried = queued
                elif queued is not None:
                    item = queued
        self._mark_waiting("group decided", carried)
        collect_detector_rows(self.decisions, changes)
        if changes.commits:
            await self._hand_over(changes, sorted(touched))
        return carried

    async def _decide(self, jail: str, batch: LineBatch, changes: Changes) -> bool:
        """Match and decide one batch into ``changes``; True if a line matched.

        The hits are decided in slices, the bus and the other tasks running between.
        """
        found = batch.hits if batch.hits is not None else self._matchers[jail].hits(batch)
        hits = list(found)
        for part in hit_slices(batch, hits):
            changes.extend(self.decisions.process_hits(jail, part, part.hits or ()))
            await asyncio.sleep(0)
        return bool(hits)

    async def _apply(self, changes: Changes, *, defer: bool = False) -> None:
        """Commit (after the group in flight), then change the firewall, then tell everyone.

        ``defer``: leave the telling to ``_announce_news`` (so that the calls waiting
        run first).
        """
        if not changes.commits:
            return
        await self._settle()
        self.decisions.seal()
        await self._commit(changes)
        news = await self._after_commit(changes)
        if defer:
            self._news.defer(news)
            return
        self._announce(self._news.take_before(news))  # a ban's earlier news first
        for count, part in enumerate(news_slices(news, ANNOUNCE_SLICE)):
            if count:
                await asyncio.sleep(0)  # the bus is served between slices
            self._announce(part)
        if news:
            self._notify_status(sorted(jails_of(news)))
            self.notifier.status(self._status_line())

    def _announce(self, news: Sequence[News]) -> None:
        """Log, run the actions of and tell the listeners about committed bans and
        unbans, a run at a time (``news_runs``; its lines logged together, one each)."""
        for run in news_runs(news):
            bans, reason = run.bans, run.unban_reason
            # (a stream's ban announced during a call is not the caller's)
            with calling(run.caller):
                if reason is None:
                    self.events.events("ban", bans, run.at)
                else:
                    self.events.events("unban", bans, run.at, reason)
                if any(map(self._has_actions, {ban.jail for ban in bans})):
                    for ban in bans:
                        self._run_actions(ban, reason)
                for listener in list(self._listeners):
                    tell(listener, bans, reason)

    def _uses_firewall(self, jail: str) -> bool:
        part = self.parts.get(jail)
        return part is None or part.actions.firewall

    def _has_actions(self, jail: str) -> bool:
        """Whether ``jail`` runs actions on a ban (most run none: a flood's run of bans
        then calls nothing per ban)."""
        part = self.parts.get(jail)
        return part is not None and bool(part.actions.actions)

    def _run_actions(self, ban: Ban, unban_reason: str | None) -> None:
        part = self.parts.get(ban.jail)
        if part is None or not part.actions.actions:
            return
        if self.dry_run:  # a command action could change a firewall too
            verb = "ban" if unban_reason is None else "unban"
            log.info("would run the %s actions of jail %s for %s", verb, ban.jail, ban.address)
            return
        if unban_reason is None:
            self.runner.ban(ban.jail, part.actions.actions, ban)
        else:
            self.runner.unban(ban.jail, part.actions.actions, ban, unban_reason)

    def _entries(self, bans: Sequence[Ban]) -> list[BanEntry]:
        """The firewall's entries of the bans of jails that use it (each jail asked once);
        made in C where it is built (``announcec``) and ``new_entry`` is not the dataclass's
        own ``__init__`` (the layout it checked is the one C fills)."""
        uses: dict[str, bool] = {}
        native = announcec.NATIVE
        if native is not None and new_entry is not BanEntry:
            run = bans if isinstance(bans, list) else list(bans)
            entries: list[BanEntry] = native.ban_entries(run, BanEntry, uses, self._uses_firewall)
            return entries
        found = []
        for ban in bans:
            jail = ban.jail
            use = uses.get(jail)
            if use is None:
                use = uses[jail] = self._uses_firewall(jail)
            if use:
                found.append(new_entry(jail, ban.network, ban.expires_at))
        return found

    async def _restore(self, bans: Sequence[Ban]) -> None:
        await log_restored(self.events, await self._restore_quietly(bans))

    async def _restore_quietly(self, bans: Sequence[Ban], at_start: bool = False) -> Restored:
        uses = {jail: self._uses_firewall(jail) for jail in {b.jail for b in bans}}
        kept = [b for b in bans if uses[b.jail]]
        return await restore(self.backend, kept, self.clock.now(), at_start=at_start)

    async def feed(self, jail: str, batch: LineBatch) -> None:
        """Queue failures a policy service reported for ``jail``, as its source would."""
        await self._queue.put(BatchItem(jail, batch))

    def _mark_waiting(self, stage: str, carried: CallItem | None = None) -> None:
        """Stamp ``stage`` on the traced calls waiting for the decisions task."""
        for item in (carried, *self._calls):
            if item is not None and item.trace is not None:
                item.trace.mark(stage)

    async def _call(self, fn: Callable[[], Awaitable[Any]]) -> Any:
        """Run ``fn`` in the decisions task, after the batches being decided, before queued ones."""
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        mark("queued")
        self._calls.append(CallItem(fn, future, CALLER.get(), TRACE.get()))
        if not self._queue.full():  # else the decisions task is busy and looks at _calls next
            self._queue.put_nowait(None)
        return await future
