"""The bans decided but not committed, while a commit runs in another thread.

The agent decides the next group of batches while the last one commits
(journalban.agent.committing). A ban's length and recidive count the network's
earlier bans: the state's history plus the bans not in it yet. Whenever the
history is read - before the commit's transaction, during it (its rows written,
not committed), after it - each earlier ban counts once.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Sequence
from pathlib import Path

from journalban.addresses import IPNetwork, parse_address, parse_network
from journalban.clock import FakeClock
from journalban.config.schema import JailConfig, RecidiveConfig
from journalban.decisions.engine import RECIDIVE, DecisionEngine
from journalban.decisions.ignore import IgnoreList
from journalban.decisions.runtime import Changes
from journalban.decisions.unsaved import UnsavedBans, committed_history
from journalban.events import LineBatch
from journalban.matching.engine import MATCHED, Outcome
from journalban.state.store import BatchCommit, StateStore

NOW = 1_800_000_000.0
X = "198.51.100.7"
BANTIME = 60.0


class HeldWriter:
    """A store writer that holds the commit's transaction open (its rows written) until
    released: the agent's commit thread caught in the middle."""

    def __init__(self) -> None:
        self.inside = threading.Event()
        self.release = threading.Event()
        self.holding = True

    def write(self, cur: sqlite3.Cursor, batches: Sequence[BatchCommit]) -> None:
        if self.holding:
            self.inside.set()
            assert self.release.wait(10)


def _engine(path: Path) -> DecisionEngine:
    jail = JailConfig(name="sshd", maxretry=1, bantime=BANTIME)
    recidive = RecidiveConfig(enabled=True, maxretry=2, findtime=86400.0, bantime=3600.0)
    engine = DecisionEngine(StateStore(path), FakeClock(NOW), recidive)
    engine.configure({"sshd": jail}, {"sshd": IgnoreList(())})
    return engine


def _fail(engine: DecisionEngine, at: float, position: str) -> Changes:
    """One failure of X at ``at`` (the clock moved there), decided."""
    assert isinstance(engine.clock, FakeClock)
    engine.clock.set(at)
    outcome = Outcome(MATCHED, 0, parse_address(X), X, None, at, 0)
    batch = LineBatch("journal", [f"fail from {X}"], position, prefixed=False)
    return engine.process("sshd", batch, [outcome])


def _counts(changes: Changes) -> list[tuple[str, int]]:
    return sorted((b.jail, b.ban_count) for b in changes.bans)


def _serially(path: Path) -> list[tuple[str, int]]:
    engine = _engine(path)
    engine.store.commit(_fail(engine, NOW, "1").commits)
    second = _fail(engine, NOW + 2 * BANTIME, "2")
    engine.store.commit(second.commits)
    engine.store.close()
    return _counts(second)


def _overlapped(path: Path, *, history_read_before: bool) -> list[tuple[str, int]]:
    engine = _engine(path)
    store = engine.store
    if history_read_before:  # the history's network list loaded: X joins it in the commit
        store.ban_history(parse_network("192.0.2.1/32"), 0.0)
    held = HeldWriter()
    store.writers.append(held)
    first = _fail(engine, NOW, "1")
    engine.seal()
    thread = threading.Thread(target=store.commit, args=(first.commits,))
    thread.start()
    assert held.inside.wait(10)  # the first ban's rows written, not committed
    # Released while the engine reads the history (it waits for the transaction).
    threading.Timer(0.2, held.release.set).start()
    second = _fail(engine, NOW + 2 * BANTIME, "2")
    thread.join()
    held.holding = False
    engine.seal()
    store.commit(second.commits)
    store.close()
    return _counts(second)


def test_a_ban_decided_while_the_last_commit_runs_counts_it_once(tmp_path: Path) -> None:
    expected = _serially(tmp_path / "serial.sqlite")
    # The second ban of X is its second (not its third), and it sends X to recidive.
    assert expected == [(RECIDIVE, 1), ("sshd", 2)]
    assert _overlapped(tmp_path / "a.sqlite", history_read_before=False) == expected
    assert _overlapped(tmp_path / "b.sqlite", history_read_before=True) == expected


def test_the_bans_of_a_sealed_group_count_until_its_commit_lands() -> None:
    unsaved = UnsavedBans(committed=4)
    unsaved.keep([("a", "sshd", 1.0)])
    unsaved.seal(5)  # group 1: the store's 5th commit
    unsaved.keep([("a", "sshd", 2.0), ("b", "sshd", 2.0)])  # group 2, decided meanwhile
    assert unsaved.of("a", committed=4) == [("sshd", 1.0), ("sshd", 2.0)]
    assert unsaved.of("a", committed=5) == [("sshd", 2.0)]  # a history read saw commit 5
    unsaved.catch_up(5)
    assert unsaved.of("a", committed=5) == [("sshd", 2.0)]
    assert unsaved.of("b", committed=5) == [("sshd", 2.0)]
    unsaved.seal(6)
    unsaved.catch_up(6)
    assert unsaved.of("a", committed=6) == unsaved.of("b", committed=6) == []


