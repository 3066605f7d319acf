"""The ban history as a log (state format 3, state.historylog): no index, rows found by rowid.

Real SQLite files throughout. Random commits and prunes are checked against the
history the rows say (a query of the whole table, as format 2's index answered
it), in the store that wrote them (its rowids kept as it commits) and in a
store opened again (read from the table); a format 2 file opens with every row;
a process killed in the middle of a commit or of the migration loses nothing
committed.
"""

from __future__ import annotations

import random
import sqlite3
import subprocess
import sys
import textwrap
from ipaddress import ip_network
from pathlib import Path

import pytest

from journalban.addresses import network_text
from journalban.errors import StateError
from journalban.events import Ban
from journalban.state import detection, detectorlog, historylog, schema
from journalban.state.store import BatchCommit, StateStore
from support import state_v0
from support.state_v0 import NOW

NETS = [ip_network(f"203.0.113.{n}/32") for n in range(12)] + [ip_network("2001:db8:7::/64")]
JAILS = ("sshd", "recidive", "imap")


def _expected(db: sqlite3.Connection, text: str, since: float) -> list[tuple[str, float]]:
    """Format 2's answer: its index's order (banned_at, then rowid)."""
    return [
        (str(j), float(at))
        for j, at in db.execute(
            "SELECT jail, banned_at FROM history WHERE network = ? AND banned_at >= ?"
            " AND manual = 0 ORDER BY banned_at, rowid",
            (text, since),
        )
    ]


def _check(store: StateStore, at: float) -> None:
    for net in NETS:
        for since in (0.0, at - 500, at - 100):
            found = store.ban_history(net, since)
            assert found == _expected(store.db, network_text(net), since), (net, since)


def _batch(rng: random.Random, at: float) -> BatchCommit:
    history = []
    for _ in range(rng.randrange(0, 30)):
        ban = Ban(rng.choice(JAILS), rng.choice(NETS), at - rng.randrange(0, 1000), None, 1,
                  "failures", 1, "journal")  # fmt: skip
        history.append((ban, rng.random() < 0.2))
    return BatchCommit(rng.choice(JAILS), history=history)


def test_random_commits_and_prunes_read_as_the_index_read_them(tmp_path: Path) -> None:
    rng = random.Random(3)
    path = tmp_path / "state.sqlite"
    store = StateStore(path)
    assert store.ban_history(NETS[0], 0.0) == []  # (the rowids read now: none)
    at = NOW
    for step in range(60):
        at += 50
        store.commit([_batch(rng, at) for _ in range(rng.randrange(1, 4))])
        if step % 7 == 6:  # the newest rows too, at times: rowids then taken again
            store.prune(at, {}, at - rng.randrange(0, 1200))
        _check(store, at)
        if step % 20 == 19:
            store.close()
            store = StateStore(path)  # the rowids read from the table
            _check(store, at)
    (rows,) = store.db.execute("SELECT count(*) FROM history").fetchone()
    assert rows > 100
    assert len({n for n in NETS if store.ban_history(n, 0.0)}) > 8
    store.close()


def test_a_failed_commit_leaves_the_rowids_as_the_table(tmp_path: Path) -> None:
    store = StateStore(tmp_path / "state.sqlite")
    first = Ban("sshd", NETS[0], NOW, None, 1, "failures", 1, "journal")
    store.commit([BatchCommit("sshd", history=[(first, False)])])
    assert store.ban_history(NETS[0], 0.0) == [("sshd", NOW)]

    class Broken:
        def write(self, cur: sqlite3.Cursor, batches: object) -> None:
            raise sqlite3.OperationalError("database or disk is full")

    store.writers.append(Broken())
    lost = Ban("sshd", NETS[1], NOW + 1, None, 1, "failures", 1, "journal")
    with pytest.raises(StateError, match="disk is full"):  # (rolled back)
        store.commit([BatchCommit("sshd", history=[(lost, False)])])
    store.writers.clear()
    assert network_text(NETS[1]) not in (store.history_networks or ())
    again = Ban("sshd", NETS[2], NOW + 2, None, 1, "failures", 1, "journal")
    store.commit([BatchCommit("sshd", history=[(again, False)])])  # (the rolled back rowid)
    assert store.ban_history(NETS[1], 0.0) == []
    assert store.ban_history(NETS[2], 0.0) == [("sshd", NOW + 2)]
    store.close()


def _format_2(path: Path) -> None:
    """Format 2's tables (this format's, and the history's index), with rows of each."""
    db = sqlite3.connect(path, isolation_level=None)
    db.execute("PRAGMA journal_mode=WAL")
    for statement in schema.TABLES:
        db.execute(statement)
    db.execute(historylog.INDEX)
    db.execute("PRAGMA user_version = 2")
    rows = state_v0.rows_at(NOW)
    bans = [(*b, a) for b, a in zip(rows["bans"], ("oracle", None, "bob", None), strict=True)]
    db.executemany("INSERT INTO bans VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", bans)
    db.executemany("INSERT INTO history VALUES (?, ?, ?, ?, ?)", rows["history"])
    db.execute(
        "INSERT INTO detector_log (jail, detector, whole, entries, changes)"
        " VALUES ('sshd', 'slow', 1, 1, ?)",
        (f'["203.0.113.77/32", "{rows["detector_state"][0][3]}"]',),
    )
    db.close()


