"""Turning failures into ban decisions: the one writer of ban state.

For each batch it counts the matched failures in the jail's counter, bans at
``maxretry`` (from the time of the failure that tipped it: a ban decided
while catching up a backlog is skipped if it would already have expired),
feeds the built-in ``recidive`` jail with its own decisions, and returns one
``BatchCommit`` for the state plus the bans to put into the firewall, which
the agent does only after the commit.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence

from journalban.addresses import IPNetwork
from journalban.clock import Clock
from journalban.config.schema import JailConfig, RecidiveConfig
from journalban.decisions import hitloop, trace
from journalban.decisions.banning import RECIDIVE
from journalban.decisions.crowd import CrowdDeciding
from journalban.decisions.detecting import JailDetection
from journalban.decisions.firstban import FirstBans
from journalban.decisions.forgetting import forget_committed_lines, unspent_failures
from journalban.decisions.ignore import IgnoreList
from journalban.decisions.manual import ManualBanning
from journalban.decisions.reading import BanReading
from journalban.decisions.runtime import BanTable, Changes, JailRuntime
from journalban.decisions.unsaved import UnsavedBans
from journalban.decisions.virtual import VirtualBans
from journalban.errors import NoSuchJail, NotBanned
from journalban.events import Ban, Hit, LineBatch
from journalban.jails.counter import FailureCounter
from journalban.matching.engine import Outcome, outcome_hits
from journalban.state import detection
from journalban.state.detectorlog import add_rows
from journalban.state.store import BatchCommit, StateStore

SESSIONS = "sessions"  # the session table's rows among the detector rows (matching.sessions)

__all__ = ["RECIDIVE", "BanTable", "Changes", "DecisionEngine", "JailRuntime"]


class DecisionEngine(CrowdDeciding, BanReading, ManualBanning):
    """Ban state for all jails; every change goes through here.

    Deciding a ban (its length, recidive, detectors' verdicts) is in ``decisions.banning``
    and ``decisions.crowd``, reading in ``decisions.reading``, by hand in ``decisions.manual``.
    """

    def __init__(
        self,
        store: StateStore,
        clock: Clock,
        recidive: RecidiveConfig,
        *,
        check_prefix: Callable[[IPNetwork], None] | None = None,
    ) -> None:
        self.store, self.clock, self.recidive = store, clock, recidive
        self.jails: dict[str, JailRuntime] = {}
        self.bans = BanTable()
        # Bans skipped while catching up, or lifted before the lines read passed their end.
        self._virtual = VirtualBans()
        self._check_prefix = check_prefix
        # Automatic bans decided whose commit is still to come (the agent commits a group of
        # batches in one transaction, and decides the next while it runs): decisions.unsaved.
        self._unsaved = UnsavedBans(store.commit_count)
        self._decided: list[tuple[str, str, float]] = []
        self._first = FirstBans()
        self._sorted: list[Ban] = []
        self._sorted_key: tuple[int, str | None] = (-1, None)

    # --- set-up --------------------------------------------------------------

    def configure(self, jails: Mapping[str, JailConfig], ignores: Mapping[str, IgnoreList]) -> None:
        """Install (or swap, on reload) the jails; counters of unchanged jails survive."""
        counters = self.store.counters()
        new: dict[str, JailRuntime] = {}
        for name, cfg in jails.items():
            old = self.jails.get(name)
            if old is not None and (old.config.maxretry, old.config.findtime) == (
                cfg.maxretry,
                cfg.findtime,
            ):
                same_detectors = old.config.detectors == cfg.detectors
                old.config, old.ignore = cfg, ignores[name]
                old.networks.clear()  # ipv6_prefix may have changed
                old.counter.max_tracked = old.recent_lines.max_networks = cfg.max_tracked
                if not same_detectors:
                    old.detection = self._detection(cfg)
                new[name] = old
                continue
            rt = JailRuntime(
                cfg, FailureCounter(cfg.maxretry, cfg.findtime, cfg.max_tracked), ignores[name]
            )
            rt.counter.restore(self.store.pending_failures(name))
            rt.total_failed, rt.total_banned = counters.get(name, (0, 0))
            rt.detection = self._detection(cfg)
            new[name] = rt
        self.jails = new

    def _detection(self, cfg: JailConfig) -> JailDetection | None:
        """A jail's detectors, restored from the state (None: it has none)."""
        if not cfg.detectors.any:
            return None
        found = JailDetection(cfg.detectors, cfg.max_tracked)
        found.restore(detection.read_rows(self.store.db, cfg.name), self.clock.now(), cfg.name)
        return found

    # --- failures ------------------------------------------------------------

    def process(self, jail: str, batch: LineBatch, outcomes: Iterable[Outcome]) -> Changes:
        """Count a batch's failures given as the matcher's outcomes (see ``process_hits``)."""
        return self.process_hits(jail, batch, outcome_hits(outcomes, batch.lines, batch.times))

    def process_hits(self, jail: str, batch: LineBatch, hits: Iterable[Hit]) -> Changes:
        """Count a batch's failures; the changes to commit and apply.

        ``hits``: (line, address text, the line's time or None) of each failure,
        in the order of the lines; an address text that is not a valid address
        counts nothing.
        """
        rt = self.jails[jail]
        now = self.clock.now()
        self._unsaved.catch_up(self.store.commit_count)
        self._decided.clear()
        commit = BatchCommit(jail=jail, source=batch.source, position=batch.position)
        changes = Changes(commits=[commit])
        rt.count_lines(batch)
        rt.check_networks(batch.addresses)
        default_time = min(batch.arrival or now, now)
        virtual = self._virtual.of(jail)  # network text -> (since, until): banning.VirtualBans
        banned = self.bans.texts_of(jail)
        spent: dict[str, int] = {}  # network cleared by a ban -> its failures written before it
        # (each failure's memo lookups, checks, count and verdicts: decisions.hitloop, in C)
        failed, latest = hitloop.count_hits(self, rt, jail, batch.source, hits, commit, changes,
                                            now, default_time, banned, virtual,
                                            self._verdicts_applier(), trace.tracing(), spent)  # fmt: skip
        if rt.detection is not None:  # (subnet's verdicts, then the rows: decisions.crowd)
            self._crowd_then_rows(rt, commit, changes, now, batch.source)
        if batch.sessions:
            add_rows(commit.detector_rows, commit.detector_changes, SESSIONS, batch.sessions)
        rt.latest_line = latest
        rt.total_failed += failed
        self._end_bans(rt, commit)  # (the step's first-failure bans flushed; total_banned)
        commit.failed_delta += failed
        if spent:  # (the failures the bans used up not written: decisions.forgetting)
            commit.new_failures = unspent_failures(commit.new_failures, spent)
        self._keep_decided()
        return changes

    def forget_lines(self, committed: Iterable[Ban]) -> None:
        """Keep committed bans without their lines, the state's now (``ban_lines``): tens
        of thousands of bans would otherwise keep every matched line in memory."""
        forget_committed_lines(self.bans, committed)
        self._unsaved.landed(self.store.commit_count)

    def unban(self, network: IPNetwork, jail: str | None, reason: str) -> Changes:
        """Lift the bans of exactly ``network``. Raises: NoSuchJail, NotBanned."""
        if jail is not None and jail not in self.jails and jail != RECIDIVE:
            raise NoSuchJail(jail)
        lifted = self.bans_of(network, jail)  # a lookup per jail: no scan of 100k bans
        if not lifted:
            raise NotBanned(f"{network} is not banned" + (f" in {jail}" if jail else ""))
        return self._lift(lifted, reason)

    def unban_all(self, jail: str | None) -> Changes:
        if jail is not None and jail not in self.jails and jail != RECIDIVE:
            raise NoSuchJail(jail)
        return self._lift(
            [b for (j, _), b in self.bans.items() if jail is None or j == jail], "flush"
        )

    def expire(self) -> Changes:
        now = self.clock.now()
        gone = self.bans.due(now)  # from the expiry heap: no scan of 100,000 bans a second
        self._forget_virtual(gone)
        for rt in self.jails.values():
            # By the lines read, as the counts themselves: a backlog older than findtime
            # keeps its counts across the chores that run while it is read.
            for network in rt.counter.expire(min(now, rt.latest_line)):
                rt.recent_lines.pop(network)
        return self._lift(gone, "expired") if gone else Changes()

    def _lift(self, bans: Sequence[Ban], reason: str) -> Changes:
        changes = Changes()
        for ban in bans:
            self.bans.pop((ban.jail, ban.network), None)
            changes.unbans.append((ban, reason))
        if bans:
            changes.commits.append(BatchCommit(jail=bans[0].jail, unbans=list(bans)))
        return changes

    # --- reading -------------------------------------------------------------
