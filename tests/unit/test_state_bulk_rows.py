"""A commit's rows in few statements (state.bulk, state.commitrows) leave the state as the
same rows written a statement per row and a transaction per batch: the same rows in every
table, the bans in the same rowid order (the restore's) and the failure log in the same
order, each source's last position, the counters added up, the last row of a key winning."""

from __future__ import annotations

import dataclasses
import json
import random
import sqlite3
from collections.abc import Sequence
from pathlib import Path

import pytest

from journalban.addresses import network_text
from journalban.events import Ban
from journalban.netobjects import host_v4_network
from journalban.state import bulk, commitrows, detectorlog, failurerows, schema
from journalban.state.store import BatchCommit, StateStore


def _table() -> sqlite3.Connection:
    db = sqlite3.connect(":memory:", isolation_level=None)
    db.execute(schema.DETECTOR_STATE)
    return db


@pytest.mark.parametrize("count", [0, 1, 2, 7, 8, 511, 512, 513, 1300])
def test_bulk_insert_writes_the_rows_one_by_one_would(count: int) -> None:
    rng = random.Random(count)
    # Keys repeat: an INSERT OR REPLACE keeps the last row of each, in either way.
    rows = [("sshd", "slow", f"k{rng.randrange(count or 1)}", f"[{n}]") for n in range(count)]
    ours, theirs = _table(), _table()
    bulk.insert(ours.cursor(), "INSERT OR REPLACE INTO detector_state", 4,
                [x for row in rows for x in row])  # fmt: skip
    theirs.executemany("INSERT OR REPLACE INTO detector_state VALUES (?, ?, ?, ?)", rows)
    query = "SELECT * FROM detector_state ORDER BY key"
    assert ours.execute(query).fetchall() == theirs.execute(query).fetchall()
    assert len(ours.execute(query).fetchall()) == len({row[2] for row in rows})


@pytest.mark.parametrize("count", [1, 7, 64, 65, 200])
def test_bulk_insert_binds_the_fixed_columns_once_per_statement(count: int) -> None:
    rows = [("sshd", "subnet", f"k{n % 50}", f"[{n}]") for n in range(count)]
    ours, theirs = _table(), _table()
    bulk.insert(ours.cursor(), "INSERT OR REPLACE INTO detector_state", 2,
                [x for row in rows for x in row[2:]], ("sshd", "subnet"))  # fmt: skip
    theirs.executemany("INSERT OR REPLACE INTO detector_state VALUES (?, ?, ?, ?)", rows)
    query = "SELECT * FROM detector_state ORDER BY key"
    assert ours.execute(query).fetchall() == theirs.execute(query).fetchall()
    text = bulk.statement("INSERT INTO t", 2, 2, 2)
    assert text == "INSERT INTO t VALUES (?1, ?2, ?3, ?4), (?1, ?2, ?5, ?6)"


@pytest.mark.parametrize("count", [1, 3, 512, 600])
def test_bulk_delete_deletes_exactly_the_keys_given(count: int) -> None:
    db = _table()
    db.executemany("INSERT INTO detector_state VALUES ('sshd', ?, ?, '1')",
                   [(d, f"k{n}") for d in ("slow", "subnet") for n in range(2 * count)])  # fmt: skip
    bulk.delete(db.cursor(), "DELETE FROM detector_state WHERE jail = ? AND detector = ? AND key IN",
                ("sshd", "slow"), [f"k{n}" for n in range(0, 2 * count, 2)])  # fmt: skip
    left = db.execute("SELECT detector, key FROM detector_state").fetchall()
    assert sorted(left) == sorted(
        [("slow", f"k{n}") for n in range(1, 2 * count, 2)]
        + [("subnet", f"k{n}") for n in range(2 * count)]
    )


def test_the_statements_are_made_once_per_size() -> None:
    a = bulk.statement("INSERT INTO t", 3, 64)
    assert a is bulk.statement("INSERT INTO t", 3, 64)
    assert a.count("?") == 192
    assert (
        bulk.statement("DELETE FROM t WHERE k IN", 0, 4) == "DELETE FROM t WHERE k IN (?, ?, ?, ?)"
    )


