"""Fleet bans tied to the stream message carrying them (lifted once it is gone), and
outbox entries the servers stored before a crash (never published twice).
"""

from __future__ import annotations

import asyncio
from pathlib import Path

from journalban.addresses import parse_network
from journalban.clock import FakeClock
from journalban.config.fleet import FleetConfig
from journalban.config.schema import JailConfig, RecidiveConfig
from journalban.decisions.engine import Changes, DecisionEngine
from journalban.decisions.ignore import IgnoreList
from journalban.decisions.remote import FLEET_POSITION, RemoteOrder, decide_remote, lift_unheld
from journalban.fleet.ledger import FleetLedger, OutboxEntry
from journalban.fleet.resend import look_up, stored_already
from journalban.state.store import BatchCommit, StateStore

NOW = 1_800_000_000.0
CFG = FleetConfig(servers=("nats://127.0.0.1:4222",), name="prod", host="b")


def _setup(tmp_path: Path) -> tuple[DecisionEngine, FleetLedger]:
    store = StateStore(tmp_path / "state.sqlite")
    ledger = FleetLedger(CFG, store.path)
    store.writers.append(ledger)
    engine = DecisionEngine(store, FakeClock(NOW), RecidiveConfig(enabled=False))
    engine.configure({"sshd": JailConfig(name="sshd")}, {"sshd": IgnoreList(("127.0.0.0/8",))})
    return engine, ledger


def _order(address: str, seq: int, op: str = "ban", exp: float = NOW + 600) -> RemoteOrder:
    return RemoteOrder(op, "sshd", parse_network(address), NOW, exp, "a", "failures", seq)


def _decide(engine: DecisionEngine, ledger: FleetLedger, *orders: RemoteOrder) -> Changes:
    changes, outcome = decide_remote(engine, orders, CFG.stream, max(o.seq for o in orders))
    ledger.stage_held(outcome.held)
    engine.store.commit(changes.commits)
    return changes


def _lift(engine: DecisionEngine, ledger: FleetLedger, below: int) -> list[str]:
    rows = ledger.held_below(below)
    changes = lift_unheld(engine, [(j, parse_network(n)) for j, n in rows])
    ledger.stage_forget(rows)
    engine.store.commit([*changes.commits, BatchCommit(jail=FLEET_POSITION)])
    return sorted(b.address for b, _ in changes.unbans)


def test_each_fleet_ban_is_tied_to_the_latest_message_carrying_it(tmp_path: Path) -> None:
    engine, ledger = _setup(tmp_path)
    _decide(engine, ledger, _order("203.0.113.1", 3), _order("203.0.113.2", 4))
    assert sorted(ledger.held_below(5)) == [("sshd", "203.0.113.1/32"), ("sshd", "203.0.113.2/32")]
    # A later message of the same ban (refused as a duplicate) carries it now.
    changes = _decide(engine, ledger, _order("203.0.113.1", 9))
    assert not changes.bans
    assert ledger.held_below(5) == [("sshd", "203.0.113.2/32")]
    # A remote unban forgets the tie with the ban.
    _decide(engine, ledger, _order("203.0.113.2", 10, op="unban"))
    assert ledger.held_below(100) == [("sshd", "203.0.113.1/32")]


def test_bans_whose_message_left_the_stream_are_lifted_and_own_bans_stay(tmp_path: Path) -> None:
    engine, ledger = _setup(tmp_path)
    _decide(engine, ledger, *(_order(f"203.0.113.{i}", i) for i in range(1, 6)))
    # 203.0.113.3 was banned here by hand since: this host's own ban now.
    _, changes = engine.manual_ban(
        "sshd", parse_network("203.0.113.3"), None, permanent=False, comment="", force=True
    )
    engine.store.commit(changes.commits)
    assert _lift(engine, ledger, 4) == ["203.0.113.1", "203.0.113.2"]
    assert sorted(b.address for b in engine.list_bans()) == [f"203.0.113.{i}" for i in (3, 4, 5)]
    assert ledger.held_below(100) == [("sshd", "203.0.113.4/32"), ("sshd", "203.0.113.5/32")]
    # What was committed: a new engine on the same state holds the same bans.
    again = DecisionEngine(engine.store, FakeClock(NOW), RecidiveConfig(enabled=False))
    again.configure({"sshd": JailConfig(name="sshd")}, {"sshd": IgnoreList(())})
    assert sorted(b.address for b in again.load_bans()) == [f"203.0.113.{i}" for i in (3, 4, 5)]


def test_a_stream_made_anew_ties_no_ban_until_its_messages_carry_them(tmp_path: Path) -> None:
    engine, ledger = _setup(tmp_path)
    _decide(engine, ledger, _order("203.0.113.1", 500), _order("203.0.113.2", 501))
    ledger.stage_reset_held()
    engine.store.commit([BatchCommit(jail=FLEET_POSITION)])
    # The new stream carries .2 again (a duplicate here): only .1 is lifted.
    _decide(engine, ledger, _order("203.0.113.2", 1))
    assert _lift(engine, ledger, 1) == ["203.0.113.1"]
    assert [b.address for b in engine.list_bans()] == ["203.0.113.2"]


def _entry(id_: int, sent_at: float | None) -> OutboxEntry:
    return OutboxEntry(id_, "ban", "sshd", "203.0.113.1/32", NOW, NOW + 60, "x", sent_at)


def test_entries_stored_before_a_crash_are_found_by_their_subjects_last_id() -> None:
    # 1 and 3 on subject s (a ban, then its unban), 2 on t, 4 on u never handed over.
    entries = [_entry(1, NOW - 300), _entry(2, NOW - 300), _entry(3, NOW - 300), _entry(4, None)]
    messages = [("s", b"", "m1"), ("t", b"", "m2"), ("s", b"", "m3"), ("u", b"", "m4")]
    asked: list[str] = []

    async def last_id(subject: str) -> str | None:
        asked.append(subject)
        return {"s": "m1", "t": "m2"}.get(subject)

    # s holds 1 (3 was not stored yet: it goes out again), t holds 2; u is never asked.
    assert asyncio.run(look_up(entries, messages, last_id, NOW)) == {1, 2}
    assert sorted(asked) == ["s", "t"]
    # The last message of s is 3: 1 is behind it, both stored.
    assert stored_already(entries, messages, {"s": "m3", "t": None}) == {1, 3}
    # Handed over within the servers' duplicate window: they drop a repeat themselves.
    recent = [_entry(1, NOW - 5)]
    assert asyncio.run(look_up(recent, messages[:1], last_id, NOW)) == set()


def test_the_outbox_notes_the_first_hand_over(tmp_path: Path) -> None:
    store = StateStore(tmp_path / "state.sqlite")
    ledger = FleetLedger(CFG, store.path)
    store.writers.append(ledger)
    ledger.stage_unban("sshd", "203.0.113.1/32", NOW)
    store.commit([BatchCommit(jail=FLEET_POSITION)])
    (entry,) = ledger.pending(10)
    assert entry.sent_at is None
    ledger.mark_sent([entry], NOW)
    ledger.mark_sent(ledger.pending(10), NOW + 50)  # a retry keeps the first time
    assert [e.sent_at for e in ledger.pending(10)] == [NOW]
