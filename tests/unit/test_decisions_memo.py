"""What the engine keeps in memory: networks and ignore verdicts (never stale), ban lines (not)."""

from __future__ import annotations

from pathlib import Path

from journalban.config.schema import JailConfig
from journalban.decisions.ignore import IgnoreList
from support.deciding import fail, failure, sshd_engine


def test_host_name_resolved_later_ignores_an_address_seen_before(tmp_path: Path) -> None:
    ignore = IgnoreList(["office.example.org"])
    engine = sshd_engine(tmp_path, ignore)
    assert fail(engine, "203.0.113.7") == []
    ignore.update_hostnames({"office.example.org": ["203.0.113.7"]})
    assert fail(engine, "203.0.113.7") == []
    assert engine.jails["sshd"].ignored_failures == 1


def test_new_ignore_list_on_reload_applies_to_addresses_seen_before(tmp_path: Path) -> None:
    engine = sshd_engine(tmp_path, IgnoreList(["203.0.113.0/24"]))
    assert fail(engine, "203.0.113.7") == []
    engine.configure({"sshd": JailConfig(name="sshd", maxretry=2)}, {"sshd": IgnoreList(())})
    assert fail(engine, "203.0.113.7") == []
    assert fail(engine, "203.0.113.7") == ["203.0.113.7"]


def test_committed_bans_keep_their_lines_in_the_state_only(tmp_path: Path) -> None:
    engine = sshd_engine(tmp_path, IgnoreList(()))
    fail(engine, "203.0.113.9")
    changes = failure(engine, "203.0.113.9", "second fail from 203.0.113.9")
    engine.store.commit(changes.commits)
    engine.forget_lines(changes.bans)
    (ban,) = changes.bans
    assert ban.lines == ("fail from 203.0.113.9", "second fail from 203.0.113.9")
    assert engine.bans[("sshd", ban.network)].lines == ()
    assert engine.store.ban_lines("sshd", ban.network) == ban.lines


def test_the_table_holds_a_decided_ban_without_its_lines_from_the_start(tmp_path: Path) -> None:
    """The commit and the news carry the lines; the table never copies a ban to drop them."""
    engine = sshd_engine(tmp_path, IgnoreList(()))
    fail(engine, "203.0.113.9")
    changes = failure(engine, "203.0.113.9", "second fail from 203.0.113.9")
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
