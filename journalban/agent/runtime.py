"""The long-running agent: one asyncio event loop, stages as tasks.

Sources read batches; the decisions task (the only writer of ban state)
matches them, decides, commits each batch's position, counters and bans in
one SQLite transaction, and only then changes the firewall. A kill -9 at
any point therefore loses no line, failure or ban and counts nothing twice.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import logging
import signal
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from journalban import __version__
from journalban.actions.runner import ActionRunner
from journalban.addresses import IPNetwork
from journalban.agent import metricslink
from journalban.agent.api import AgentListener
from journalban.agent.build import (
    JailParts,
    build_jails,
    build_sources,
    check_jail_actions,
    recidive_rules,
)
from journalban.agent.callers import CALLER, Caller, calling
from journalban.agent.callerstore import BanCallers
from journalban.agent.calltrace import TRACE, CallTrace, mark, trace_log, tracing
from journalban.agent.chores import AgentChores
from journalban.agent.commands import AgentCommands
from journalban.agent.commandstore import CommandStore
from journalban.agent.detection import AgentDetection
from journalban.agent.enforcelink import AgentEnforcement
from journalban.agent.fleetlink import AgentFleet
from journalban.agent.linetest import LineTester
from journalban.agent.logs import EventLog, counted, jails_phrase, journal_sender, start_message
from journalban.agent.news import News, NewsQueue, news_of
from journalban.agent.notify import Notifier
from journalban.agent.queries import AgentQueries
from journalban.agent.restoring import (
    Restored,
    StoredRestored,
    collector_paused,
    keep_out_of_collections,
    log_restored,
    restore,
    restore_rows,
    stored_restored,
    stored_restorer,
)
from journalban.agent.slicing import hit_slices
from journalban.clock import Clock, SystemClock
from journalban.config.fleet import FLEET_JAIL
from journalban.config.loader import load_config
from journalban.config.schema import Config, JailConfig
from journalban.decisions.engine import RECIDIVE, Changes, DecisionEngine
from journalban.decisions.ignore import host_interfaces
from journalban.decisions.rowbatch import collect_detector_rows
from journalban.errors import BackendError, ConfigError, JournalbanError, all_errors
from journalban.events import Ban, LineBatch
from journalban.firewall.base import BanEntry, FirewallBackend
from journalban.firewall.dryrun import DryRunBackend
from journalban.firewall.registry import create_backend
from journalban.matching.engine import LineMatcher
from journalban.matching.filterdef import FilterDef
from journalban.matching.library import FilterLibrary, filters_dir_for
from journalban.sources.base import Source
from journalban.state.banrows import one_read, running_stored
from journalban.state.checkpoint import Checkpointer, detach
from journalban.state.files import state_path
from journalban.state.store import MEMORY, StateStore

log = logging.getLogger("journalban.agent")
QUEUE_DEPTH = 4
COMMIT_BATCHES = QUEUE_DEPTH + 1  # batches at most in one transaction
SOURCE_RETRY = 5.0
# Bans announced (log, actions, signals) between two turns of the event loop:
# a flood's thousands of bans in one commit must not keep D-Bus callers waiting
# (a ban costs about 0.25 ms here: the signal, the GetBans order, the log).
ANNOUNCE_SLICE = 50


class Agent(AgentQueries, AgentCommands, AgentChores, AgentFleet, AgentEnforcement, AgentDetection):
    """The running agent; implements ``journalban.agent.api.AgentControl``."""

    def __init__(
        self,
        config_path: Path | None = None,
        *,
        clock: Clock | None = None,
        library: FilterLibrary | None = None,
        backend: FirewallBackend | None = None,
        bus: bool | None = None,
    ) -> None:
        self.config_path = config_path
        self.clock = clock or SystemClock()
        self.library = library or FilterLibrary(filters_dir_for(config_path))
        self.version = __version__
        self.started_at = self.clock.now()
        self._state = "starting"
        self._backend_override = backend
        self._bus_override = bus
        self.config: Config = load_config(
            config_path, check_filter=self.library.check, check_actions=check_jail_actions
        )
        self.backend: FirewallBackend = backend or self._make_backend(self.config)
        self.backend_name = self.backend.name
        # A dry run keeps its state apart: its bans must never reach a real
        # firewall at the next start, nor count as ban history.
        self.dry_run = self.backend.name == DryRunBackend.name
        self.store = StateStore(state_path(self.config.state_dir, dry_run=self.dry_run))
        self.ban_callers = BanCallers(self.store.db)  # who made manual bans, across restarts
        self.store.writers.append(self.ban_callers)
        self.decisions = DecisionEngine(
            self.store, self.clock, self.config.recidive, check_prefix=self._check_prefix
        )
        self.events = EventLog(journal_sender(), dry_run=self.dry_run)
        self.command_store = CommandStore(self.store)  # the last commands, across restarts
        self.events.commands.restore(self.command_store.load())
        self.events.commands.on_record = self.command_store.recorded
        self.notifier = Notifier()
        self.runner = ActionRunner(clock=self.clock)
        self.line_tester = LineTester(self.clock)
        self.parts: dict[str, JailParts] = {}
        self._listeners: list[AgentListener] = []
        self._queue: asyncio.Queue[_BatchItem | _CallItem | None] = asyncio.Queue(QUEUE_DEPTH)
        # Calls wait here, ahead of queued batches: during a stream the queue is
        # full of batches, and a D-Bus Ban waited behind all of them (over a second).
        self._calls: collections.deque[_CallItem] = collections.deque()
        self._news = NewsQueue()  # a group's bans, committed, announced after the calls waiting
        self._source_tasks: dict[str, list[asyncio.Task[None]]] = {}
        self._sources: dict[str, list[Source]] = {}
        self._matchers: dict[str, LineMatcher] = {}
        self._stop = asyncio.Event()
        self._group: asyncio.TaskGroup | None = None
        self.ready = asyncio.Event()
        self.degraded_reason = ""

    # --- life cycle ------------------------------------------------------------

    @staticmethod
    def _make_backend(config: Config) -> FirewallBackend:
        fw = config.firewall
        settings: dict[str, object] = dict(fw.settings)
        if fw.backend == "nftables":
            settings.update(
                hook=fw.hook, priority=fw.priority, verdict=fw.verdict,
                min_prefix_v4=fw.min_prefix_v4, min_prefix_v6=fw.min_prefix_v6,
            )  # fmt: skip
        return create_backend(fw.backend, settings, Path(config.state_dir))

    def _install(self, config: Config, interfaces: Sequence[tuple[IPNetwork, IPNetwork]]) -> None:
        parts = build_jails(
            config, self.library, self.clock, interfaces, self.store.known_hostnames()
        )
        self.config, self.parts = config, parts
        self.decisions.recidive = config.recidive
        self.decisions.configure(
            {n: p.config for n, p in parts.items()}, {n: p.ignore for n, p in parts.items()}
        )
        self._matchers = {n: p.matcher(self.clock) for n, p in parts.items()}
        self.line_tester.forget()

    def _all_rules(self) -> list[Any]:
        rules = [p.rules for p in self.parts.values()]
        if self.config.recidive.enabled:
            rules.append(recidive_rules())
        if self.config.fleet is not None and self.config.fleet.remote_all_ports:
            rules.append(recidive_rules(FLEET_JAIL))
        return rules

    async def run(self) -> None:
        """Run until SIGTERM/SIGINT (or ``stop()``)."""
        # pyroute2's IPRoute runs its own event loop: keep it off ours.
        self._install(self.config, await asyncio.to_thread(host_interfaces))
        # The firewall is set up (its sets read back: netlink waits, in a thread) while the
        # bans load; the read is then fresh enough for the restore.
        restorer, rows = stored_restorer(self.backend), None
        with contextlib.ExitStack() as reading:
            with collector_paused(freeze=True):
                setup = asyncio.get_running_loop().run_in_executor(
                    None, self.backend.setup, self._all_rules()
                )
                if restorer is None:
                    restored = self.decisions.load_bans()
                else:  # the bans themselves are read after READY, in the same read
                    reading.enter_context(one_read(self.store.db))
                    rows = running_stored(self.store.db, self.clock.now())
                await setup
            if self.dry_run and self.config.fleet is not None:
                log.warning("a dry run does not join fleet %s: what it published would be real "
                            "bans on the other hosts", self.config.fleet.name)  # fmt: skip
            else:
                self._fleet_prepare()
            done: Restored | StoredRestored
            if restorer is None or rows is None:
                done = await self._restore_quietly(restored, at_start=True)
                count = len(restored)
            else:
                now = self.clock.now()
                report = await restore_rows(restorer, rows, self._uses_firewall, now)
                count = len(rows)
            keep_out_of_collections()
            # Before READY and the "running" line: a signal sent once they are seen must
            # not meet the default action (death). It waits for the loop's next turn,
            # after the ban table.
            loop = asyncio.get_running_loop()
            with contextlib.suppress(NotImplementedError, RuntimeError):
                loop.add_signal_handler(signal.SIGTERM, self.stop)
                loop.add_signal_handler(signal.SIGINT, self.stop)
                loop.add_signal_handler(
                    signal.SIGHUP, lambda: asyncio.ensure_future(self._reload_logged())
                )
            self._state = "running"
            self.notifier.ready(self._status_line(count))
            log.info(
                "%s",
                start_message(
                    self.version, self.parts, self.config.recidive.enabled, count,
                    self.backend.name, self.store.path if self.dry_run else None,
                ),
            )  # fmt: skip
            if rows is not None:
                with collector_paused(freeze=True):
                    self.decisions.load_bans()
                    done = stored_restored(self.decisions.bans.by_text, report, now)
        self.ready.set()
        try:
            async with asyncio.TaskGroup() as group:
                self._group = group
                group.create_task(log_restored(self.events, done))
                group.create_task(self._decide_loop())
                group.create_task(self._expiry_loop())
                if self.store.path != MEMORY:  # checkpoints off the commits (state/checkpoint.py)
                    detach(self.store.db)
                    group.create_task(self._checkpoint_loop(Checkpointer(self.store.path)))
                group.create_task(self._integrity_loop())
                group.create_task(self._resolve_loop())
                if self.notifier.watchdog_interval:
                    group.create_task(self._watchdog_loop(self.notifier.watchdog_interval))
                if self._bus_override if self._bus_override is not None else self.config.bus:
                    group.create_task(self._bus_task())
                group.create_task(self._fleet_task())
                group.create_task(self._enforce_task())
                if metricslink.wanted(self.config, metrics_socket := metricslink.take_socket()):
                    group.create_task(
                        metricslink.run_metrics(self, self.clock, self.config, metrics_socket)
                    )
                self._start_sources()
                await self._stop.wait()
                raise _Stopped
        except* _Stopped:
            pass
        finally:
            self.notifier.stopping()
            self._announce(self._news.take(len(self._news)))  # committed: log them, run actions
            for sources in self._sources.values():
                for src in sources:
                    src.close()
            self.runner.stop(timeout=5.0)
            await self.line_tester.aclose()
            self.command_store.flush()
            self.store.close()

    def stop(self) -> None:
        self._stop.set()

    async def _bus_task(self) -> None:
        try:
            from journalban.bus.service import run_bus_service
        except ImportError as exc:  # pragma: no cover
            log.warning("D-Bus control unavailable: %s", exc)
            return
        await run_bus_service(self)

    def _start_sources(self) -> None:
        if self._group is None:
            return
        positions = self.store.positions()
        for name, part in self.parts.items():
            if name in self._source_tasks:
                continue
            sources = build_sources(
                part, self.config, self.clock, positions, self._session_rows(name)
            )
            self._sources[name] = sources
            self._source_tasks[name] = [
                self._group.create_task(self._read(name, src)) for src in sources
            ]

    def _session_rows(self, jail: str) -> list[tuple[str, str]]:
        from journalban.decisions.engine import SESSIONS
        from journalban.state.detection import read_rows

        return read_rows(self.store.db, jail).get(SESSIONS, [])

    def _stop_sources(self, names: Sequence[str]) -> None:
        for name in names:
            for task in self._source_tasks.pop(name, []):
                task.cancel()
            for src in self._sources.pop(name, []):
                src.close()

    async def _read(self, jail: str, source: Source) -> None:
        """Hand a source's batches to the decisions task; restart the source if it fails."""
        while True:
            try:
                async for batch in source.batches():
                    await self._queue.put(_BatchItem(jail, batch))
                return
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("source %s of jail %s failed; restarting it", source.key, jail)
                self._state = "degraded"
                self.degraded_reason = f"source {source.key} of {jail} failed"
            await asyncio.sleep(SOURCE_RETRY)
            # Let the batches already queued be committed, then resume from there.
            await self._call(_nothing)
            source.close()
            part = self.parts.get(jail)
            if part is None:
                return
            fresh = [
                s
                for s in build_sources(
                    part, self.config, self.clock, self.store.positions(), self._session_rows(jail)
                )
                if s.key == source.key
            ]
            if not fresh:
                return
            source = fresh[0]
            self._sources[jail] = [s for s in self._sources.get(jail, []) if s.key != source.key]
            self._sources[jail].append(source)
            if self._state == "degraded" and self.degraded_reason.startswith("source"):
                self._state = "running"

    # --- the decisions stage ---------------------------------------------------

    async def _decide_loop(self) -> None:
        while True:
            item = self._calls.popleft() if self._calls else await self._queue.get()
            if item is None:  # a call's wake-up: it is in self._calls
                continue
            if isinstance(item, _BatchItem):
                carried = await self._handle_batches(item)
                if carried is not None:
                    await self._run_call(carried)
                await self._announce_news()
                continue
            await self._run_call(item)

    async def _run_call(self, item: _CallItem) -> None:
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
            jails.update(item.ban.jail for item in news)
            await asyncio.sleep(0)  # the bus is served between slices
        if jails:
            self._notify_status(sorted(jails))
            self.notifier.status(self._status_line())

    async def _handle_batches(self, first: _BatchItem) -> _CallItem | None:
        """Decide on ``first`` and the batches queued behind it; commit them together.

        During a backlog the sources queue batches while a commit runs. One
        transaction for all of them writes the state's index pages once, not
        once per batch (a commit costs milliseconds); the outcome is the same,
        as the engine counts the bans decided but not yet committed. Stops
        before a queued call, which is returned to run after the commit and
        before the group's bans are announced (left in ``_news``).
        """
        changes = Changes()
        touched: set[str] = set()
        carried: _CallItem | None = None
        item: _BatchItem | None = first
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
                if isinstance(queued, _CallItem):
                    carried = queued
                elif queued is not None:
                    item = queued
        self._mark_waiting("group decided", carried)
        collect_detector_rows(self.decisions, changes)
        await self._apply(changes, defer=True)
        if touched:
            self._notify_status(sorted(touched))
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
        """Commit, then change the firewall, then tell everyone.

        ``defer``: leave the telling to ``_announce_news`` (a group of batches, so
        that the calls waiting run first).
        """
        if not changes.commits:
            return
        mark("commit")
        with trace_log().timed("commit", bans=len(changes.bans), commits=len(changes.commits)):
            await asyncio.to_thread(self.store.commit, changes.commits)
        mark("committed")
        self._mark_waiting("group committed")
        self.decisions.forget_lines(changes.bans)
        now = self.clock.now()
        add = [self._entry(b) for b in changes.bans if self._uses_firewall(b.jail)]
        remove = [self._entry(b) for b, _ in changes.unbans if self._uses_firewall(b.jail)]
        if add or remove:
            try:
                started = self.clock.monotonic()
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
        news = news_of(changes.bans, changes.unbans, now, CALLER.get())
        if defer:
            self._news.defer(news)
            return
        self._announce(self._news.take_before(news))  # a ban's earlier news first
        for start in range(0, len(news), ANNOUNCE_SLICE):
            if start:
                await asyncio.sleep(0)  # the bus is served between slices
            self._announce(news[start : start + ANNOUNCE_SLICE])
        if news:
            self._notify_status(sorted({item.ban.jail for item in news}))
            self.notifier.status(self._status_line())

    def _announce(self, news: Sequence[News]) -> None:
        """Log, run the actions of and tell the listeners about committed bans and unbans."""
        for item in news:
            ban, reason = item.ban, item.unban_reason
            with calling(item.caller):  # a stream's ban announced during a call is not the caller's
                if reason is None:
                    self.events.event("ban", ban, item.at)
                else:
                    self.events.event("unban", ban, item.at, reason)
                self._run_actions(ban, reason)
                for listener in list(self._listeners):
                    if reason is None:
                        listener.banned(ban)
                    else:
                        listener.unbanned(ban, reason)

    def _uses_firewall(self, jail: str) -> bool:
        part = self.parts.get(jail)
        return part is None or part.actions.firewall

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

    @staticmethod
    def _entry(ban: Ban) -> BanEntry:
        return BanEntry(ban.jail, ban.network, ban.expires_at)

    async def _restore(self, bans: Sequence[Ban]) -> None:
        await log_restored(self.events, await self._restore_quietly(bans))

    async def _restore_quietly(self, bans: Sequence[Ban], at_start: bool = False) -> Restored:
        uses = {jail: self._uses_firewall(jail) for jail in {b.jail for b in bans}}
        kept = [b for b in bans if uses[b.jail]]
        return await restore(self.backend, kept, self.clock.now(), at_start=at_start)

    async def feed(self, jail: str, batch: LineBatch) -> None:
        """Queue failures a policy service reported for ``jail``, as its source would."""
        await self._queue.put(_BatchItem(jail, batch))

    def _mark_waiting(self, stage: str, carried: _CallItem | None = None) -> None:
        """Stamp ``stage`` on the traced calls waiting for the decisions task."""
        for item in (carried, *self._calls):
            if item is not None and item.trace is not None:
                item.trace.mark(stage)

    async def _call(self, fn: Callable[[], Awaitable[Any]]) -> Any:
        """Run ``fn`` in the decisions task, after the batches being decided, before queued ones."""
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        mark("queued")
        self._calls.append(_CallItem(fn, future, CALLER.get(), TRACE.get()))
        if not self._queue.full():  # else the decisions task is busy and looks at _calls next
            self._queue.put_nowait(None)
        return await future

    # --- reload ----------------------------------------------------------------

    async def _reload_logged(self) -> None:
        with contextlib.suppress(JournalbanError):  # reload() logged it
            await self.reload()

    async def reload(self) -> None:
        """Read the configuration again and swap it in; a broken one changes nothing.

        A failure is logged here, whoever asked (SIGHUP, D-Bus).

        Raises:
            ConfigError: the new configuration is invalid (the old one keeps running).
        """
        try:
            await self._reload()
            self.events.command("reload", "", self.clock.now())
        except ConfigError as exc:
            for error in all_errors(exc):
                log.error("reload failed, keeping the running configuration: %s", error)
            raise
        except JournalbanError as exc:
            log.error("reload failed, keeping the running configuration: %s", exc)
            raise

    async def _reload(self) -> None:
        self.notifier.reloading()
        previous = self._state
        self._state = "reloading"
        try:
            config = await asyncio.to_thread(
                load_config,
                self.config_path,
                check_filter=self.library.check,
                check_actions=check_jail_actions,
            )
            await self._call(lambda: self._swap(config))
            await self._fleet_reload()
        finally:
            self._state = previous if previous != "reloading" else "running"
            self.notifier.ready(self._status_line())
        for listener in list(self._listeners):
            listener.reloaded()

    async def _swap(self, config: Config) -> None:
        # A jail's reader children match with the filter they loaded: an edited
        # filter file restarts them too (from the committed position).
        def read_with(name: str) -> tuple[JailConfig, FilterDef] | None:
            part = self.parts.get(name)
            return None if part is None else (part.config, part.compiled.fdef)

        old = {n: read_with(n) for n in self.parts}
        if config.firewall.backend != self.config.firewall.backend:
            # Above all from dry-run to a real one: no ban would reach the firewall.
            log.warning("firewall.backend changed from %s to %s: it takes a restart "
                        "(systemctl restart journalban); until then the agent goes on with %s",
                        self.config.firewall.backend, config.firewall.backend, self.backend.name)  # fmt: skip
        self._install(config, await asyncio.to_thread(host_interfaces))
        changed = [n for n in old if read_with(n) != old[n]]
        self._stop_sources(changed)
        await asyncio.to_thread(self.backend.setup, self._all_rules())
        # The fleet's all-ports jail is the fleet link's (it lifts those bans
        # itself when the reload drops its rules); recidive's bans go with it.
        kept = {FLEET_JAIL} | ({RECIDIVE} if self.config.recidive.enabled else set())
        gone = [b for b in self.decisions.list_bans() if b.jail not in self.parts.keys() | kept]
        if gone:
            await self._apply(self.decisions._lift(gone, "flush"))
        self._start_sources()
        log.info(
            "configuration reloaded: %s", jails_phrase(self.parts, self.config.recidive.enabled)
        )

    # --- AgentControl ------------------------------------------------------------

    @property
    def state(self) -> str:
        return self._state

    def _status_line(self, bans: int | None = None) -> str:
        """``bans``: their number, before the ban table holds them (the start)."""
        bans = len(self.decisions.bans) if bans is None else bans
        line = f"{counted(len(self.parts), 'jail')}, {counted(bans, 'ban')}"
        return line + (" (dry run: nothing banned in the firewall)" if self.dry_run else "")

    def subscribe(self, listener: AgentListener) -> Callable[[], None]:
        self._listeners.append(listener)
        return lambda: self._listeners.remove(listener) if listener in self._listeners else None

    def _notify_status(self, jails: Sequence[str]) -> None:
        for listener in list(self._listeners):
            listener.status_changed(jails)


async def _nothing() -> None:
    return None


class _Stopped(Exception):
    pass


@dataclass(frozen=True, slots=True)
class _BatchItem:
    jail: str
    batch: LineBatch


@dataclass(frozen=True, slots=True)
class _CallItem:
    call: Callable[[], Awaitable[Any]]
    future: asyncio.Future[Any]
    caller: Caller | None = None
    trace: CallTrace | None = None
