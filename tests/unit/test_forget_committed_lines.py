"""Committed bans set with their lines are kept without them (decisions.forgetting); the
engine's own bans, put without them, are never looked up for it."""

from __future__ import annotations

from pathlib import Path

from journalban.addresses import parse_network
from journalban.decisions.engine import DecisionEngine
from journalban.decisions.ignore import IgnoreList
from support.deciding import fail, failure, sshd_engine


def _banned_by_failures(engine: DecisionEngine, address: str) -> None:
    fail(engine, address)
    changes = failure(engine, address, f"second fail from {address}")
    engine.store.commit(changes.commits)
    engine.forget_lines(changes.bans)


def test_a_manual_ban_with_lines_is_held_without_them_once_committed(tmp_path: Path) -> None:
    engine = sshd_engine(tmp_path, IgnoreList(()))
    _banned_by_failures(engine, "203.0.113.9")
    network = parse_network("203.0.113.9")
    manual, changes = engine.manual_ban("sshd", network, None, permanent=True, comment="",
                                        force=False)  # fmt: skip
    assert manual.lines  # read back from the state
    assert engine.bans[("sshd", network)] is manual
    assert engine.bans.lined == [manual]
    engine.store.commit(changes.commits)
    engine.forget_lines(changes.bans)
    held = engine.bans[("sshd", network)]
    assert held == manual
    assert held.lines == ()
    assert held is not manual
    assert (held.expires_at, held.ban_count, held.account) == (
        manual.expires_at, manual.ban_count, manual.account,
    )  # fmt: skip
    assert engine.bans.texts_of("sshd")["203.0.113.9/32"] is held
    assert engine.bans.lined == []
    assert engine.store.ban_lines("sshd", network) == manual.lines


def test_a_lined_ban_not_yet_committed_keeps_its_lines(tmp_path: Path) -> None:
    engine = sshd_engine(tmp_path, IgnoreList(()))
    _banned_by_failures(engine, "203.0.113.9")
    _banned_by_failures(engine, "203.0.113.10")
    first, first_changes = engine.manual_ban(
        "sshd", parse_network("203.0.113.9"), None, permanent=True, comment="", force=False
    )
    second, second_changes = engine.manual_ban(
        "sshd", parse_network("203.0.113.10"), None, permanent=True, comment="", force=False
    )
    engine.store.commit(first_changes.commits)
    engine.forget_lines(first_changes.bans)
    assert engine.bans[("sshd", first.network)].lines == ()
    assert engine.bans[("sshd", second.network)] is second
    assert second.lines
    assert engine.bans.lined == [second]
    engine.store.commit(second_changes.commits)
    engine.forget_lines(second_changes.bans)
    assert engine.bans[("sshd", second.network)].lines == ()
    assert engine.bans.lined == []


def test_a_lined_ban_replaced_before_its_commit_is_not_put_back(tmp_path: Path) -> None:
    engine = sshd_engine(tmp_path, IgnoreList(()))
    _banned_by_failures(engine, "203.0.113.9")
    network = parse_network("203.0.113.9")
    _, first_changes = engine.manual_ban("sshd", network, None, permanent=True,
                                         comment="", force=False)  # fmt: skip
    second, second_changes = engine.manual_ban("sshd", network, None, permanent=True,
                                               comment="again", force=False)  # fmt: skip
    engine.store.commit(first_changes.commits)
    engine.forget_lines(first_changes.bans)  # the table holds the second: left alone
    assert engine.bans[("sshd", network)] is second
    engine.store.commit(second_changes.commits)
    engine.forget_lines(second_changes.bans)
    held = engine.bans[("sshd", network)]
    assert held == second
    assert held.lines == ()
    assert held.reason == "again"
    assert engine.bans.lined == []


def test_the_engines_own_bans_are_never_listed(tmp_path: Path) -> None:
    engine = sshd_engine(tmp_path, IgnoreList(()))
    for n in range(1, 60):
        _banned_by_failures(engine, f"198.51.100.{n}")
    assert len(engine.bans) == 59
    assert engine.bans.lined == []
    assert all(ban.lines == () for ban in engine.bans.values())
