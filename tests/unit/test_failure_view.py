"""A jail's last failures that have not led to a ban (decisions/failureview.py)."""

from __future__ import annotations

from pathlib import Path

from journalban.clock import FakeClock
from journalban.config.schema import JailConfig, RecidiveConfig
from journalban.decisions.engine import DecisionEngine
from journalban.decisions.failureview import recent_failures
from journalban.decisions.ignore import IgnoreList
from journalban.events import Hit, LineBatch
from journalban.state.store import StateStore

NOW = 1_800_000_000.0


def _engine(path: Path) -> DecisionEngine:
    engine = DecisionEngine(StateStore(path), FakeClock(NOW), RecidiveConfig())
    configs = {"sshd": JailConfig(name="sshd", maxretry=3, findtime=600.0)}
    engine.configure(configs, {"sshd": IgnoreList(())})
    return engine


def _fail(engine: DecisionEngine, hosts: list[str], at: float) -> None:
    hits: list[Hit] = [
        (f"Failed password for invalid user u{n} from {h} port 22 ssh2", h, at + n, f"u{n}", 0)
        for n, h in enumerate(hosts)
    ]
    batch = LineBatch("journal", ["x"] * len(hits), "cursor", read=len(hits))
    engine.store.commit(engine.process_hits("sshd", batch, hits).commits)


def test_the_newest_counted_networks_come_first_with_their_lines(tmp_path: Path) -> None:
    engine = _engine(tmp_path / "state.sqlite")
    _fail(engine, ["198.51.100.1", "198.51.100.2", "198.51.100.1", "2001:db8:5::9"], NOW - 100)
    rows = recent_failures(engine.jails["sshd"], NOW)
    assert [(r[0], r[1]) for r in rows] == [
        ("2001:db8:5::/64", 1),  # counted as its /64, as it would be banned
        ("198.51.100.1", 2),
        ("198.51.100.2", 1),
    ]
    assert rows[1][2] == NOW - 100 + 2
    assert rows[1][3] == (
        "Failed password for invalid user u0 from 198.51.100.1 port 22 ssh2",
        "Failed password for invalid user u2 from 198.51.100.1 port 22 ssh2",
    )
    engine.store.close()


def test_a_banned_or_aged_network_leaves_the_view(tmp_path: Path) -> None:
    engine = _engine(tmp_path / "state.sqlite")
    _fail(engine, ["198.51.100.7"], NOW - 900)  # older than findtime by now
    _fail(engine, ["198.51.100.8"] * 3, NOW - 10)  # maxretry: banned
    _fail(engine, ["198.51.100.9"], NOW - 5)
    rows = recent_failures(engine.jails["sshd"], NOW)
    assert [r[0] for r in rows] == ["198.51.100.9"]
    assert any(b.address == "198.51.100.8" for b in engine.list_bans())
    engine.store.close()


def test_the_view_is_capped(tmp_path: Path) -> None:
    engine = _engine(tmp_path / "state.sqlite")
    _fail(engine, [f"198.51.100.{n}" for n in range(60)], NOW - 100)
    rows = recent_failures(engine.jails["sshd"], NOW, limit=20)
    assert [r[0] for r in rows] == [f"198.51.100.{n}" for n in range(59, 39, -1)]
    engine.store.close()
