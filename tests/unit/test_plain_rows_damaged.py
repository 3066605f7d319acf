"""The state's counters and resolved host names damaged in the file (by hand, by a disk):
skipped and counted in one warning, the other rows read (state/plainrows.py). Before, a
counter that was text raised TypeError at the jail's next batch, and a host name's
addresses that were not JSON stopped the start. Real SQLite files, damaged with SQLite."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from journalban.addresses import parse_address, parse_network
from journalban.config.schema import JailConfig
from journalban.events import LineBatch
from journalban.matching.engine import MATCHED, Outcome
from journalban.state.store import StateStore
from support.deciding import failure, jail_engine

NOW = 1_800_000_000.0


def test_damaged_counters_and_hostnames_are_skipped_and_counted_once(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "state.sqlite"
    store = StateStore(path)
    store.db.executemany(
        "INSERT INTO counters VALUES (?, ?, ?)",
        [("sshd", 40, 3), ("dovecot", "abc", 0), ("postfix", 5, -1), ("nginx", 1.5, 0),
         (b"\xff", 1, 1)],
    )  # fmt: skip
    store.db.executemany(
        "INSERT INTO hostnames VALUES (?, ?, ?)",
        [("good.example", '["192.0.2.1", "2001:db8::1"]', NOW), ("bad.example", "not json", NOW),
         ("text.example", '"192.0.2.2"', NOW), ("ints.example", "[1, 2]", NOW)],
    )  # fmt: skip
    store.db.commit()
    with caplog.at_level(logging.WARNING, logger="journalban.state"):
        assert store.counters() == {"sshd": (40, 3)}
        assert store.counters() == {"sshd": (40, 3)}  # (read by every query: warned once)
        assert store.known_hostnames() == {"good.example": ["192.0.2.1", "2001:db8::1"]}
    assert [r.getMessage() for r in caplog.records] == [
        "unreadable state rows: 4 stored row(s) of table counters could not be read and were "
        "skipped",
        "unreadable state rows: 3 stored row(s) of table hostnames could not be read and were "
        "skipped",
    ]
    store.close()


def test_a_jail_whose_counters_were_damaged_decides_and_counts_on(tmp_path: Path) -> None:
    path = tmp_path / "state.sqlite"
    store = StateStore(path)
    store.db.execute("INSERT INTO counters VALUES ('sshd', 'abc', 0)")
    store.db.commit()
    store.close()
    cfg = JailConfig(name="sshd", maxretry=2)
    engine = jail_engine(path, cfg)
    hits = [("203.0.113.5", NOW - 2), ("203.0.113.5", NOW - 1)]
    outcomes = [
        Outcome(MATCHED, i, parse_address(a), a, None, t, 0) for i, (a, t) in enumerate(hits)
    ]
    lines = [f"fail from {a}" for a, _ in hits]
    changes = engine.process("sshd", LineBatch("journal", lines, "c1", prefixed=False), outcomes)
    engine.store.commit(changes.commits)  # (the batch raised TypeError on the counter)
    assert [b.address for b in changes.bans] == ["203.0.113.5"]
    rt = engine.jails["sshd"]
    assert (rt.total_failed, rt.total_banned) == (2, 1)
    engine.store.close()


def test_a_damaged_ban_history_row_is_skipped_when_a_ban_reads_it(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """Every ban reads its network's past bans (the increment, recidive): a banned_at that is
    text (SQLite sorts text after every number: it met ``banned_at >= since``) raised
    ValueError in the middle of the batch; an infinite one counted as a ban for ever."""
    path = tmp_path / "state.sqlite"
    store = StateStore(path)
    store.db.executemany(
        "INSERT INTO history (network, jail, banned_at, expires_at, manual) VALUES (?, ?, ?, ?, 0)",
        [("203.0.113.5/32", "sshd", "abc", None), ("203.0.113.5/32", "sshd", 1e999, None),
         ("203.0.113.5/32", "sshd", NOW - 3600, NOW - 3000)],
    )  # fmt: skip
    store.db.commit()
    store.close()
    cfg = JailConfig(name="sshd", maxretry=1, bantime=600.0)
    engine = jail_engine(path, cfg)
    hits = [("203.0.113.5", NOW - 1)]
    outcomes = [
        Outcome(MATCHED, i, parse_address(a), a, None, t, 0) for i, (a, t) in enumerate(hits)
    ]
    with caplog.at_level(logging.WARNING, logger="journalban.state"):
        changes = engine.process(
            "sshd", LineBatch("journal", ["fail"], "c1", prefixed=False), outcomes
        )
    engine.store.commit(changes.commits)
    assert [b.address for b in changes.bans] == ["203.0.113.5"]
    assert [r.getMessage() for r in caplog.records] == [
        "unreadable state rows: 2 stored row(s) of table history could not be read and were skipped"
    ]
    assert engine.store.ban_history(parse_network("203.0.113.5/32"), NOW - 7200) == [
        ("sshd", NOW - 3600), ("sshd", NOW - 1),
    ]  # fmt: skip
    engine.store.close()


@pytest.mark.parametrize("damaged", ["not json", '"one line"', "[1, 2]", '{"a": 1}'])
def test_a_ban_whose_stored_lines_were_damaged_is_banned_again_by_hand(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, damaged: str
) -> None:
    """A ban restored at start comes back without its lines; a manual ban of the same network
    (and GetBanDetails) read them from its row. Lines that were not a JSON list of texts
    raised there (JSONDecodeError, or TypeError for a number): the call failed."""
    path = tmp_path / "state.sqlite"
    cfg = JailConfig(name="sshd", maxretry=1, bantime=600.0)
    engine = jail_engine(path, cfg)
    store = engine.store
    store.commit(failure(engine, "203.0.113.5", "fail").commits)
    network = parse_network("203.0.113.5")
    assert store.ban_lines("sshd", network) == ("fail",)
    store.db.execute("UPDATE bans SET lines = ?", (damaged,))
    store.db.commit()
    store.close()
    again = jail_engine(path, cfg)
    again.load_bans()
    with caplog.at_level(logging.WARNING, logger="journalban.state"):
        ban, made = again.manual_ban(
            "sshd", network, 3600.0, permanent=False, comment="by hand", force=False
        )
    again.store.commit(made.commits)
    assert (ban.network, ban.lines, ban.expires_at) == (network, (), NOW + 3600.0)
    assert "1 stored row(s) of table bans (lines)" in caplog.text
    again.store.close()