def _ban(
    n: int, at: float, lines: tuple[str, ...] = ("a line",), account: str = "", jail: str = "sshd"
) -> Ban:
    net = host_v4_network(0xC6336400 + n)  # 198.51.100.n
    return Ban(jail, net, at, at + 600, 1, "failures", 5, "journal", lines, account)


def _batches(rng: random.Random, count: int) -> list[BatchCommit]:
    """Batches that ban, ban again, unban and write detector rows, the same networks often."""
    out = []
    for n in range(count):
        at = 1_800_000_000.0 + n
        jails = ["sshd", "sshd", "recidive"]
        bans = [_ban(rng.randrange(40), at, (f"line {n}",), rng.choice(["", "root"]), rng.choice(jails))
                for _ in range(rng.randrange(0, 12))]  # fmt: skip
        unbans = [_ban(rng.randrange(40), at, jail=rng.choice(jails))
                  for _ in range(rng.randrange(0, 4))]  # fmt: skip
        rows = [(rng.choice(["slow", "subnet"]), f"k{rng.randrange(30)}",
                 None if rng.random() < 0.3 else f"[{n}]") for _ in range(rng.randrange(0, 20))]  # fmt: skip
        failures = [(f"198.51.100.{n % 7}/32", at)] if rng.random() < 0.8 else []
        cleared = ["198.51.100.3/32"] if rng.random() < 0.2 else []
        history = [(b, rng.random() < 0.1) for b in bans]
        if bans and rng.random() < 0.1:  # a stored ban without a history row of its own
            del history[rng.randrange(len(history))]
        for _ in range(rng.randrange(0, 3) if rng.random() < 0.3 else 0):  # bans already over
            over = _ban(rng.randrange(40), at - 900, jail=rng.choice(jails))
            history.insert(rng.randrange(len(history) + 1), (over, False))
        out.append(BatchCommit(
            rng.choice(["sshd", "postfix"]), source=rng.choice(["journal", "files:/x"]),
            position=f"c{n}" if rng.random() < 0.9 else None, new_failures=failures,
            cleared=cleared, bans=bans, unbans=unbans,
            history=history,
            failed_delta=rng.choice([0, 3]), banned_delta=len(bans), detector_rows=rows,
        ))  # fmt: skip
    return out


def _state(db: sqlite3.Connection) -> dict[str, list[tuple[object, ...]]]:
    queries = {
        "bans": "SELECT * FROM bans ORDER BY rowid",  # the rowid order: the restore's
        "history": "SELECT network, jail, banned_at, expires_at, manual FROM history",
        "counters": "SELECT * FROM counters",
        "positions": "SELECT * FROM positions ORDER BY jail, source",
        "failure_log": "SELECT jail, newest, cleared, failures FROM failure_log ORDER BY seq",
    }
    rows = {t: db.execute(q).fetchall() for t, q in queries.items()}
    rows["failure_log"] = [  # (format 4 packs the cleared networks: read back as the list)
        (j, n, json.dumps(failurerows.networks(c)), f) for j, n, c, f in rows["failure_log"]
    ]
    rows["history"].sort(key=repr)
    # (ours logs them, state.detectorlog: read back as the table format 1 held)
    rows["detector_state"] = sorted(detectorlog.all_rows(db))
    return rows


