"""The whole jail logic over past lines, by their own time, from empty state.

``journalban replay`` runs each selected jail's matcher and the decisions
stage (every detector, ignore lists, bantime and its increment, recidive)
over a log file or journal files, with a clock that follows the lines'
times. It reads no state database and writes none (the state lives in
memory), and touches no firewall: the result is the list of decisions.
"""

from __future__ import annotations

import multiprocessing
import sys
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from pathlib import Path

from journalban.addresses import IPNetwork
from journalban.clock import FakeClock
from journalban.config.schema import Config, JailConfig
from journalban.decisions.engine import DecisionEngine
from journalban.decisions.ignore import IgnoreList, host_interfaces
from journalban.decisions.recentlines import RecentLines
from journalban.events import FAILURE, Ban, Hit, JoinedLines, LineBatch
from journalban.matching.dates import DateReader
from journalban.matching.engine import CompiledFilter, LineMatcher
from journalban.matching.library import FilterLibrary
from journalban.matching.sessions import SessionTable, file_session_hits
from journalban.matching.spec import MatcherSpec
from journalban.state.store import MEMORY, StateStore

# The decisions stage takes the failures in slices of at most this much log
# time, its clock set to the slice's end: a ban shorter than this is still
# reported (from the history), only its blocking may be approximate.
SLICE_SECONDS = 300.0
# How often (log time) expired bans are lifted and idle counters forgotten.
EXPIRE_EVERY = 600.0

# Batches of a source for one jail: (lines, each line's time or empty, prefixed,
# each line's session key (the journal's _PID) or empty).
Batches = Iterator[tuple[Sequence[str], Sequence[float], bool, Sequence[str | None]]]


@dataclass
class ReplayResult:
    lines: int = 0
    failures: int = 0
    bans: list[Ban] = field(default_factory=list)
    # (jail, account, since, until) of each attack on an account
    accounts: list[tuple[str, str, float, float]] = field(default_factory=list)


def replay(
    config: Config,
    jails: Sequence[str],
    batches_for: Callable[[JailParts], Batches],
    *,
    since: float | None = None,
    until: float | None = None,
    library: FilterLibrary | None = None,
) -> ReplayResult:
    """Decide over the lines of each jail in ``jails``; the bans in order of time.

    Raises:
        ConfigError, FilterError: the configuration or a filter is bad.
        OSError: the input cannot be read.
    """
    clock = FakeClock(0.0)
    parts = replay_jails(config, jails, library or FilterLibrary())
    engine = DecisionEngine(_ReplayStore(MEMORY), clock, config.recidive)
    engine.configure(
        {n: p.config for n, p in parts.items()}, {n: p.ignore for n, p in parts.items()}
    )
    for rt in engine.jails.values():
        if rt.detection is not None:
            rt.detection.persist = False
        rt.recent_lines = _NoLines(0)
    result = ReplayResult()
    attacks: dict[tuple[str, str, float], float] = {}
    for name, part in parts.items():
        run = _JailRun(engine, clock, name, attacks, result)
        clock.set(0.0)  # each jail's lines from their start
        for count, hits in _matched(part, batches_for):
            result.lines += count
            if since is not None or until is not None:
                hits = [h for h in hits if h[2] is None or _within(h[2], since, until)]
            result.failures += sum(1 for h in hits if h[4] == FAILURE)
            run.feed(hits)
        run.flush()
    result.bans.sort(key=lambda b: (b.banned_at, b.jail, b.address))
    result.accounts = sorted(
        ((j, a, s, u) for (j, a, s), u in attacks.items()), key=lambda x: (x[2], x[0], x[1])
    )
    return result


@dataclass
class JailParts:
    """What a replayed jail runs with (the agent's, without actions or firewall rules)."""

    config: JailConfig
    compiled: CompiledFilter
    ignore: IgnoreList


def replay_jails(
    config: Config, jails: Sequence[str], library: FilterLibrary
) -> dict[str, JailParts]:
    """The jails to replay, compiled as the agent compiles them. Raises: FilterError."""
    interfaces = host_interfaces()
    parts = {}
    for cfg in config.enabled_jails:
        if cfg.name not in jails:
            continue
        spec = MatcherSpec(
            cfg.filter, cfg.mode, None, [str(n) for n in cfg.trusted_proxies],
            cfg.real_ip_header, check_idents=cfg.source == "files",
            successes=cfg.detectors.uses_known_good,
        )  # fmt: skip
        ignore = IgnoreList(
            cfg.ignoreip, ignore_local_networks=cfg.ignore_local_networks, interfaces=interfaces
        )
        parts[cfg.name] = JailParts(cfg, spec.compile(library.load(cfg.filter)), ignore)
    return parts


def _matched(
    part: JailParts, batches_for: Callable[[JailParts], Batches]
) -> Iterator[tuple[int, list[Hit]]]:
    """(lines read, failures) of each batch, read and matched in a child process.

    The child reads and matches while this process decides, as the agent's
    reader children do: on two cores a replay takes about as long as the
    slower of the two.
    """
    context = multiprocessing.get_context("fork")
    receive, send = context.Pipe(duplex=False)
    child = context.Process(target=_match_batches, args=(part, batches_for, send), daemon=True)
    child.start()
    send.close()
    try:
        while True:
            try:
                item = receive.recv()
            except EOFError:
                raise OSError("the replay's reader process ended early") from None
            if item is None:
                return
            if isinstance(item, str):
                raise OSError(item)
            yield item
    finally:
        receive.close()
        child.join(timeout=5)
        if child.is_alive():
            child.kill()
            child.join()


