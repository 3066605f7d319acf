"""What the engine keeps in memory: networks and ignore verdicts (never stale), ban lines (not)."""

from __future__ import annotations

from pathlib import Path

from journalban.addresses import parse_address
from journalban.clock import FakeClock
from journalban.config.schema import JailConfig, RecidiveConfig
from journalban.decisions.engine import DecisionEngine
from journalban.decisions.ignore import IgnoreList
from journalban.events import LineBatch
from journalban.matching.engine import MATCHED, Outcome
from journalban.state.store import StateStore

NOW = 1_800_000_000.0


def _fail(engine: DecisionEngine, address: str) -> list[str]:
    outcome = Outcome(MATCHED, 0, parse_address(address), address, None, NOW, 0)
    batch = LineBatch("journal", [f"fail from {address}"], "cursor", prefixed=False)
    changes = engine.process("sshd", batch, [outcome])
    engine.store.commit(changes.commits)
    return [b.address for b in changes.bans]


def _engine(tmp_path: Path, ignore: IgnoreList) -> DecisionEngine:
    engine = DecisionEngine(
        StateStore(tmp_path / "state.sqlite"), FakeClock(NOW), RecidiveConfig(enabled=False)
    )
    engine.configure({"sshd": JailConfig(name="sshd", maxretry=2)}, {"sshd": ignore})
    return engine


def test_host_name_resolved_later_ignores_an_address_seen_before(tmp_path: Path) -> None:
    ignore = IgnoreList(["office.example.org"])
    engine = _engine(tmp_path, ignore)
    assert _fail(engine, "203.0.113.7") == []
    ignore.update_hostnames({"office.example.org": ["203.0.113.7"]})
    assert _fail(engine, "203.0.113.7") == []
    assert engine.jails["sshd"].ignored_failures == 1


def test_new_ignore_list_on_reload_applies_to_addresses_seen_before(tmp_path: Path) -> None:
    engine = _engine(tmp_path, IgnoreList(["203.0.113.0/24"]))
    assert _fail(engine, "203.0.113.7") == []
    engine.configure({"sshd": JailConfig(name="sshd", maxretry=2)}, {"sshd": IgnoreList(())})
    assert _fail(engine, "203.0.113.7") == []
    assert _fail(engine, "203.0.113.7") == ["203.0.113.7"]


def test_committed_bans_keep_their_lines_in_the_state_only(tmp_path: Path) -> None:
    engine = _engine(tmp_path, IgnoreList(()))
    _fail(engine, "203.0.113.9")
    outcome = Outcome(MATCHED, 0, parse_address("203.0.113.9"), "203.0.113.9", None, NOW, 0)
    batch = LineBatch("journal", ["second fail from 203.0.113.9"], "cursor", prefixed=False)
    changes = engine.process("sshd", batch, [outcome])
    engine.store.commit(changes.commits)
    engine.forget_lines(changes.bans)
    (ban,) = changes.bans
    assert ban.lines == ("fail from 203.0.113.9", "second fail from 203.0.113.9")
    assert engine.bans[("sshd", ban.network)].lines == ()
    assert engine.store.ban_lines("sshd", ban.network) == ban.lines


def test_the_table_holds_a_decided_ban_without_its_lines_from_the_start(tmp_path: Path) -> None:
    """The commit and the news carry the lines; the table never copies a ban to drop them."""
    engine = _engine(tmp_path, IgnoreList(()))
    _fail(engine, "203.0.113.9")
    outcome = Outcome(MATCHED, 0, parse_address("203.0.113.9"), "203.0.113.9", None, NOW, 0)
    batch = LineBatch("journal", ["second fail from 203.0.113.9"], "cursor", prefixed=False)
    changes = engine.process("sshd", batch, [outcome])
    (ban,) = changes.bans
    held = engine.bans[("sshd", ban.network)]
    assert held.lines == ()
    assert held == ban
    assert (held.account, held.reason, held.failures) == (ban.account, ban.reason, ban.failures)
    assert engine.bans.texts_of("sshd")["203.0.113.9/32"] is held
    assert [b.lines for c in changes.commits for b in c.bans] == [ban.lines]
    engine.store.commit(changes.commits)
    engine.forget_lines(changes.bans)
    assert engine.bans[("sshd", ban.network)] is held
    # A ban by hand of the same network later keeps the lines, read from the state.
    manual, _ = engine.manual_ban(
        "sshd", ban.network, None, permanent=True, comment="", force=False
    )
    assert manual.lines == ban.lines == ("fail from 203.0.113.9", "second fail from 203.0.113.9")
