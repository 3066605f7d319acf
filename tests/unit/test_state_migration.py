"""State files of format 0 (before formats were numbered: a ``ban_accounts`` table)
and of format 1 (a detector row per key) open in this format with every row, in one
transaction; a later format is refused.

Real SQLite files throughout; the format 0 file is written by the schema SQL of
the version before (tests/support/state_v0.py).
"""

from __future__ import annotations

import hashlib
import ipaddress
import sqlite3
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from journalban.addresses import network_text
from journalban.errors import StateError, StateFormatError
from journalban.events import Ban
from journalban.state import detection, detectorlog, historylog, schema
from journalban.state.downgrade import downgrade
from journalban.state.store import BatchCommit, StateStore
from support import state_v0
from support.state_v0 import NOW, read_v0, write_v0


def _net(text: str) -> ipaddress.IPv4Network | ipaddress.IPv6Network:
    return ipaddress.ip_network(text)


def _version(path: Path) -> int:
    db = sqlite3.connect(path)
    try:
        return schema.version_of(db)
    finally:
        db.close()


def _assert_every_row_kept(store: StateStore) -> None:
    db = store.db
    assert schema.version_of(db) == schema.VERSION
    # The bans in the order written (rowid: the restore's order), each with its account.
    assert [(b.jail, network_text(b.network)) for b in store.active_bans()] == [
        (b[0], b[1]) for b in state_v0.BANS
    ]
    assert db.execute("SELECT jail, network, banned_at, expires_at, ban_count, reason, failures,"
                      " source, lines FROM bans").fetchall() == state_v0.BANS  # fmt: skip
    assert store.ban_account("sshd", _net("203.0.113.9/32")) == "oracle"
    assert store.ban_account("imap", _net("2001:db8:7::/64")) == "bob"
    assert store.ban_account("sshd", _net("198.51.100.0/24")) is None
    assert store.ban_account("sshd", _net("192.0.2.1/32")) is None
    assert store.ban_lines("sshd", _net("192.0.2.1/32"))[4].endswith("port 4")
    tables = {str(n) for (n,) in db.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    assert "ban_accounts" not in tables, "the virtual ban's account went with the table"
    assert sorted(db.execute("SELECT * FROM history")) == sorted(state_v0.HISTORY)
    assert store.ban_history(_net("2001:db8:7::/64"), NOW - 90_000) == [
        ("imap", NOW - 86_400),
        ("imap", NOW - 30),
    ]
    found = {(j, d, k, v) for j in ("sshd", "imap")
             for d, rows in detection.read_rows(db, j).items() for k, v in rows}  # fmt: skip
    assert found == set(state_v0.DETECTOR_ROWS)
    assert store.pending_failures("sshd") == [tuple(f) for f in state_v0.FAILURES]
    assert store.positions() == {(j, s): p for j, s, p in state_v0.POSITIONS}
    assert store.counters() == {j: (f, b) for j, f, b in state_v0.COUNTERS}
    assert store.known_hostnames() == {"mx.example.org": ["192.0.2.25"]}
    assert db.execute("PRAGMA integrity_check").fetchall() == [("ok",)]


def test_a_format_0_file_opens_with_every_ban_account_history_and_detector_row(
    tmp_path: Path,
) -> None:
    path = tmp_path / "state.sqlite"
    write_v0(path)
    assert _version(path) == 0
    store = StateStore(path)
    _assert_every_row_kept(store)
    # and it is written in format 1 from then on
    ban = Ban("sshd", _net("192.0.2.7/32"), NOW, NOW + 60, 1, "account", 1, "journal", (), "eve")
    store.commit([BatchCommit("sshd", bans=[ban])])
    assert store.ban_account("sshd", _net("192.0.2.7/32")) == "eve"
    store.close()


def _snapshot(path: Path) -> tuple[object, ...]:
    db = sqlite3.connect(path)
    try:
        tables = [
            str(n) for (n,) in db.execute("SELECT name FROM sqlite_master WHERE type='table'")
        ]
        rows = {t: db.execute(f"SELECT * FROM {t}").fetchall() for t in tables}  # noqa: S608
        master = db.execute("SELECT type, name, sql FROM sqlite_master ORDER BY name").fetchall()
        (cookie,) = db.execute("PRAGMA schema_version").fetchone()
        return rows, master, cookie, schema.version_of(db)
    finally:
        db.close()


def test_opening_a_migrated_file_again_changes_nothing(tmp_path: Path) -> None:
    path = tmp_path / "state.sqlite"
    write_v0(path)
    StateStore(path).close()
    first = _snapshot(path)
    again = StateStore(path)
    _assert_every_row_kept(again)
    again.close()
    assert _snapshot(path) == first, "no table, row or schema change the second time"


def test_a_crash_in_the_middle_of_the_migration_leaves_the_format_0_file(tmp_path: Path) -> None:
    path = tmp_path / "state.sqlite"
    write_v0(path)
    before = read_v0(path)
    # A process killed after the accounts moved into the bans and their table was
    # dropped, before the commit: no rollback runs, the journal is left behind.
    code = textwrap.dedent(f"""
        import os, sys
        from pathlib import Path
        from journalban.state import schema
        from journalban.state.store import StateStore
        schema.STEPS.insert(2, lambda cur: os._exit(9))
        StateStore(Path({str(path)!r}))
        sys.exit(0)
    """)
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, timeout=60)
    assert done.returncode == 9, done.stderr
    assert _version(path) == 0
    assert read_v0(path) == before, "the version before still reads every row"
    store = StateStore(path)
    _assert_every_row_kept(store)
    store.close()


