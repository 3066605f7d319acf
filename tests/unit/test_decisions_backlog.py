"""Batches decided back to back and committed together; what a batch leaves in the state."""

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


def test_failures_that_led_to_a_ban_in_the_same_batch_are_not_left_pending(
    tmp_path: Path,
) -> None:
    engine = _engine(tmp_path, RecidiveConfig(enabled=False), maxretry=2, bantime=60.0)
    address = parse_address("203.0.113.5")
    outcomes = [Outcome(MATCHED, i, address, "203.0.113.5", None, NOW - 10 + i, 0) for i in (0, 1)]
    batch = LineBatch("journal:sshd", ["fail", "fail"], "cursor", prefixed=False)
    changes = engine.process("sshd", batch, outcomes)
    engine.store.commit(changes.commits)
    assert [b.address for b in changes.bans] == ["203.0.113.5"]
    # A restart must count what the running agent counts: nothing for this address.
    assert engine.store.pending_failures("sshd") == []


def test_failures_after_a_ban_ran_out_in_the_same_batch_stay_pending(tmp_path: Path) -> None:
    engine = _engine(tmp_path, RecidiveConfig(enabled=False), maxretry=2, bantime=60.0)
    address = parse_address("203.0.113.5")
    times = (NOW - 600, NOW - 599, NOW - 300)  # banned for 60 s, then one more failure
    outcomes = [
        Outcome(MATCHED, i, address, "203.0.113.5", None, t, 0) for i, t in enumerate(times)
    ]
    batch = LineBatch("journal:sshd", ["fail"] * 3, "cursor", prefixed=False)
    engine.store.commit(engine.process("sshd", batch, outcomes).commits)
    assert [t for _, t in engine.store.pending_failures("sshd")] == [NOW - 300]