def _one_by_one(db: sqlite3.Connection, batches: list[BatchCommit]) -> None:
    """The batches as the store wrote them before state.bulk: a statement per row, in a
    transaction per batch (the reference the commits are compared with)."""
    for b in batches:
        db.execute("BEGIN")
        if b.position is not None:
            db.execute("INSERT OR REPLACE INTO positions (jail, source, position) VALUES (?, ?, ?)",
                       (b.jail, b.source, b.position))  # fmt: skip
        if b.cleared or b.new_failures:
            newest = max(max((t for _, t in b.new_failures), default=0.0),
                         max((ban.banned_at for ban, _ in b.history), default=0.0))  # fmt: skip
            db.execute("INSERT INTO failure_log (jail, newest, cleared, failures) VALUES (?, ?, ?, ?)",
                       (b.jail, newest, json.dumps(b.cleared), json.dumps(b.new_failures)))  # fmt: skip
        for ban in b.unbans:
            db.execute(
                "DELETE FROM bans WHERE jail = ? AND network = ?", (ban.jail, str(ban.network))
            )
        for ban in b.bans:
            db.execute("INSERT OR REPLACE INTO bans VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", (
                ban.jail, str(ban.network), ban.banned_at, ban.expires_at, ban.ban_count,
                ban.reason, ban.failures, ban.source, json.dumps(list(ban.lines)),
                ban.account or None))  # fmt: skip
        for ban, manual in b.history:
            db.execute("INSERT INTO history (network, jail, banned_at, expires_at, manual)"
                       " VALUES (?, ?, ?, ?, ?)",
                       (str(ban.network), ban.jail, ban.banned_at, ban.expires_at, int(manual)))  # fmt: skip
        for d, k, v in b.detector_rows:
            if v is None:
                db.execute("DELETE FROM detector_state WHERE jail = ? AND detector = ? AND key = ?",
                           (b.jail, d, k))  # fmt: skip
        for d, k, v in b.detector_rows:
            if v is not None:
                db.execute("INSERT OR REPLACE INTO detector_state VALUES (?, ?, ?, ?)",
                           (b.jail, d, k, v))  # fmt: skip
        if b.failed_delta or b.banned_delta:
            db.execute("INSERT INTO counters (jail, total_failed, total_banned) VALUES (?, ?, ?)"
                       " ON CONFLICT(jail) DO UPDATE SET total_failed = total_failed +"
                       " excluded.total_failed, total_banned = total_banned + excluded.total_banned",
                       (b.jail, b.failed_delta, b.banned_delta))  # fmt: skip
        db.execute("COMMIT")


@pytest.mark.parametrize("seed", range(6))
def test_a_commit_of_many_batches_ends_as_a_row_at_a_time(tmp_path: Path, seed: int) -> None:
    batches = _batches(random.Random(seed), 40)
    ours = StateStore(tmp_path / "ours.sqlite")
    assert ours.ban_history(_ban(0, 0.0).network, 0.0) == []  # (the rowids kept from now on)
    size = 8 if seed % 2 else 40  # (40: whole statements of bans and a rest)
    for start in range(0, len(batches), size):
        ours.commit(batches[start : start + size])
    theirs = sqlite3.connect(tmp_path / "theirs.sqlite", isolation_level=None)
    schema.create(theirs.cursor())  # (its detector rows a row per key: format 1's table)
    _one_by_one(theirs, batches)
    assert _state(ours.db) == _state(theirs)
    assert len(_state(ours.db)["bans"]) > 5
    # The history's networks are known (the store reads them once, then adds each commit's).
    for b in batches:
        for ban, manual in b.history:
            found = ours.ban_history(ban.network, 0.0)
            assert manual or (ban.jail, ban.banned_at) in found
    for n in range(40):  # (each commit's rowids, as the index answered: state.historylog)
        net = _ban(n, 0.0).network
        assert ours.ban_history(net, 0.0) == [(str(j), float(at)) for j, at in ours.db.execute(
            "SELECT jail, banned_at FROM history WHERE network = ? AND manual = 0"
            " ORDER BY banned_at, rowid", (network_text(net),))]  # fmt: skip
    ours.close()
    theirs.close()