def test_a_failed_migration_step_rolls_the_file_back(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "state.sqlite"
    write_v0(path)
    before = read_v0(path)

    def full(cur: sqlite3.Cursor) -> None:
        raise sqlite3.OperationalError("database or disk is full")

    monkeypatch.setattr(schema, "STEPS", [*schema.STEPS[:2], full, *schema.STEPS[2:]])
    with pytest.raises(StateError, match="disk is full"):
        StateStore(path)
    assert _version(path) == 0
    assert read_v0(path) == before


def test_a_later_format_is_refused_by_name_and_left_untouched(tmp_path: Path) -> None:
    path = tmp_path / "state.sqlite"
    write_v0(path)
    db = sqlite3.connect(path, isolation_level=None)
    db.execute(f"PRAGMA user_version = {schema.VERSION + 1}")
    db.execute("PRAGMA journal_mode=DELETE")  # the whole file in one place, to hash
    db.close()
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    with pytest.raises(StateFormatError, match=f"format {schema.VERSION + 1}, written by a later"):
        StateStore(path)
    assert hashlib.sha256(path.read_bytes()).hexdigest() == digest
    assert _version(path) == schema.VERSION + 1


def test_a_new_file_is_made_in_this_format(tmp_path: Path) -> None:
    store = StateStore(tmp_path / "state.sqlite")
    db = store.db
    assert schema.version_of(db) == schema.VERSION
    tables = {str(n): str(s) for n, s in db.execute(
        "SELECT name, sql FROM sqlite_master WHERE type = 'table'")}  # fmt: skip
    assert "ban_accounts" not in tables
    assert "account TEXT" in tables["bans"]
    store.close()


def test_an_early_file_without_the_later_tables_migrates(tmp_path: Path) -> None:
    """A file of an early version: bans and history only, failures one row each (the
    table before the failure log), no detector_state and no ban_accounts."""
    path = tmp_path / "state.sqlite"
    db = sqlite3.connect(path, isolation_level=None)
    db.execute(state_v0.SCHEMA_V0.split(";")[0])  # bans, as format 0 made it
    db.execute("CREATE TABLE failures (jail TEXT NOT NULL, network TEXT NOT NULL, time REAL)")
    db.execute("INSERT INTO bans VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)", state_v0.BANS[0])
    db.executemany("INSERT INTO failures VALUES ('sshd', ?, ?)", [f for f in state_v0.FAILURES])
    db.close()
    store = StateStore(path)
    assert schema.version_of(store.db) == schema.VERSION
    assert [network_text(b.network) for b in store.active_bans()] == ["203.0.113.9/32"]
    assert store.ban_account("sshd", _net("203.0.113.9/32")) is None
    assert store.pending_failures("sshd") == [tuple(f) for f in state_v0.FAILURES]
    tables = {str(n) for (n,) in store.db.execute("SELECT name FROM sqlite_master")}
    assert {"detector_state", "failure_log", "history"} <= tables
    assert not {"failures", "ban_accounts"} & tables
    store.close()


def test_a_format_1_file_opens_with_its_detector_rows_under_the_log(tmp_path: Path) -> None:
    """Format 1's tables (this format's, without the detectors' log) and rows: the detector
    rows stay in their table and are read as they were, then under the log's changes."""
    path = tmp_path / "state.sqlite"
    db = sqlite3.connect(path, isolation_level=None)
    for statement in schema.TABLES:
        if statement not in schema.V2_TABLES:
            db.execute(statement)
    db.execute("PRAGMA user_version = 1")
    ban = ("sshd", "203.0.113.9/32", NOW, NOW + 600, 1, "account", 5, "journal", "[]", "oracle")
    db.execute("INSERT INTO bans VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", ban)
    db.executemany("INSERT INTO detector_state VALUES (?, ?, ?, ?)", state_v0.DETECTOR_ROWS)
    db.close()
    store = StateStore(path)
    assert schema.version_of(store.db) == schema.VERSION
    assert [network_text(b.network) for b in store.active_bans()] == ["203.0.113.9/32"]
    assert store.ban_account("sshd", _net("203.0.113.9/32")) == "oracle"
    found = {(j, d, k, v) for j in ("sshd", "imap")
             for d, rows in detection.read_rows(store.db, j).items() for k, v in rows}  # fmt: skip
    assert found == set(state_v0.DETECTOR_ROWS)
    jail, detector, key = (str(c) for c in state_v0.DETECTOR_ROWS[0][:3])
    gone_and_new: list[detection.DetectorRow] = [(detector, key, None), (detector, "k2", "[2]")]
    store.commit([BatchCommit(jail, detector_rows=gone_and_new)])
    store.close()
    again = StateStore(path)
    found = {(j, d, k, v) for j in ("sshd", "imap")
             for d, rows in detection.read_rows(again.db, j).items() for k, v in rows}  # fmt: skip
    assert found == set(state_v0.DETECTOR_ROWS[1:]) | {(jail, detector, "k2", "[2]")}
    assert again.db.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
    again.close()


def test_a_file_goes_back_to_format_1_with_its_detector_rows(tmp_path: Path) -> None:
    path = tmp_path / "state.sqlite"
    store = StateStore(path)
    rows: list[detection.DetectorRow] = [
        (str(d), str(k), str(v)) for j, d, k, v in state_v0.DETECTOR_ROWS if j == "sshd"
    ]
    store.commit([BatchCommit("sshd", detector_rows=rows)])
    store.commit([BatchCommit("sshd", detector_rows=[(rows[0][0], rows[0][1], None)])])
    before = detectorlog.all_rows(store.db)
    store.close()
    detectorlog.unpack(str(path))  # (format 4 -> 3, 3 -> 2, then 2 -> 1)
    assert _version(path) == 3
    historylog.downgrade(str(path))
    assert _version(path) == 2
    detectorlog.downgrade(str(path))
    assert _version(path) == 1
    db = sqlite3.connect(path)
    assert sorted(db.execute("SELECT * FROM detector_state")) == sorted(before)
    assert len(before) == len(rows) - 1
    tables = {str(n) for (n,) in db.execute("SELECT name FROM sqlite_master")}
    assert "detector_log" not in tables
    db.close()
    again = StateStore(path)  # and up again
    assert sorted(detectorlog.all_rows(again.db)) == sorted(before)
    again.close()


def test_one_call_takes_a_file_back_step_by_step(tmp_path: Path) -> None:
    """``state.downgrade.downgrade(path, to)``: the same steps in order, each its own
    transaction; a file already in that format or an older one is left as it is."""
    path = tmp_path / "state.sqlite"
    store = StateStore(path)
    rows: list[detection.DetectorRow] = [
        (str(d), str(k), str(v)) for j, d, k, v in state_v0.DETECTOR_ROWS if j == "sshd"
    ]
    store.commit([BatchCommit("sshd", detector_rows=rows)])
    before = detectorlog.all_rows(store.db)
    store.close()
    with pytest.raises(ValueError, match="no state format 0"):
        downgrade(str(path), 0)
    downgrade(str(path), 2)
    assert _version(path) == 2
    db = sqlite3.connect(path)
    indexes = {str(n) for (n,) in db.execute("SELECT name FROM sqlite_master WHERE type = 'index'")}
    assert "history_network" in indexes  # (format 3's step back)
    db.close()
    downgrade(str(path), 3)  # (already older: unchanged)
    assert _version(path) == 2
    downgrade(str(path), 1)
    assert _version(path) == 1
    db = sqlite3.connect(path)
    assert sorted(db.execute("SELECT * FROM detector_state")) == sorted(before)
    db.close()
