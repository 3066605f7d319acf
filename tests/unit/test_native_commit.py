"""A commit's statements stepped in C (state.nativecommit, state._commitext) leave the state
file as the Python path does: every table's rows, rowids included, after the same batches
(re-bans, IPv6, long lines, NULs and odd unicode in lines and jail names, empty groups); and
the extension refuses what it must: a closed connection, a token it does not hold, a job
run twice or while it runs, a statement of the wrong parameters, a call from a trigger."""

from __future__ import annotations

import gc
import os
import random
import sqlite3
import threading
import time
from contextlib import suppress
from pathlib import Path

import pytest

from journalban.addresses import parse_network
from journalban.errors import StateError
from journalban.events import Ban
from journalban.state import nativecommit
from journalban.state.store import BatchCommit, StateStore

needs_native = pytest.mark.skipif(nativecommit.JOB is None, reason="_commitext not built")
AT = 1_800_000_000.0
ODD = ["plain", "nul\x00in it", "é ü ✓", "\U0001f600 emoji", "quote \" back \\ slash",
       "tab\tnew\nline", "\x7f\x1b[31m", "x" * 5000]  # fmt: skip


def _network(n: int) -> str:
    if n % 3 == 0:  # (IPv6: a /64 or a host)
        return f"2001:db8:{n:x}::/64" if n % 2 else f"2001:db8::{n:x}/128"
    return f"10.{n >> 16 & 255}.{n >> 8 & 255}.{n & 255}/32"


def _ban(rng: random.Random, n: int, at: float, jail: str) -> Ban:
    lines = tuple(rng.choice(ODD) for _ in range(rng.randrange(0, 3)))
    return Ban(
        jail, parse_network(_network(n)), at, at + 600 if rng.random() < 0.9 else None,
        rng.randrange(1, 4), rng.choice(["failures", "slow", "subnet"]), rng.randrange(9),
        rng.choice(["journal", "files:/var/log/auth.log"]), lines, rng.choice(["", "root", "ü"]),
    )  # fmt: skip


def _batches(rng: random.Random, count: int, keys: int) -> list[BatchCommit]:
    """Batches whose bans repeat keys (re-bans, within a statement and across commits), some
    empty, some large (whole statements of 64 and a rest), unbans among them."""
    jails = ["sshd", "sshd", "jail ✓ \x00", "recidive"]
    out = []
    for n in range(count):
        at = AT + n
        jail = rng.choice(jails)
        many = rng.random() < 0.2
        bans = [_ban(rng, rng.randrange(keys), at, jail)
                for _ in range(rng.randrange(100, 300) if many else rng.randrange(0, 8))]  # fmt: skip
        unbans = [_ban(rng, rng.randrange(keys), at, jail) for _ in range(rng.randrange(0, 2))]
        history = [(b, rng.random() < 0.05) for b in bans]
        if rng.random() < 0.2:  # a ban already over
            history.append((_ban(rng, rng.randrange(keys), at - 900, jail), False))
        out.append(BatchCommit(
            jail, source=rng.choice(["journal", "files:/x ü"]),
            position=f"c{n}" if rng.random() < 0.8 else None,
            new_failures=[(_network(n % 9), at)] if rng.random() < 0.5 else [],
            bans=bans, unbans=unbans, history=history, failed_delta=rng.choice([0, 2]),
            banned_delta=len(bans),
            detector_rows=[("slow", f"k{rng.randrange(20)}", rng.choice([None, "[1]"]))
                           for _ in range(rng.randrange(0, 4))],
        ))  # fmt: skip
    return out


