"""Batches decided back to back and committed together decide as one commit per batch would."""

from __future__ import annotations

from pathlib import Path

from journalban.addresses import parse_address
from journalban.clock import FakeClock
from journalban.config.schema import BantimeIncrement, JailConfig, RecidiveConfig
from journalban.decisions.engine import RECIDIVE, Changes, DecisionEngine
from journalban.decisions.ignore import IgnoreList
from journalban.events import LineBatch
from journalban.matching.engine import MATCHED, Outcome
from journalban.state.store import StateStore

NOW = 1_800_000_000.0


def _engine(tmp_path: Path, recidive: RecidiveConfig, **jail: object) -> DecisionEngine:
    engine = DecisionEngine(StateStore(tmp_path / "state.sqlite"), FakeClock(NOW), recidive)
    jails = {name: JailConfig(name=name, **jail) for name in ("sshd", "dovecot")}  # type: ignore[arg-type]
    engine.configure(jails, {name: IgnoreList(()) for name in jails})
    return engine


def _decide(engine: DecisionEngine, jail: str, address: str, when: float) -> Changes:
    """One failure as one batch, decided but not committed."""
    outcome = Outcome(MATCHED, 0, parse_address(address), address, None, when, 0)
    batch = LineBatch(f"journal:{jail}", [f"fail from {address}"], "cursor", prefixed=False)
    return engine.process(jail, batch, [outcome])


def test_uncommitted_ban_lengthens_the_next_batchs_ban(tmp_path: Path) -> None:
    inc = BantimeIncrement(enabled=True, factor=2.0, maxtime=None)
    engine = _engine(tmp_path, RecidiveConfig(enabled=False), maxretry=1, bantime=60.0,
                     increment=inc)  # fmt: skip
    # The first ban ran out while the agent was stopped; it still counts as a previous ban.
    first = _decide(engine, "sshd", "203.0.113.5", NOW - 300)
    second = _decide(engine, "sshd", "203.0.113.5", NOW - 100)
    engine.store.commit(first.commits + second.commits)
    assert first.bans == []
    assert [b.expires_at - b.banned_at for b in second.bans if b.expires_at] == [120.0]


def test_uncommitted_bans_of_other_jails_feed_recidive(tmp_path: Path) -> None:
    rec = RecidiveConfig(enabled=True, maxretry=2, findtime=86400.0, bantime=604800.0)
    engine = _engine(tmp_path, rec, maxretry=1, bantime=3600.0)
    first = _decide(engine, "sshd", "203.0.113.5", NOW - 10)
    second = _decide(engine, "dovecot", "203.0.113.5", NOW - 5)
    engine.store.commit(first.commits + second.commits)
    assert [b.jail for b in second.bans] == ["dovecot", RECIDIVE]


def test_committed_bans_are_not_counted_twice(tmp_path: Path) -> None:
    rec = RecidiveConfig(enabled=True, maxretry=3, findtime=86400.0, bantime=604800.0)
    engine = _engine(tmp_path, rec, maxretry=1, bantime=3600.0)
    engine.store.commit(_decide(engine, "sshd", "203.0.113.5", NOW - 10).commits)
    second = _decide(engine, "dovecot", "203.0.113.5", NOW - 5)
    assert [b.jail for b in second.bans] == ["dovecot"]
