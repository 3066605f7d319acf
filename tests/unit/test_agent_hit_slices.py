"""Deciding a batch's hits in slices (agent/slicing.py) decides what deciding it whole does."""

from __future__ import annotations

import random
from pathlib import Path

from journalban.agent.slicing import hit_slices
from journalban.clock import FakeClock
from journalban.config.schema import JailConfig, RecidiveConfig
from journalban.decisions.engine import DecisionEngine
from journalban.decisions.ignore import IgnoreList
from journalban.events import Hit, LineBatch
from journalban.state.store import StateStore

NOW = 1_800_000_000.0


def _engine(path: Path) -> DecisionEngine:
    engine = DecisionEngine(StateStore(path), FakeClock(NOW), RecidiveConfig())
    configs = {"sshd": JailConfig(name="sshd", maxretry=3)}
    engine.configure(configs, {"sshd": IgnoreList(())})
    return engine


def _hits(count: int) -> list[Hit]:
    rng = random.Random(7)
    out: list[Hit] = []
    for i in range(count):
        host = f"198.51.100.{rng.randrange(60)}" if i % 5 else f"2001:db8:{rng.randrange(9)}::1"
        out.append((f"Failed password for root from {host}", host, NOW - 900 + i, "root", 0))
    return out


def _state(engine: DecisionEngine) -> tuple[object, ...]:
    rt = engine.jails["sshd"]
    bans = sorted((j, str(n), b.banned_at, b.expires_at) for (j, n), b in engine.bans.items())
    return bans, rt.total_failed, rt.total_banned, rt.lines_read, rt.counter.currently_failed


def test_slices_decide_what_the_whole_batch_decides(tmp_path: Path) -> None:
    hits = _hits(1000)
    batch = LineBatch("journal", ["x"] * 4000, "cursor-9", read=5000, unreadable=2,
                      sessions=(("s", "v"),))  # fmt: skip
    whole, sliced = _engine(tmp_path / "a.sqlite"), _engine(tmp_path / "b.sqlite")
    changes = whole.process_hits("sshd", batch, hits)
    whole.store.commit(changes.commits)
    parts = list(hit_slices(batch, hits, size=64))
    assert [len(p.hits or ()) for p in parts] == [64] * 15 + [40]
    assert sum(p.count for p in parts) == 5000
    assert [p.sessions for p in parts if p.sessions] == [(("s", "v"),)]
    assert {p.position for p in parts} == {"cursor-9"}
    commits = []
    for part in parts:
        commits += sliced.process_hits("sshd", part, part.hits or ()).commits
    sliced.store.commit(commits)
    assert _state(sliced) == _state(whole)
    assert len(whole.bans) > 10
    for engine in (whole, sliced):
        engine.store.close()
    reopened = [_engine(tmp_path / name) for name in ("a.sqlite", "b.sqlite")]
    for engine in reopened:
        engine.load_bans()
    assert _state(reopened[0])[0] == _state(reopened[1])[0]


def test_a_small_batch_is_one_part() -> None:
    batch = LineBatch("journal", ["x"], "c")
    (part,) = hit_slices(batch, _hits(3), size=64)
    assert part.count == 1
    assert len(part.hits or ()) == 3