def test_without_seals_every_commit_writes_the_bans_decided_before_it() -> None:
    unsaved = UnsavedBans(committed=0)  # the engine driven directly: tests, replay
    unsaved.keep([("a", "sshd", 1.0)])
    assert unsaved.of("a", committed=0) == [("sshd", 1.0)]
    assert unsaved.of("a", committed=1) == []
    unsaved.catch_up(1)
    unsaved.keep([("a", "sshd", 2.0)])
    assert unsaved.of("a", committed=1) == [("sshd", 2.0)]


class LandingStore:
    """A store whose commit lands during the first history read."""

    def __init__(self) -> None:
        self.commit_count = 7
        self.reads = 0

    def ban_history(
        self, network: IPNetwork, since: float, text: str | None = None
    ) -> list[tuple[str, float]]:
        self.reads += 1
        if self.reads == 1:
            self.commit_count += 1
            return [("sshd", 1.0)]  # it may or may not have seen the commit's rows
        return [("sshd", 1.0), ("sshd", 2.0)]


def test_a_history_read_during_which_a_commit_landed_is_read_again() -> None:
    store = LandingStore()
    found = committed_history(store, parse_network(f"{X}/32"), 0.0, f"{X}/32")  # type: ignore[arg-type]
    assert found == (8, [("sshd", 1.0), ("sshd", 2.0)])
    assert store.reads == 2


def _kept_one_by_one(
    groups: Sequence[list[tuple[str, str, float]]],
) -> dict[str, list[tuple[str, float]]]:
    found: dict[str, list[tuple[str, float]]] = {}
    for decided in groups:
        for text, jail, at in decided:
            found.setdefault(text, []).append((jail, at))
    return found


def test_keep_adds_a_steps_bans_as_one_by_one_whether_new_repeated_or_held() -> None:
    import random

    rng = random.Random(5)
    for _ in range(200):
        groups = []
        for _ in range(rng.randrange(1, 5)):
            size = rng.choice([0, 1, 2, 5, 40])
            # a few texts out of many (new ones) or out of ten (repeated, held already)
            pool = 10 if rng.random() < 0.5 else 10_000
            groups.append(
                [
                    (f"192.0.2.{rng.randrange(pool)}/32", rng.choice(["sshd", "web"]), rng.random())
                    for _ in range(size)
                ]
            )
        unsaved = UnsavedBans(0)
        for decided in groups:
            unsaved.keep(decided)
        expected = _kept_one_by_one(groups)
        assert {text: unsaved.of(text, 0) for text in unsaved.open} == expected
        assert list(unsaved.open) == list(expected)  # in the order decided
        assert all(unsaved.holds(text, 0) for text in expected)
        assert not unsaved.holds("198.51.100.1/32", 0)
        assert unsaved.of("198.51.100.1/32", 0) == []
        # (a network's one ban held as its pair: no list of one per ban)
        assert all(
            type(unsaved.open[text]) is (tuple if len(bans) == 1 else list)
            for text, bans in expected.items()
        )


def test_the_groups_since_a_commit_hold_what_holds_finds() -> None:
    """``since(c)``'s two containers, read once for a step's bans (decisions.plainban),
    hold a text exactly when ``holds(text, c)``: sealed groups before and after their commit, the open
    one with and without seals, as commits land."""
    import random

    rng = random.Random(11)
    texts = [f"t{i}" for i in range(12)]
    seen: set[int] = set()
    for _ in range(200):
        committed = rng.randrange(0, 3)
        unsaved = UnsavedBans(committed)
        for _ in range(rng.randrange(1, 16)):
            step = rng.random()
            if step < 0.5:
                unsaved.keep([(rng.choice(texts), "sshd", 1.0) for _ in range(rng.randrange(3))])
            elif step < 0.7:
                unsaved.seal(committed + 1 + len(unsaved._sealed))
            elif step < 0.9:
                committed += 1
            else:
                unsaved.catch_up(committed)
            for asked in (committed - 1, committed, committed + 1):
                last, others = unsaved.since(asked)
                for text in texts:
                    assert (text in last or text in others) == unsaved.holds(text, asked)
                seen.add(sum(n > asked for n, _ in unsaved._sealed))
    assert {0, 1, 2, 3} <= seen  # (sealed groups after the count asked: none to several)