def _tables(db: sqlite3.Connection) -> dict[str, list[tuple[object, ...]]]:
    names = [n for (n,) in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")]
    assert "bans" in names
    assert "history" in names
    rows = {}
    for name in names:
        try:
            rows[name] = db.execute(f"SELECT rowid, * FROM {name} ORDER BY rowid").fetchall()  # noqa: S608
        except sqlite3.OperationalError:  # (WITHOUT ROWID: in its key's order)
            rows[name] = db.execute(f"SELECT * FROM {name}").fetchall()  # noqa: S608
    return rows


def _run(
    path: Path, groups: list[list[BatchCommit]], native: bool
) -> dict[str, list[tuple[object, ...]]]:
    store = StateStore(path)
    assert not native or store.native_commit
    store.native_commit = native
    store.ban_history(parse_network("192.0.2.1/32"), 0.0)  # (the history's rowids kept)
    for group in groups:
        store.commit(group)
    known = dict(store._history.rowids) if store._history is not None else None
    rows = _tables(store.db)
    store.close()
    rows["known history"] = sorted(known.items(), key=repr) if known is not None else []
    return rows


@needs_native
@pytest.mark.parametrize("seed", range(8))
def test_c_leaves_every_table_as_python_does(tmp_path: Path, seed: int) -> None:
    rng = random.Random(seed)
    batches = _batches(rng, 60, keys=[30, 400, 5000][seed % 3])
    size = [1, 7, 60][seed % 3]
    groups = [batches[at : at + size] for at in range(0, len(batches), size)] + [[]]
    ours = _run(tmp_path / "c.sqlite", groups, native=True)
    theirs = _run(tmp_path / "python.sqlite", groups, native=False)
    assert ours == theirs
    assert len(ours["bans"]) > 10


@needs_native
def test_a_rebans_statement_stops_the_job_and_python_writes_it(tmp_path: Path) -> None:
    """A statement of new bans that met a stored key: the job stops after it, the Python side
    writes it again (``_bans_again``) and the job goes on; the rows as Python's."""
    rng = random.Random(7)
    first = [_ban(rng, n, AT, "sshd") for n in range(200)]
    again = [_ban(rng, n, AT + 1, "sshd") for n in range(150, 400)]  # (50 stored keys)

    def group(bans: list[Ban]) -> list[BatchCommit]:
        return [BatchCommit("sshd", bans=bans, history=[(b, False) for b in bans])]

    runs: list[int] = []
    real_run = nativecommit.run

    def counted(cur: sqlite3.Cursor, job: nativecommit.Job, expect: int) -> list[tuple[int, int]]:
        ran = real_run(cur, job, expect)
        runs.append(len(ran))
        return ran

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(nativecommit, "run", counted)
        ours = _run(tmp_path / "c.sqlite", [group(first), group(again)], native=True)
    theirs = _run(tmp_path / "python.sqlite", [group(first), group(again)], native=False)
    assert ours == theirs
    assert len(ours["bans"]) == 400
    assert runs == [4, 1, 6]  # (the second commit's job stopped after its first statement)


@needs_native
def test_the_bans_rowids_past_the_contiguous_ones_leave_c_to_python(tmp_path: Path) -> None:
    rng = random.Random(3)
    bans = [_ban(rng, n, AT, "sshd") for n in range(130)]
    rows = {}
    for native in (True, False):
        store = StateStore(tmp_path / f"{native}.sqlite")
        store.native_commit = native
        store.db.execute(
            "INSERT INTO bans (rowid, jail, network, banned_at, expires_at, ban_count, reason,"
            " failures, source, lines, account) VALUES (?, 'other', '192.0.2.1/32', 1.0, 2.0, 1,"
            " 'failures', 5, 'journal', '[]', '')", ((1 << 62) - 10,))  # fmt: skip
        store.commit([BatchCommit("sshd", bans=bans, history=[(b, False) for b in bans])])
        rows[native] = sorted(store.db.execute("SELECT network, jail, banned_at FROM history"))
        store.close()
    assert rows[True] == rows[False]
    assert len(rows[True]) == 130


def _connection(tmp_path: Path) -> sqlite3.Connection:
    store = StateStore(tmp_path / "state.sqlite")
    assert store.native_commit
    return store.db


@needs_native
def test_a_job_runs_its_statements_and_says_what_they_did(tmp_path: Path) -> None:
    db = _connection(tmp_path)
    db.execute("CREATE TABLE t (a, b)")
    job = nativecommit.job([
        ("INSERT INTO t VALUES (?, ?)", ["x\x00y", b"\x00\x01"], -1),
        ("INSERT INTO t VALUES (?1, ?2), (?1, ?3)", [None, 1.5, 2**62], -1),
    ])  # fmt: skip
    assert job is not None
    assert nativecommit.run(db.cursor(), job, -1) == [(1, 1), (2, 3)]
    assert job.left == 0
    assert db.execute("SELECT a, b FROM t ORDER BY rowid").fetchall() == [
        ("x\x00y", b"\x00\x01"),
        (None, 1.5),
        (None, 2**62),
    ]
    with pytest.raises(sqlite3.OperationalError, match="the job has run"):
        nativecommit.run(db.cursor(), job, -1)


@needs_native
def test_what_a_job_cannot_bind_is_left_to_python() -> None:
    class Text(str):
        __slots__ = ()

    assert nativecommit.job([("SELECT ?", [Text("a")], -1)]) is None
    assert nativecommit.job([("SELECT ?", [True], -1)]) is None
    assert nativecommit.job([("SELECT ?", [2**64], -1)]) is None
    assert nativecommit.job([("SELECT ?", [bytearray(b"a")], -1)]) is None
    assert nativecommit.job([("SELECT ?", ["\ud800"], -1)]) is None  # (no UTF-8 of it)
    job_type = nativecommit.JOB
    assert job_type is not None
    with pytest.raises(TypeError):
        job_type([("SELECT ?", "not a list", -1)])


@needs_native
def test_the_extension_refuses_what_it_must(tmp_path: Path) -> None:
    db = _connection(tmp_path)
    db.execute("CREATE TABLE t (a)")
    run = nativecommit.RUN
    with pytest.raises(sqlite3.OperationalError, match="no such job"):
        db.execute(run, (987654321, -1))
    with pytest.raises(sqlite3.OperationalError, match="two integers"):
        db.execute(run, ("1", -1))
    wrong = nativecommit.job([("INSERT INTO t VALUES (?)", [1, 2], -1)])
    assert wrong is not None
    with pytest.raises(sqlite3.Error, match="has 1 parameters, 2 given"):
        nativecommit.run(db.cursor(), wrong, -1)
    assert wrong.left == 0  # (failed: never run again)
    two = nativecommit.job([("INSERT INTO t VALUES (1); DELETE FROM t", [], -1)])
    assert two is not None
    with pytest.raises(sqlite3.Error, match="more than one"):
        nativecommit.run(db.cursor(), two, -1)
    rows = nativecommit.job([("SELECT 1", [], -1)])
    assert rows is not None
    with pytest.raises(sqlite3.Error, match="returned rows"):
        nativecommit.run(db.cursor(), rows, -1)
    assert db.execute("SELECT count(*) FROM t").fetchone() == (0,)
    # Not from a trigger (SQLITE_DIRECTONLY): only the store's own statement runs a job.
    job = nativecommit.job([("INSERT INTO t VALUES (5)", [], -1)])
    assert job is not None
    db.execute(
        f"CREATE TRIGGER x AFTER DELETE ON t BEGIN SELECT journalban_commit_run({job.token}, -1); END"
    )
    db.execute("INSERT INTO t VALUES (1)")
    with pytest.raises(sqlite3.OperationalError, match="unsafe use"):
        db.execute("DELETE FROM t")
    assert job.left == 1
    # A closed connection: refused by the sqlite3 module, nothing of C reached.
    cur = db.cursor()
    db.close()
    with pytest.raises(sqlite3.ProgrammingError, match="closed"):
        nativecommit.run(cur, job, -1)
    assert job.left == 1


@needs_native
def test_a_failed_statement_rolls_the_commit_back(tmp_path: Path) -> None:
    store = StateStore(tmp_path / "state.sqlite")
    store.db.execute(
        "CREATE TRIGGER no AFTER INSERT ON failure_log BEGIN SELECT RAISE(FAIL, 'full'); END"
    )
    rng = random.Random(1)
    bans = [_ban(rng, n, AT, "sshd") for n in range(100)]
    batch = BatchCommit("sshd", position="c1", new_failures=[("192.0.2.9/32", AT)], bans=bans,
                        history=[(b, False) for b in bans])  # fmt: skip
    with pytest.raises(StateError, match="full"):
        store.commit([batch])
    assert store.db.execute("SELECT count(*) FROM bans").fetchone() == (0,)
    assert store.positions() == {}
    store.db.execute("DROP TRIGGER no")
    store.commit([batch])
    assert store.db.execute("SELECT count(*) FROM bans").fetchone() == (100,)
    store.close()


@needs_native
def test_a_thread_runs_python_while_a_job_runs(tmp_path: Path) -> None:
    """A job's statements run without the GIL (the sqlite3 module's step lets it go, and the
    extension never takes it): a thread waiting for the GIL runs while the job does."""
    db = _connection(tmp_path)
    db.execute("CREATE TABLE t (a, b)")
    fill = ("WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < ?)"
            " INSERT INTO t SELECT x, randomblob(64) FROM c")  # fmt: skip
    job = nativecommit.job([(fill, [300_000], -1)])
    assert job is not None
    go = threading.Event()
    ran_at: list[float] = []

    def wait() -> None:
        go.wait()
        ran_at.append(time.monotonic())

    thread = threading.Thread(target=wait)
    thread.start()
    go.set()
    assert nativecommit.run(db.cursor(), job, -1) == [(300_000, 300_000)]
    done_at = time.monotonic()
    thread.join()
    assert ran_at
    assert ran_at[0] < done_at


def test_the_switch_off_leaves_the_statements_to_python(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(nativecommit, "JOB", None)
    store = StateStore(tmp_path / "state.sqlite")
    assert not store.native_commit
    with pytest.raises(sqlite3.OperationalError, match="no such function"):
        store.db.execute(nativecommit.RUN, (1, -1))
    store.close()


def _open_files(path: Path) -> int:
    found = 0
    for fd in os.listdir("/proc/self/fd"):
        with suppress(OSError):  # (the listing's own)
            found += str(path) in os.readlink(f"/proc/self/fd/{fd}")
    return found


@needs_native
def test_the_kept_statements_go_before_the_connection_closes(tmp_path: Path) -> None:
    """The extension keeps its statements prepared between jobs; the store finalizes them
    before it closes its connection (``close``, or collected unclosed): no file is left
    open by a connection kept as SQLite's zombie."""
    rng = random.Random(5)
    for closed in (True, False):
        path = tmp_path / f"{closed}.sqlite"
        store = StateStore(path)
        bans = [_ban(rng, n, AT, "sshd") for n in range(100)]
        store.commit([BatchCommit("sshd", bans=bans, history=[(b, False) for b in bans])])
        assert _open_files(path) > 0
        if closed:
            store.close()
        del store
        gc.collect()
        assert _open_files(path) == 0


@needs_native
def test_a_jobs_statement_cannot_run_a_job_nor_release(tmp_path: Path) -> None:
    db = _connection(tmp_path)
    db.execute("CREATE TABLE t (a)")
    inner = nativecommit.job([("INSERT INTO t VALUES (1)", [], -1)])
    assert inner is not None
    for sql in (f"INSERT INTO t SELECT journalban_commit_run({inner.token}, -1)",
                "INSERT INTO t SELECT journalban_commit_release()"):  # fmt: skip
        outer = nativecommit.job([("INSERT INTO t VALUES (0)", [], -1), (sql, [], -1)])
        assert outer is not None
        with pytest.raises(sqlite3.Error, match="called by a job's statement"):
            nativecommit.run(db.cursor(), outer, -1)
    assert inner.left == 1
    assert db.execute("SELECT count(*) FROM t").fetchone() == (2,)  # (autocommit: each first)
