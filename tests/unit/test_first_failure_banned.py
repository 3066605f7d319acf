"""A network's first failure, counted after its verdicts: not at all when they ban it.

The engine adds a failure to the jail's counter and kept lines only after the
detectors' verdicts when the network is in neither and both have room
(``JailRuntime.first_room``): a ban at that failure then leaves both as they
were, and the ban's line comes from ``RecentLines.held``. These tests run the
same traffic with that path off (``first_room`` 0: every failure counted at
once, as before) and on, and compare everything the engine decided and keeps:
every ban with its lines, every commit, the counters, the kept lines, the
evictions and the stored state. The traffic has ignored addresses, banned
networks, known-good pairs, full counters, long and non-ASCII lines near the
byte cap, a reload that lowers the cap mid-run and a restart from the state.
"""

from __future__ import annotations

import random
import sqlite3
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest

from journalban.clock import FakeClock
from journalban.config.detectors import (
    AccountConfig,
    AttackModeConfig,
    DenyUsersConfig,
    DetectorsConfig,
    SlowConfig,
    SubnetConfig,
)
from journalban.config.schema import JailConfig, RecidiveConfig
from journalban.decisions.engine import DecisionEngine
from journalban.decisions.ignore import IgnoreList
from journalban.decisions.recentlines import LINE_CHARS, MAX_BYTES, RecentLines
from journalban.decisions.runtime import Changes, JailRuntime
from journalban.events import FAILURE, SUCCESS, Ban, Hit, LineBatch
from journalban.jails.counter import FailureCounter
from journalban.state.store import StateStore

NOW = 1_800_000_000.0
DETECTORS = DetectorsConfig(
    deny_users=DenyUsersConfig(("root",)),
    slow=SlowConfig(maxretry=6, findtime=3600.0),
    account=AccountConfig(addresses=5, findtime=300.0, hold=120.0),
    attack_mode=AttackModeConfig(failures=25, findtime=60.0, hold=40.0),
    subnet=SubnetConfig(addresses=4, findtime=600.0),
)


def committed_lines(changes: Changes, bans: Sequence[Ban]) -> list[tuple[str, ...]]:
    """The matched lines of ``bans`` (of ``changes``) as their commits write them: a ban's
    own, or beside it (``BatchCommit.lines_of``) where it was made without them."""
    beside = {k: v for commit in changes.commits for k, v in commit.lines_of.items()}
    return [beside.get(id(ban), ban.lines) for ban in bans]


def _engine(store: StateStore, clock: FakeClock, max_tracked: int) -> DecisionEngine:
    engine = DecisionEngine(store, clock, RecidiveConfig(maxretry=2, findtime=3600.0))
    _configure(engine, max_tracked)
    return engine


def _configure(engine: DecisionEngine, max_tracked: int) -> None:
    cfg = JailConfig(
        name="sshd", detectors=DETECTORS, maxretry=3, findtime=120.0, bantime=30.0,
        max_tracked=max_tracked, ignoreip=("127.0.0.0/8", "192.0.2.0/28"),
    )  # fmt: skip
    engine.configure({"sshd": cfg}, {"sshd": IgnoreList(cfg.ignoreip)})
    # Kept lines near their byte cap: a few long lines fill it
    engine.jails["sshd"].recent_lines.max_bytes = 6 * 4 * LINE_CHARS


def _traffic(seed: int, steps: int) -> list[list[Hit]]:
    """Batches of failures and logins: attacks, repeats, ignored and junk addresses."""
    rng = random.Random(seed)
    when, batches = NOW - 5000.0, []
    for _ in range(steps):
        batch: list[Hit] = []
        for _ in range(rng.randrange(1, 40)):
            when += rng.choice([0.0, 0.1, 0.5, 3.0, 20.0])
            kind = rng.random()
            if kind < 0.05:
                host = rng.choice(["127.0.0.1", "192.0.2.3", "not an address", "::1"])
            elif kind < 0.35:  # a few networks again and again
                host = f"198.51.100.{rng.randrange(12)}"
            elif kind < 0.45:
                host = f"2001:db8:{rng.randrange(4)}::{rng.randrange(1, 9)}"
            else:  # a flood: mostly new networks
                host = f"203.0.{rng.randrange(8)}.{rng.randrange(256)}"
            user = rng.choice([None, "root", "alice", "bob", f"u{rng.randrange(40)}"])
            line = f"Failed password for {user} from {host}"
            if rng.random() < 0.3:  # long lines (cut), some not ASCII
                line += rng.choice(["x", "é"]) * rng.choice([100, LINE_CHARS + 50])
            mark = FAILURE
            if user in ("alice", "bob") and rng.random() < 0.1:
                mark, line = SUCCESS, f"Accepted password for {user} from {host}"
            batch.append((line, host, rng.choice([when, when, None]), user, mark))
        batches.append(batch)
    return batches


def _held(engine: DecisionEngine) -> dict[str, Any]:
    rt = engine.jails["sshd"]
    recent, counter = rt.recent_lines, rt.counter
    return {
        "times": list(counter.times.items()),
        "lines": list(recent.kept.items()),
        "evicted": (counter.evicted, recent.evicted, recent.bytes, recent.held),
        "bans": sorted(engine.bans.by_text.items()),
        "totals": (rt.total_failed, rt.total_banned),
    }