def _assert_format_2_rows(store: StateStore) -> None:
    db = store.db
    assert [(b.jail, network_text(b.network)) for b in store.active_bans()] == [
        (b[0], b[1]) for b in state_v0.BANS
    ]
    assert sorted(db.execute("SELECT * FROM history")) == sorted(state_v0.HISTORY)
    assert store.ban_history(ip_network("2001:db8:7::/64"), NOW - 90_000) == [
        ("imap", NOW - 86_400),
        ("imap", NOW - 30),
    ]
    assert store.ban_history(ip_network("192.0.2.1/32"), 0.0) == []  # (manual)
    assert store.ban_history(ip_network("192.0.2.200/32"), 0.0) == [("sshd", NOW - 7200)]
    assert detection.read_rows(db, "sshd") == {
        "slow": [("203.0.113.77/32", str(state_v0.DETECTOR_ROWS[0][3]))]
    }
    assert store.ban_account("sshd", ip_network("203.0.113.9/32")) == "oracle"


def _indexes(path: Path) -> set[str]:
    db = sqlite3.connect(path)
    try:
        return {str(n) for (n,) in db.execute("SELECT name FROM sqlite_master WHERE type='index'")}
    finally:
        db.close()


def test_a_format_2_file_opens_with_every_row_and_goes_back(tmp_path: Path) -> None:
    path = tmp_path / "state.sqlite"
    _format_2(path)
    store = StateStore(path)
    assert schema.version_of(store.db) == schema.VERSION
    assert "history_network" not in _indexes(path)
    _assert_format_2_rows(store)
    more = Ban("imap", ip_network("2001:db8:7::/64"), NOW + 5, None, 3, "failures", 1, "journal")
    store.commit([BatchCommit("imap", history=[(more, False)])])
    assert store.ban_history(more.network, NOW) == [("imap", NOW + 5)]
    store.close()
    detectorlog.unpack(str(path))  # (format 4 -> 3, then 3 -> 2)
    historylog.downgrade(str(path))
    assert "history_network" in _indexes(path)
    db = sqlite3.connect(path)
    assert schema.version_of(db) == 2
    assert db.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
    db.close()


def test_a_process_killed_in_the_migration_leaves_the_format_2_file(tmp_path: Path) -> None:
    path = tmp_path / "state.sqlite"
    _format_2(path)
    code = textwrap.dedent(f"""
        import os
        from pathlib import Path
        from journalban.state import schema
        from journalban.state.store import StateStore
        drop = schema.migrate_v2
        def killed(cur):
            drop(cur)
            os._exit(9)
        schema.migrate_v2 = killed
        StateStore(Path({str(path)!r}))
    """)
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, timeout=60)
    assert done.returncode == 9, done.stderr
    assert "history_network" in _indexes(path)
    db = sqlite3.connect(path)
    assert schema.version_of(db) == 2
    db.close()
    store = StateStore(path)
    _assert_format_2_rows(store)
    store.close()


def test_a_process_killed_in_a_commit_keeps_the_history_committed(tmp_path: Path) -> None:
    """Killed after a commit's bans and their history rows (copied from theirs) went in,
    before its COMMIT: the rows of the commits before are there and found, the killed
    one's are not, and the next commit appends after them."""
    path = tmp_path / "state.sqlite"
    code = textwrap.dedent("""
        import os, sys
        from ipaddress import ip_network
        from pathlib import Path
        from journalban.events import Ban
        from journalban.state import commitrows, historylog
        from journalban.state.store import BatchCommit, StateStore
        store, now = StateStore(Path(sys.argv[1])), float(sys.argv[2])
        def ban(n, at):
            return Ban("sshd", ip_network(f"203.0.113.{n}/32"), at, at + 60, 1, "failures",
                       1, "journal")
        for step in range(3):
            bans = [ban(n, now + step) for n in range(40)]
            store.commit([BatchCommit("sshd", bans=bans, history=[(b, False) for b in bans])])
        store.ban_history(ip_network("203.0.113.1/32"), 0.0)  # (the rowids read)
        copy = historylog.copy_new
        def killed(*args):
            copy(*args)
            os._exit(9)
        commitrows.historylog.copy_new = killed
        late = [ban(n, now + 10) for n in range(40, 80)]
        store.commit([BatchCommit("sshd", bans=late, history=[(b, False) for b in late])])
    """)
    done = subprocess.run(
        [sys.executable, "-c", code, str(path), repr(NOW)], capture_output=True, timeout=60
    )
    assert done.returncode == 9, done.stderr
    store = StateStore(path)
    net = ip_network("203.0.113.1/32")
    assert store.ban_history(net, 0.0) == [("sshd", NOW), ("sshd", NOW + 1), ("sshd", NOW + 2)]
    assert {b.banned_at for b in store.active_bans()} == {NOW + 2}
    assert len(store.active_bans()) == 40
    again = Ban("sshd", net, NOW + 20, None, 2, "failures", 1, "journal")
    store.commit([BatchCommit("sshd", history=[(again, False)])])
    assert store.ban_history(net, NOW + 1) == [("sshd", NOW + 1), ("sshd", NOW + 2),
                                               ("sshd", NOW + 20)]  # fmt: skip
    (rows,) = store.db.execute("SELECT count(*) FROM history").fetchone()
    assert rows == 121
    store.close()
