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
import functools
import logging
import signal
from collections.abc import Callable, Sequence
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
    check_jail_actions,
    recidive_rules,
)
from journalban.agent.callerstore import BanCallers
from journalban.agent.catchup import CatchUps
from journalban.agent.chores import AgentChores
from journalban.agent.commands import AgentCommands
from journalban.agent.commandstore import CommandStore
from journalban.agent.deciding import (
    QUEUE_DEPTH,
    AgentDeciding,
    BatchItem,
    CallItem,
)
from journalban.agent.detection import AgentDetection
from journalban.agent.earlysources import close_unstarted, journal_sources_ahead, prepared_sources
from journalban.agent.enforcelink import AgentEnforcement
from journalban.agent.fleetlink import AgentFleet
from journalban.agent.linetest import LineTester
from journalban.agent.logs import EventLog, counted, journal_sender, start_message
from journalban.agent.news import NewsQueue
from journalban.agent.notify import Notifier
from journalban.agent.queries import AgentQueries
from journalban.agent.readiness import AgentReadiness, joined, stopped
from journalban.agent.reloading import AgentReloading
from journalban.agent.restoring import (
    Restored,
    StoredRestored,
    built_unless_stopped,
    collector_paused,
    keep_out_of_collections,
    log_restored,
    log_unreadable,
    restore_rows,
    set_up,
    stored_restored,
    stored_restorer,
    usable_rows,
)
from journalban.agent.sourcing import AgentSources
from journalban.clock import Clock, SystemClock
from journalban.config.loader import load_config
from journalban.config.schema import FLEET_JAIL, Config
from journalban.config.yamlsource import forget_yaml
from journalban.decisions.engine import DecisionEngine
from journalban.decisions.ignore import host_interfaces
from journalban.firewall.base import FirewallBackend, StoredBan, StoredHosts
from journalban.firewall.dryrun import DryRunBackend
from journalban.firewall.registry import create_backend
from journalban.matching.engine import LineMatcher
from journalban.matching.library import FilterLibrary, filters_dir_for
from journalban.matching.literals import forget_parses
from journalban.sources.base import Source
from journalban.sources.journal import stop_ahead
from journalban.state.banrows import BanRow, one_read, running_rows, running_stored
from journalban.state.checkpoint import Checkpointer, detach
from journalban.state.files import state_path
from journalban.state.rowcheck import readable_rows
from journalban.state.store import MEMORY, StateStore

log = logging.getLogger("journalban.agent")