def _rows(path: Path) -> dict[str, list[tuple[object, ...]]]:
    db = sqlite3.connect(path)
    try:
        tables = [r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type='table'")]
        return {t: sorted(db.execute(f"SELECT * FROM {t}"), key=repr) for t in tables}  # noqa: S608
    finally:
        db.close()


def _run(tmp_path: Path, seed: int, *, first: bool) -> tuple[list[Any], int]:
    """Everything decided and kept over the traffic (a reload and a restart midway), and
    how many failures were added to the counter."""
    added = [0]
    add = FailureCounter.add

    def counted(self: FailureCounter[str], network: str, when: float) -> int:
        added[0] += 1
        return add(self, network, when)

    path = tmp_path / f"{first}.sqlite"
    clock = FakeClock(NOW)
    store = StateStore(path)
    engine = _engine(store, clock, max_tracked=40)
    seen: list[Any] = []
    batches = _traffic(seed, 60)
    for i, hits in enumerate(batches):
        if i == 20:  # a reload lowers the cap below the networks counted
            _configure(engine, max_tracked=25)
        if i == 40:  # a restart: counters and detectors restored from the state
            store.close()
            store = StateStore(path)
            engine = _engine(store, clock, max_tracked=25)
            engine.load_bans()
        batch = LineBatch("journal", [h[0] for h in hits], f"c{i}", prefixed=False)
        engine.jails["sshd"].counter.add = counted.__get__(engine.jails["sshd"].counter)  # type: ignore[method-assign]
        changes = engine.process_hits("sshd", batch, hits)
        seen.append(
            [
                (c.bans, c.history, c.new_failures, c.cleared, c.failed_delta, c.banned_delta)
                for c in changes.commits
            ]
            + [changes.bans, changes.pending_bans, _held(engine)]
        )
        store.commit(changes.commits)
        engine.forget_lines(changes.bans)
        if i % 7 == 6:
            clock.set(NOW + i)
            engine.expire()
    store.close()
    return [*seen, _rows(path)], added[0]


@pytest.mark.parametrize("seed", range(8))
def test_the_same_decisions_and_state_with_the_first_failure_counted_late(
    tmp_path: Path, seed: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    counted, late = _run(tmp_path, seed, first=True)
    with monkeypatch.context() as patch:
        patch.setattr(JailRuntime, "first_room", lambda self: 0)  # every failure counted at once
        at_once, added = _run(tmp_path, seed, first=False)
    assert len(counted) == len(at_once)
    for step, (ours, theirs) in enumerate(zip(counted, at_once, strict=True)):
        assert ours == theirs, step
    assert late < added - 50  # many networks banned at their first failure, never counted
    bans = [b for step in counted[:-1] for b in step[-3]]
    assert any(len(line) == LINE_CHARS for b in bans for line in b.lines)  # a cut line


def test_a_network_banned_at_its_first_failure_is_never_counted(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    added: list[str] = []
    add = FailureCounter.add

    def counted(self: FailureCounter[str], network: str, when: float) -> int:
        added.append(network)
        return add(self, network, when)

    monkeypatch.setattr(FailureCounter, "add", counted)
    engine = _engine(StateStore(tmp_path / "s.sqlite"), FakeClock(NOW), max_tracked=1000)
    engine.jails["sshd"].recent_lines.max_bytes = MAX_BYTES
    flood = [
        (f"Failed password for u{i} from 203.0.113.{i}", f"203.0.113.{i}", NOW - 10 + i / 10, f"u{i}",
         FAILURE)
        for i in range(60)
    ]  # fmt: skip
    batch = LineBatch("journal", [h[0] for h in flood], "c", prefixed=False)
    changes = engine.process_hits("sshd", batch, flood)
    # attack mode from the 25th failure on: each network banned at its first failure
    attack = [b for b in changes.bans if b.reason == "attack_mode"]
    assert [b.address for b in attack] == [f"203.0.113.{i}" for i in range(24, 60)]
    assert committed_lines(changes, attack) == [(flood[i][0],) for i in range(24, 60)]
    first = [f"203.0.113.{i}/32" for i in range(24)]
    assert added == first  # the others never counted
    rt = engine.jails["sshd"]
    assert list(rt.counter.times) == list(rt.recent_lines.kept) == first
    assert [key for c in changes.commits for key, _ in c.new_failures] == first


def test_a_line_taken_at_the_first_failure_is_cut_as_kept(tmp_path: Path) -> None:
    engine = _engine(StateStore(tmp_path / "s.sqlite"), FakeClock(NOW), max_tracked=1000)
    engine.jails["sshd"].recent_lines.max_bytes = MAX_BYTES
    flood = [
        (f"Failed password for u{i} from 203.0.113.{i} " + "é" * (LINE_CHARS * (i % 2)),
         f"203.0.113.{i}", NOW - 10 + i / 10, f"u{i}", FAILURE)
        for i in range(40)
    ]  # fmt: skip
    batch = LineBatch("journal", [h[0] for h in flood], "c", prefixed=False)
    changes = engine.process_hits("sshd", batch, flood)
    attack = [b for b in changes.bans if b.reason == "attack_mode"]
    assert len(attack) == 16
    for ban, lines in zip(attack, committed_lines(changes, attack), strict=True):
        line = next(h[0] for h in flood if h[1] == ban.address)
        kept = RecentLines(max_networks=1)
        kept.add("k", line)
        assert lines == kept.pop("k")
        assert len(lines[0]) == min(len(line), LINE_CHARS)
    rt = engine.jails["sshd"]
    assert rt.recent_lines.held is None


def test_room_is_what_add_takes_without_an_eviction() -> None:
    recent = RecentLines(max_networks=5, max_bytes=3 * 4 * LINE_CHARS + 10)
    assert recent.room() == 3  # by bytes: a cut line's most
    for i in range(3):
        recent.add(f"n{i}", "é" * (LINE_CHARS + 1))
    assert (recent.room(), recent.evicted) == (0, 0)
    small = RecentLines(max_networks=2)
    small.add("a", "x")
    assert small.room() == 1