@pytest.mark.parametrize(
    ("shape", "first", "second"),
    [
        ("one jail", 3, 3), ("two reasons", 3, 2), ("two sources", 3, 0), ("two jails", 3, 0),
        ("no lines", 4, 4), ("no lines but one", 4, 3), ("no lines, two reasons", 4, 2),
    ],
)  # fmt: skip
def test_a_statements_bans_of_one_jail_and_source_bind_them_once(
    tmp_path: Path, shape: str, first: int, second: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A statement of bans whose rows share their jail and source binds each once (``?1``,
    ``?2``), and their reason (``?3``) when they share it too, and then their lines
    (``?4``: a flood's bans of the detectors have none); one whose rows do not binds every
    row's; the rows are the same either way."""
    at = 1_800_000_000.0
    bans = []
    lineless = shape.startswith("no lines")
    for n in range(150):  # (statements of 64, 64, 16, 4 and 2 rows)
        ban = _ban(n, at + n, () if lineless else (f"line {n}",), "root" if n % 3 else "")
        if n == 100:  # (in the second statement)
            other = {
                "two reasons": {"reason": "account"},
                "no lines, two reasons": {"reason": "account"},
                "two sources": {"source": "files:/var/log/auth.log"},
                "two jails": {"jail": "recidive"},
                "no lines but one": {"lines": ("a line",)},
            }.get(shape, {})
            ban = dataclasses.replace(ban, **other)  # type: ignore[arg-type]
        bans.append(ban)
    batches = [BatchCommit("sshd", bans=bans, history=[(b, False) for b in bans])]
    shared: list[int] = []  # (the columns bound once, each statement)
    real = commitrows._bans_statement

    def spy(size: int, part: Sequence[object]) -> tuple[str, Sequence[object]]:
        text, values = real(size, part)
        shared.append((commitrows.BAN_COLUMNS * size - len(values)) // (size - 1))
        return text, values

    monkeypatch.setattr(commitrows, "_bans_statement", spy)
    ours = StateStore(tmp_path / "ours.sqlite")
    ours.commit(batches)
    theirs = sqlite3.connect(tmp_path / "theirs.sqlite", isolation_level=None)
    schema.create(theirs.cursor())
    _one_by_one(theirs, batches)
    assert _state(ours.db) == _state(theirs)
    assert len(_state(ours.db)["bans"]) == 150
    assert shared == [first, second, first, first, first]
    ours.close()
    theirs.close()


def test_a_ban_and_its_unban_in_one_commit_leave_no_row(tmp_path: Path) -> None:
    store = StateStore(tmp_path / "state.sqlite")
    first, again = _ban(1, 1_800_000_000.0), _ban(1, 1_800_000_100.0)
    store.commit([BatchCommit("sshd", bans=[first]), BatchCommit("sshd", unbans=[first])])
    assert store.active_bans() == []
    store.commit([BatchCommit("sshd", unbans=[first]), BatchCommit("sshd", bans=[again])])
    assert store.active_bans() == [again]
    store.close()


def test_the_statement_journal_of_many_rows_is_kept_in_memory(tmp_path: Path) -> None:
    """A statement of many rows journals the pages it changes; on a temporary file that was
    370 MB of writes on sshd-flood (state.store: temp_store=MEMORY)."""
    store = StateStore(tmp_path / "state.sqlite")
    assert store.db.execute("PRAGMA temp_store").fetchone() == (2,)
    store.close()


def test_an_expiry_of_many_bans_deletes_exactly_those(tmp_path: Path) -> None:
    store = StateStore(tmp_path / "state.sqlite")
    at = 1_800_000_000.0
    bans = [_ban(n, at, jail=jail) for jail in ("sshd", "recidive") for n in range(250)]
    store.commit([BatchCommit("sshd", bans=bans)])
    gone = [b for b in bans if b.network.network_address.packed[-1] % 3]  # two in three
    store.commit([BatchCommit("sshd", unbans=gone)])
    assert store.active_bans() == [b for b in bans if b not in gone]
    assert len(store.active_bans()) == 2 * 84
    store.close()


def test_new_bans_are_inserted_without_a_statement_journal(tmp_path: Path) -> None:
    """A statement of new bans is an OR IGNORE (no statement journal, state.commitrows); one
    with a ban already stored, or a network twice, is written again OR REPLACE: the rows
    end in the order a statement per ban gave them."""
    store = StateStore(tmp_path / "state.sqlite")
    statements: list[str] = []
    store.db.set_trace_callback(statements.append)
    at = 1_800_000_000.0
    store.commit([BatchCommit("sshd", bans=[_ban(n, at) for n in range(100)])])
    bans_written = [s for s in statements if s.startswith("INSERT") and " bans " in s]
    assert bans_written
    assert all(s.startswith("INSERT OR IGNORE INTO bans") for s in bans_written)
    assert not any(s.startswith("DELETE FROM bans") for s in statements)
    statements.clear()
    # 5 and 7 again, 150 twice in one commit, 5 again within it: the last of each wins, last.
    again = [_ban(5, at + 1), *(_ban(n, at + 1) for n in range(100, 160)), _ban(150, at + 2),
             _ban(7, at + 1), _ban(5, at + 3), _ban(160, at + 1)]  # fmt: skip
    store.commit([BatchCommit("sshd", bans=again[:30]), BatchCommit("sshd", bans=again[30:])])
    assert any(s.startswith("INSERT OR REPLACE INTO bans") for s in statements)
    order = [n for n in range(100) if n not in (5, 7)] + [
        *(n for n in range(100, 160) if n != 150),
        150,
        7,
        5,
        160,
    ]
    stored = store.active_bans()
    assert [b.network for b in stored] == [_ban(n, at).network for n in order]
    assert {b.network: b.banned_at for b in stored}[_ban(150, at).network] == at + 2
    assert {b.network: b.banned_at for b in stored}[_ban(5, at).network] == at + 3
    store.close()


@pytest.mark.parametrize("seed", range(4))
def test_history_rows_take_the_bans_texts_and_make_the_rest(seed: int) -> None:
    """A batch's bans among its history (in order, with bans already over between them,
    or a ban missing from it): each row has its own ban's network text."""
    rng = random.Random(seed)
    at = 1_800_000_000.0
    history = [(_ban(rng.randrange(60), at + n), rng.random() < 0.2) for n in range(80)]
    bans = [ban for ban, _ in history if rng.random() < 0.7]
    if seed % 2:
        bans.insert(rng.randrange(len(bans)), _ban(200, at))  # (not in the history)
    texts = [str(ban.network) for ban in bans]
    expected = [
        (str(ban.network), ban.jail, ban.banned_at, ban.expires_at, int(manual))
        for ban, manual in history
    ]
    assert commitrows.history_rows(history, bans, texts) == expected
    assert commitrows.history_rows(history, [], []) == expected


def test_a_new_state_file_has_16_kib_pages_and_one_written_before_keeps_its_own(
    tmp_path: Path,
) -> None:
    """A new file's pages hold a flood's index leaves in a quarter of the WAL frames
    (state.store PAGE_BYTES); a file written with SQLite's 4 KiB pages is read and written
    as it is (no VACUUM at a start)."""
    ban = _ban(1, 1_800_000_000.0)
    store = StateStore(tmp_path / "new.sqlite")
    assert store.db.execute("PRAGMA page_size").fetchone() == (16384,)
    store.commit([BatchCommit("sshd", bans=[ban], history=[(ban, False)])])
    store.close()
    old = sqlite3.connect(tmp_path / "old.sqlite", isolation_level=None)
    old.execute("PRAGMA journal_mode=WAL")
    schema.create(old.cursor())
    old.execute(f"PRAGMA user_version = {schema.VERSION}")
    old.close()
    for name in ("new.sqlite", "old.sqlite"):
        store = StateStore(tmp_path / name)
        store.commit([BatchCommit("sshd", bans=[_ban(2, 1_800_000_001.0)])])
        size = 16384 if name == "new.sqlite" else 4096
        assert store.db.execute("PRAGMA page_size").fetchone() == (size,)
        assert len(store.active_bans()) == (2 if name == "new.sqlite" else 1)
        store.close()


def test_a_batchs_other_history_rows_as_the_loop_finds_them() -> None:
    """``unstored_rows``'s look in C (history and bans the same objects, all automatic)
    gives what its loop gives, and the loop still takes every other case."""
    import ipaddress

    from journalban.events import Ban
    from journalban.state.commitrows import unstored_rows

    bans = [
        Ban("sshd", ipaddress.ip_network(f"192.0.2.{i}/32"), 10.0 + i, 70.0 + i) for i in range(4)
    ]
    twin = Ban("sshd", bans[1].network, 11.0, 71.0)  # equal to bans[1], another object
    over = Ban("sshd", ipaddress.ip_network("198.51.100.1/32"), 5.0, 6.0)
    auto = [(b, False) for b in bans]
    assert unstored_rows(auto, bans) == []
    assert unstored_rows([], []) == []
    assert unstored_rows([*auto[:2], (bans[2], True), auto[3]], bans) is None
    assert unstored_rows([auto[0], (twin, False), *auto[2:]], bans) is None
    assert unstored_rows([auto[0], (over, False), *auto[1:]], bans) == [
        ("198.51.100.1/32", "sshd", 5.0, 6.0, 0)
    ]
    assert unstored_rows(auto[:3], bans) is None


@pytest.mark.parametrize("native", [True, False])
def test_a_commits_new_bans_have_their_history_copied_in_one_statement(
    tmp_path: Path, native: bool
) -> None:
    """The history rows of a commit's new bans are copied from their rows once, after the
    last statement of them (not after each, state.commitrows), and before an unban deletes
    one of them: a ban unbanned later in the same commit keeps its history row. Either way
    of stepping the statements (state.nativecommit: SQLite traces those a job steps as
    ``-- `` and their text)."""
    store = StateStore(tmp_path / "state.sqlite")
    store.native_commit = native and store.native_commit
    statements: list[str] = []
    store.db.set_trace_callback(lambda text: statements.append(text.removeprefix("-- ")))
    at = 1_800_000_000.0

    def batch(first: int, count: int, unbans: list[Ban] | None = None) -> BatchCommit:
        bans = [_ban(n, at + first) for n in range(first, first + count)]
        return BatchCommit("sshd", bans=bans, history=[(b, False) for b in bans],
                           unbans=unbans or [])  # fmt: skip

    store.commit([batch(0, 50), batch(50, 50), batch(100, 50)])  # (several statements of bans)
    bans_written = [s for s in statements if s.startswith("INSERT OR IGNORE INTO bans")]
    copies = [s for s in statements if "FROM bans WHERE rowid >" in s]
    assert len(bans_written) > 2
    assert len(copies) == 1
    statements.clear()
    gone = _ban(160, at + 150)
    store.commit([batch(150, 30), batch(180, 30, unbans=[gone]), batch(210, 30)])
    copies = [s for s in statements if "FROM bans WHERE rowid >" in s]
    assert len(copies) == 2  # (the first batch's before the unban, the rest at the end)
    assert gone.network not in {b.network for b in store.active_bans()}
    assert store.ban_history(gone.network, 0.0) == [("sshd", at + 150)]
    (rows,) = store.db.execute("SELECT count(*) FROM history").fetchone()
    assert rows == 240
    assert [h[0] for h in store.db.execute("SELECT network FROM history ORDER BY rowid")] == [
        network_text(_ban(n, at).network) for n in range(240)
    ]
    store.close()


@pytest.mark.parametrize("top", [(1 << 63) - 1, (1 << 62) - 10])
def test_new_bans_past_the_contiguous_rowids_keep_their_history(tmp_path: Path, top: int) -> None:
    """A bans table whose largest rowid is SQLite's last (a row written with it) makes SQLite
    pick the next rowids at random, and one just below where ``copy_new`` copies a range
    makes the commit's rows cross it: the new bans' history rows are copied by their keys,
    not as a range of rowids, and none is lost."""
    store = StateStore(tmp_path / "state.sqlite")
    at = 1_800_000_000.0
    store.db.execute(
        "INSERT INTO bans (rowid, jail, network, banned_at, expires_at, ban_count, reason,"
        " failures, source, lines, account) VALUES (?, 'other', '192.0.2.1/32', ?, ?, 1,"
        " 'failures', 5, 'journal', '[]', '')",
        (top, at, at + 600),
    )
    bans = [_ban(n, at + n) for n in range(150)]
    store.commit([BatchCommit("sshd", bans=bans[:70], history=[(b, False) for b in bans[:70]]),
                  BatchCommit("sshd", bans=bans[70:], history=[(b, False) for b in bans[70:]])])  # fmt: skip
    rows = sorted(store.db.execute("SELECT network, jail, banned_at FROM history"))
    assert rows == sorted((network_text(b.network), "sshd", b.banned_at) for b in bans)
    for ban in bans[::37]:
        assert store.ban_history(ban.network, 0.0) == [("sshd", ban.banned_at)]
    store.close()
