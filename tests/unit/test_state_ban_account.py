"""A ban's account is a column of its ban row (state format 1): written and deleted
with the ban, so no account outlives its ban (format 0's ``ban_accounts`` rows were
never deleted, nor those of bans already over when a catch-up decided them)."""

from __future__ import annotations

import ipaddress
from pathlib import Path

from journalban.clock import FakeClock
from journalban.config.detectors import DenyUsersConfig, DetectorsConfig
from journalban.config.schema import JailConfig, RecidiveConfig
from journalban.decisions.engine import DecisionEngine
from journalban.decisions.ignore import IgnoreList
from journalban.events import FAILURE, Ban, Hit, LineBatch
from journalban.state.store import BatchCommit, StateStore

NOW = 1_800_000_000.0
NET = ipaddress.ip_network("203.0.113.9/32")


def _ban(account: str = "", at: float = NOW) -> Ban:
    return Ban("sshd", NET, at, at + 600, 1, "deny_user", 1, "journal", ("line",), account)


def _accounts(store: StateStore) -> list[tuple[str, str, str]]:
    rows = store.db.execute("SELECT jail, network, account FROM bans WHERE account IS NOT NULL")
    return [(str(j), str(n), str(a)) for j, n, a in rows]


def test_an_account_is_written_and_deleted_with_its_ban(tmp_path: Path) -> None:
    store = StateStore(tmp_path / "state.sqlite")
    store.commit([BatchCommit("sshd", bans=[_ban("oracle")])])
    assert store.ban_account("sshd", NET) == "oracle"
    assert _accounts(store) == [("sshd", "203.0.113.9/32", "oracle")]
    store.commit([BatchCommit("sshd", unbans=[_ban("oracle")])])
    assert store.ban_account("sshd", NET) is None
    assert store.db.execute("SELECT count(*) FROM bans").fetchone() == (0,)
    tables = {str(n) for (n,) in store.db.execute("SELECT name FROM sqlite_master")}
    assert "ban_accounts" not in tables
    store.close()


def test_a_ban_made_again_without_an_account_has_none(tmp_path: Path) -> None:
    store = StateStore(tmp_path / "state.sqlite")
    store.commit([BatchCommit("sshd", bans=[_ban("oracle")])])
    store.commit([BatchCommit("sshd", bans=[_ban("", NOW + 1000)])])
    assert store.ban_account("sshd", NET) is None
    assert _accounts(store) == []
    store.close()


def test_the_account_survives_a_restart_with_its_ban(tmp_path: Path) -> None:
    path = tmp_path / "state.sqlite"
    store = StateStore(path)
    store.commit([BatchCommit("sshd", bans=[_ban("oracle")])])
    store.close()
    again = StateStore(path)
    (ban,) = again.active_bans()
    assert (ban.jail, ban.network) == ("sshd", NET)
    assert again.ban_account("sshd", NET) == "oracle"
    again.close()


def _deny_engine(store: StateStore) -> DecisionEngine:
    engine = DecisionEngine(store, FakeClock(NOW), RecidiveConfig(enabled=False))
    cfg = JailConfig(
        name="sshd",
        bantime=3600.0,
        detectors=DetectorsConfig(deny_users=DenyUsersConfig(("root",))),
    )
    engine.configure({"sshd": cfg}, {"sshd": IgnoreList(cfg.ignoreip)})
    return engine


def _feed(engine: DecisionEngine, when: float) -> list[Ban]:
    hit: Hit = ("Failed password for root from 203.0.113.9", "203.0.113.9", when, "root", FAILURE)
    changes = engine.process_hits(
        "sshd", LineBatch("journal", [hit[0]], "c", prefixed=False), [hit]
    )
    engine.store.commit(changes.commits)
    return changes.bans


def test_a_ban_over_before_it_was_decided_leaves_no_row(tmp_path: Path) -> None:
    store = StateStore(tmp_path / "state.sqlite")
    engine = _deny_engine(store)
    assert _feed(engine, NOW - 7200) == [], "a catch-up: the ban ended an hour ago"
    assert store.db.execute("SELECT count(*) FROM bans").fetchone() == (0,)
    assert _accounts(store) == []
    assert store.db.execute("SELECT jail, network FROM history").fetchall() == [
        ("sshd", "203.0.113.9/32")
    ], "its history still counts for the increment and recidive"
    (ban,) = _feed(engine, NOW - 10)
    assert ban.account == "root"
    assert _accounts(store) == [("sshd", "203.0.113.9/32", "root")]
    store.close()