def _match_batches(
    part: JailParts, batches_for: Callable[[JailParts], Batches], send: Connection
) -> None:
    """The child: each batch's line count and failures; an error's text; None at the end."""
    # Dates without a year are read as the latest such date not in the future.
    matcher = LineMatcher(part.compiled, time.time)
    rules = part.compiled.fdef.sessions
    table = None if rules is None else SessionTable(rules)
    dates = DateReader(time.time)

    def line_time(line: str) -> float | None:
        found = dates.find(line)
        return None if found is None else found.time

    try:
        for lines, times, prefixed, keys in batches_for(part):
            batch = LineBatch(part.config.name, lines, "", times, prefixed=prefixed)
            hits = matcher.hits(batch)
            if table is not None and prefixed:
                hits += file_session_hits(
                    table, lines, line_time, matcher.ident_refused, time.time()
                )
            elif table is not None and keys:
                for message, when, key in zip(lines, times, keys, strict=True):
                    if (hit := table.feed(message, key, when)) is not None:
                        hits.append(hit)
                    hits += table.released()
            if table is not None:
                table.changes()  # a replay keeps no state
            send.send((len(lines), hits))
        send.send(None)
    except OSError as exc:
        send.send(f"cannot read the input: {exc}")
    finally:
        send.close()


def _within(when: float, since: float | None, until: float | None) -> bool:
    return (since is None or when >= since) and (until is None or when < until)


class _ReplayStore(StateStore):
    """The in-memory state of a replay, which commits nothing: no ban history in it.

    The engine answers the history (increments, recidive) from the bans it
    decided and has not seen committed; asking the empty table costs a network's
    text per ban.
    """

    def ban_history(
        self, network: IPNetwork, since: float, text: str | None = None
    ) -> list[tuple[str, float]]:
        return []


class _NoLines(RecentLines):
    """A replay reports no ban's lines: keeping them would cost a call per failure."""

    def add(self, key: str, line: str) -> None:
        pass

    def pop(self, key: str) -> tuple[str, ...]:
        return ()

    def room(self) -> int:
        return sys.maxsize  # (none kept: no line is ever evicted)

    @property
    def held(self) -> tuple[str, str] | None:
        return None  # (a first failure's line is not kept either)

    @held.setter
    def held(self, value: tuple[str, str] | None) -> None:
        pass


class _JailRun:
    """Feeds one jail's hits to the engine in slices of log time."""

    def __init__(
        self,
        engine: DecisionEngine,
        clock: FakeClock,
        jail: str,
        attacks: dict[tuple[str, str, float], float],
        result: ReplayResult,
    ) -> None:
        self.engine, self.clock, self.jail = engine, clock, jail
        self.attacks, self.result = attacks, result
        self.pending: list[Hit] = []
        self.start = 0.0
        self.expired_at = 0.0

    def feed(self, hits: Iterable[Hit]) -> None:
        for hit in hits:
            when = hit[2] if hit[2] is not None else self.clock.now()
            if self.pending and when - self.start > SLICE_SECONDS:
                self.flush()
            if not self.pending:
                self.start = when
            self.pending.append(hit)

    def flush(self) -> None:
        if not self.pending:
            return
        hits, self.pending = self.pending, []
        end = max(h[2] or 0.0 for h in hits)
        clock, engine = self.clock, self.engine
        clock.set(max(clock.now(), end))
        if clock.now() - self.expired_at >= EXPIRE_EVERY:
            engine.expire()
            self.expired_at = clock.now()
        # Nothing is committed: the engine answers the ban history (increments,
        # recidive) from the bans it decided and has not seen committed.
        changes = engine.process_hits(self.jail, LineBatch(self.jail, [], "", read=0), hits)
        engine.forget_lines(changes.bans)
        for commit in changes.commits:
            # The history holds every ban decided, also one that had ended
            # before the slice's end (the live agent skips those).
            self.result.bans += [ban for ban, manual in commit.history if not manual]
        rt = engine.jails.get(self.jail)
        if rt is not None and rt.detection is not None and rt.detection.account is not None:
            for account, since, until in rt.detection.account.under_attack(
                clock.now() - SLICE_SECONDS
            ):
                self.attacks[(self.jail, account, since)] = until


def file_batches(path: Path) -> Callable[[JailParts], Batches]:
    """A log file's lines, for every jail."""
    from journalban.cli.regexinput import read_file_text

    def batches(part: JailParts) -> Batches:
        for text in read_file_text(path):
            yield JoinedLines(text, text.count("\n") + 1), (), True, ()

    return batches


def journal_batches(directory: Path | None) -> Callable[[JailParts], Batches]:
    """Journal entries through each jail's journal matches (``None``: the system journal),
    with each entry's ``_PID`` (the session key of failures without an address)."""
    from journalban.cli.regexinput import entry_batches, open_journal

    def batches(part: JailParts) -> Batches:
        groups = part.config.journal_match or part.compiled.fdef.journal_match
        reader = open_journal(directory, groups)
        try:
            for lines, times, keys in entry_batches(reader, pid=True):
                yield lines, times, False, keys
        finally:
            reader.close()

    return batches