class Agent(
    AgentDeciding,
    AgentReloading,
    AgentQueries,
    AgentCommands,
    AgentChores,
    AgentFleet,
    AgentEnforcement,
    AgentDetection,
    AgentReadiness,
    AgentSources,
):
    """The running agent; implements ``journalban.agent.api.AgentControl``."""

    def __init__(
        self,
        config_path: Path | None = None,
        *,
        clock: Clock | None = None,
        library: FilterLibrary | None = None,
        backend: FirewallBackend | None = None,
        bus: bool | None = None,
        readers_ahead: bool = False,
    ) -> None:
        """``readers_ahead`` (``journalban run``): start the file jails' reader children
        once the configuration is loaded, not when ``run()`` starts (``_readers_ahead``)."""
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
        self._readers_started = False
        if readers_ahead:
            self._readers_ahead()
        self.backend: FirewallBackend = backend or self._make_backend(self.config)
        self.backend_name = self.backend.name
        # A dry run keeps its state apart: its bans must never reach a real
        # firewall at the next start, nor count as ban history.
        self.dry_run = self.backend.name == DryRunBackend.name
        self.store = StateStore(state_path(self.config.state_dir, dry_run=self.dry_run))
        self._early: dict[str, list[Source]] = {}  # built before READY (agent.earlysources)
        if readers_ahead:  # the journal's reader child prepares while the agent builds on
            self._early = journal_sources_ahead(
                self.config, self.library, self.clock, self.store.positions(), self._session_rows
            )
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
        self._queue: asyncio.Queue[BatchItem | CallItem | None] = asyncio.Queue(QUEUE_DEPTH)
        # Calls wait here, ahead of queued batches: during a stream the queue is
        # full of batches, and a D-Bus Ban waited behind all of them (over a second).
        self._calls: collections.deque[CallItem] = collections.deque()
        self._news = NewsQueue()  # a group's bans, committed, announced after the calls waiting
        self._source_tasks: dict[str, list[asyncio.Task[None]]] = {}
        self._sources: dict[str, list[Source]] = {}
        self._catchups = CatchUps()  # the collector during the sources' backlogs
        self._matchers: dict[str, LineMatcher] = {}
        self._stop = asyncio.Event()
        self._group: asyncio.TaskGroup | None = None
        self.ready = asyncio.Event()
        self._serving: list[asyncio.Event] = []  # READY waits for these (agent.readiness)
        self._table_built = asyncio.Event()  # the D-Bus API serves once set (agent.readiness)
        self._told = asyncio.Event()  # READY told (agent.readiness)
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
        self._readers_ahead()  # unless started already
        bus_task = self._bus_ahead(self._bus_override)  # it connects while the bans restore
        try:
            started = await self._start()
        except BaseException:
            await stopped(bus_task)
            raise
        if started is None:  # SIGTERM before the ban table was built: nothing else started
            self.notifier.stopping()
            close_unstarted(self._early)
            await self._close()
            return
        done, ready_status = started
        self._table_built.set()  # the D-Bus API exports, owns its name, READY follows
        await asyncio.sleep(0)  # (its name asked for while the tasks below start)
        self.ready.set()
        try:
            async with asyncio.TaskGroup() as group:
                self._group = group
                group.create_task(self._after_ready(log_restored(self.events, done)))
                group.create_task(self._decide_loop())
                group.create_task(self._expiry_loop())
                if self.store.path != MEMORY:  # checkpoints off the commits (state/checkpoint.py)
                    detach(self.store.db)
                    group.create_task(self._checkpoint_loop(Checkpointer(self.store.path)))
                group.create_task(self._integrity_loop())
                group.create_task(self._resolve_loop())
                if self.notifier.watchdog_interval:
                    group.create_task(self._watchdog_loop(self.notifier.watchdog_interval))
                if bus_task is not None:
                    group.create_task(joined(bus_task))
                group.create_task(self._fleet_task())
                group.create_task(self._enforce_task())
                if metricslink.wanted(self.config, metrics_socket := metricslink.take_socket()):
                    group.create_task(
                        metricslink.run_metrics(self, self.clock, self.config, metrics_socket)
                    )
                self._start_sources()
                forget_parses()  # the filters' analyses are done: their parse trees go
                if ready_status is not None:
                    group.create_task(self._tell_ready(ready_status))
                await self._stop.wait()
                raise _Stopped
        except* _Stopped:
            pass
        finally:
            self.notifier.stopping()
            close_unstarted(self._early)
            await self._land_at_stop()  # the group committing: committed, in the firewall
            self._announce(self._news.take(len(self._news)))  # committed: log them, run actions
            for sources in self._sources.values():
                for src in sources:
                    src.close()
            await self._close()

    async def _close(self) -> None:
        """The last of a stop: actions waited for, commands and state written, closed."""
        self.runner.stop(timeout=5.0)
        await self.line_tester.aclose()
        self.command_store.flush()
        self.store.close()

    async def _start(self) -> tuple[Restored | StoredRestored, str | None] | None:
        """The start up to the "running" line: the firewall holds every ban. What the
        restore did, and READY's status line when READY waits for the serving parts
        (None: stopped while the ban table was built after READY)."""
        # pyroute2's IPRoute runs its own event loop: keep it off ours.
        self._install(self.config, await asyncio.to_thread(host_interfaces))
        # Journal reader children prepare while the firewall is set up and the bans restored.
        later = {name: part for name, part in self.parts.items() if name not in self._early}
        self._early.update(
            prepared_sources(
                later, self.config, self.clock, self.store.positions(), self._session_rows
            )
        )
        if not any(part.config.source == "journal" for part in self.parts.values()):
            stop_ahead()  # the journal reader child started ahead (cli.run) has nothing to read
        # The firewall is set up (its sets read back: netlink waits, in a thread) while the
        # bans load; the read is then fresh enough for the restore.
        restorer, rows, skipped = stored_restorer(self.backend), None, 0
        hosts: StoredHosts | None = None
        usable: Sequence[StoredBan] = ()
        table: asyncio.Future[None] | None = None
        table_first = False
        forget_yaml()  # read (config.yamlapart): out before the start freezes what is alive
        with contextlib.ExitStack() as reading:
            with collector_paused(freeze=True):
                setup = asyncio.get_running_loop().run_in_executor(
                    None, self.backend.setup, self._all_rules()
                )
                if restorer is None:
                    skipped = readable_rows(running_stored(self.store.db, self.clock.now()))[1]
                    restored = self.decisions.load_bans()
                else:  # read once: the firewall is given them, the ban table built of them
                    reading.enter_context(one_read(self.store.db))
                    rows = running_rows(self.store.db, self.clock.now())
                    hosts, usable, skipped = usable_rows(rows)
                    if table_first := self._serves(self._bus_override):
                        # READY waits for the ban table (the serving parts answer from it):
                        # it is built in a thread of its own while the firewall is set up
                        # (a restart's read of 100,000 elements back is the kernel's work)
                        # and takes the bans.
                        table = asyncio.ensure_future(
                            asyncio.to_thread(self._table_of, rows, hosts)
                        )
                await set_up(setup, table)
                if self.dry_run and self.config.fleet is not None:
                    log.warning("a dry run does not join fleet %s: what it published would be "
                                "real bans on the other hosts", self.config.fleet.name)  # fmt: skip
                else:
                    self._fleet_prepare()
                done: Restored | StoredRestored
                if restorer is None or rows is None:
                    done = await self._restore_quietly(restored, at_start=True)
                    count = len(restored)
                else:
                    now = self.clock.now()
                    restoring = restore_rows(restorer, usable, self._uses_firewall, now)
                    if table is not None:
                        report, _ = await asyncio.gather(restoring, table)
                    else:
                        report = await restoring
                    count = len(usable)
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
            log_unreadable(skipped)
            # READY now, or once the D-Bus API and the enforcement points serve (readiness)
            status = self._status_line(count)
            ready_status: str | None = None  # told once they serve (_tell_ready)
            if self._serves(self._bus_override):
                ready_status = status
            else:
                self.notifier.ready(status)
                self._told.set()
            log.info(
                "%s",
                start_message(
                    self.version, self.parts, self.config.recidive.enabled, count,
                    self.backend.name, self.store.path if self.dry_run else None,
                ),
            )  # fmt: skip
            if rows is not None:  # (a large table outlasts a short WatchdogSec=: pinged)
                with collector_paused(freeze=True), self.notifier.pinging():
                    if not table_first and not await built_unless_stopped(
                        functools.partial(self.decisions.load_bans, rows, hosts), self._stop
                    ):
                        return None  # stopped first: the firewall and the state hold them
                    done = stored_restored(self.decisions.bans, report, now)
        return done, ready_status

    def stop(self) -> None:
        self._stop.set()

    def _table_of(self, rows: Sequence[BanRow], hosts: StoredHosts | None) -> None:
        """The ban table built of ``rows`` (in a thread, beside the netlink restore), and
        its count of prefixes, which the D-Bus API's export reads before READY."""
        self.decisions.load_bans(rows, hosts)
        _ = self.decisions.bans.prefixes

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


class _Stopped(Exception):
    pass
