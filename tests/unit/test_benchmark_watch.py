"""bench_watch: how the agent benchmarks feed a tool and see it finish.

The kernel copy appends every byte after what the log held; the commit watch
sleeps until a real SQLite database in WAL mode is written by another process
and then reads the committed position (no timer: it looks only after writes);
the CPU standstill finds the first sample that reached the final CPU time; a
stopped process is waited for until it is gone.
"""

from __future__ import annotations

import itertools
import os
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parents[1] / "benchmarks"))

from bench_watch import IDLE_FOR, CommitWatch, append, cpu_standstill, wait_gone, warm
from walindex import WalIndex


def test_append_copies_every_byte_after_what_the_log_held(tmp_path: Path) -> None:
    corpus = tmp_path / "corpus.log"
    block = bytes(range(256)) * 4096  # 1 MiB, every byte value
    corpus.write_bytes(block * 5 + b"tail without a newline")
    log = tmp_path / "log"
    log.write_bytes(b"already there\n")
    assert append(corpus, log) == corpus.stat().st_size
    assert log.read_bytes() == b"already there\n" + corpus.read_bytes()
    assert append(corpus, log) == corpus.stat().st_size  # and again, after it
    assert log.read_bytes() == b"already there\n" + corpus.read_bytes() * 2


def test_append_of_an_empty_corpus_changes_nothing(tmp_path: Path) -> None:
    corpus = tmp_path / "empty"
    corpus.touch()
    log = tmp_path / "log"
    log.write_bytes(b"x")
    assert append(corpus, log) == 0
    assert log.read_bytes() == b"x"


def test_warm_reads_every_byte_of_files_and_of_the_files_in_a_directory(tmp_path: Path) -> None:
    log = tmp_path / "corpus.log"
    log.write_bytes(b"x" * 3_000_000)
    journal = tmp_path / "journal"
    (journal / "nested").mkdir(parents=True)  # not descended into: the files beside it are
    (journal / "a.journal").write_bytes(b"a" * 100)
    (journal / "b.journal").write_bytes(b"")
    (journal / "nested" / "c.journal").write_bytes(b"c" * 7)
    assert warm([log, journal]) == 3_000_000 + 100
    assert log.read_bytes() == b"x" * 3_000_000  # read, not changed


WAIT = 20.0

WRITER = """
import sqlite3, sys, time
db = sqlite3.connect(sys.argv[1], isolation_level=None)
spill = sys.argv[2] == "spill"
if spill:  # a page cache of 2 pages: the transaction's pages go to the WAL as it runs
    db.execute("PRAGMA cache_size=2")
for n in range(1, 6):
    time.sleep(0.1)
    db.execute("BEGIN")
    for _ in range(20 if spill else 1):  # spill: 20 writes of frames over 100 ms, unpublished
        db.executemany("INSERT INTO filler VALUES (?)", [(b"x" * 4000,)] * (5 if spill else 50))
        if spill:
            time.sleep(0.005)
    db.execute("UPDATE positions SET position = ? WHERE jail = 'j'", (str(n),))
    before = time.time()
    db.execute("COMMIT")
    print(before, time.time(), flush=True)
sys.stdin.readline()  # no write after the last commit (closing would checkpoint) until told
"""


def _positions_db(tmp_path: Path, *setup: str) -> tuple[Path, Path, sqlite3.Connection]:
    """A state directory and its WAL database with the agent's positions table, ``j`` at
    '0', and ``setup``'s statements run after: (directory, database, connection)."""
    state = tmp_path / "state"
    state.mkdir()
    path = state / "state.db"
    db = sqlite3.connect(path, isolation_level=None)
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("CREATE TABLE positions (jail TEXT PRIMARY KEY, position TEXT)")
    db.execute("INSERT INTO positions VALUES ('j', '0')")
    for statement in setup:
        db.execute(statement)
    return state, path, db


def watch_commits(tmp_path: Path, mode: str) -> tuple[CommitWatch, list[list[float]], float]:
    """A real SQLite database in WAL mode, committed to by another process five times
    (``mode``: "big", commits of 50 pages; "spill", transactions whose pages reach the
    WAL over 100 ms before they commit), followed by a CommitWatch until it reads the
    last position: the watch, each commit's (start, end) and when the last was seen."""
    state, path, db = _positions_db(tmp_path, "CREATE TABLE filler (data BLOB)")
    with CommitWatch(state, path) as watch:
        assert watch.position("j") == "0"
        assert watch.position("other") is None
        writer = subprocess.Popen(
            [sys.executable, "-c", WRITER, str(path), mode],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
        )  # fmt: skip
        assert writer.stdin is not None
        assert writer.stdout is not None
        try:
            deadline = time.monotonic() + 60
            while watch.position("j") != "5":
                assert time.monotonic() < deadline, "the last commit was not seen"
                watch.wait(WAIT)  # a publish missed would cost the whole wait
            seen = time.time()
            writer.stdin.write("\n")
            writer.stdin.flush()
            committed = [[float(t) for t in line.split()] for line in writer.stdout]
        finally:
            writer.kill()
            writer.wait()
            writer.stdin.close()
            writer.stdout.close()
    db.close()
    assert len(committed) == 5
    return watch, committed, seen


def test_commit_watch_reads_the_position_once_per_commit_and_sees_the_last(
    tmp_path: Path,
) -> None:
    watch, committed, seen = watch_commits(tmp_path, "big")
    assert seen >= committed[-1][0]  # after the last commit began
    assert seen - committed[-1][1] < 10.0  # not a wait run out: the publish was seen
    # A query only when a commit was published: the two before the writer started,
    # one once the WAL index is open, one per commit (fewer if two came between looks).
    assert watch.wakes >= 1
    assert 2 + 2 <= watch.looks <= 2 + 1 + 5


def test_commit_watch_reads_a_commit_written_over_many_wakes_once(tmp_path: Path) -> None:
    """A transaction's frames reach the WAL long before its commit (many writes, many
    inotify events, over 100 ms): looked at again while they are unpublished, queried
    once, when the commit is (the watch before queried after every wake)."""
    watch, committed, seen = watch_commits(tmp_path, "spill")
    assert seen >= committed[-1][0]
    assert seen - committed[-1][1] < 10.0
    assert watch.wakes + watch.settles >= 5 * 10  # it was woken during the transactions
    assert watch.looks <= 2 + 1 + 5


def test_commit_watch_queries_nothing_for_a_checkpoint(tmp_path: Path) -> None:
    """A checkpoint writes the database file and publishes no commit: it wakes the watch
    not (the watch is on the WAL) and costs no query (the watch before woke and queried)."""
    state, path, db = _positions_db(tmp_path, "PRAGMA wal_autocheckpoint=0")
    db.executemany("INSERT INTO positions VALUES (?, 'x')", [(str(n),) for n in range(2000)])
    with CommitWatch(state, path) as watch:
        assert watch.position("j") == "0"
        watch.wait(0.0)  # the WAL index opened by that first query: looked at once more
        assert watch.position("j") == "0"
        looks = watch.looks
        assert db.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()[2] > 0  # pages copied
        assert watch.wait(0.2) is False
        assert watch.position("j") == "0"
        assert (watch.looks, watch.wakes) == (looks, 0)
        db.execute("UPDATE positions SET position = '1' WHERE jail = 'j'")
        assert watch.wait(5.0) is True
        assert watch.position("j") == "1"
        assert watch.looks == looks + 1
    db.close()


def test_wal_index_tells_frames_written_from_a_commit_published(tmp_path: Path) -> None:
    """Read from outside as SQLite's WAL format has it: a transaction's frames in the WAL
    before its commit (spilled from a 2-page cache), the index header unchanged until the
    commit (a restart of the WAL changes it, and its old frames are not unpublished ones);
    then a new header and nothing unpublished."""
    path = tmp_path / "state.db"
    writer = sqlite3.connect(path, isolation_level=None)
    writer.execute("PRAGMA journal_mode=WAL")
    writer.execute("PRAGMA cache_size=2")
    writer.execute("CREATE TABLE filler (data BLOB)")
    reader = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    assert reader.execute("SELECT count(*) FROM filler").fetchone() == (0,)
    index = WalIndex(path)
    try:
        for round_ in range(3):
            published = index.header()
            assert not index.writing(published)
            writer.execute("BEGIN")
            writer.executemany("INSERT INTO filler VALUES (?)", [(b"x" * 4000,)] * 20)
            during = index.header()  # frames written, not published
            assert during == published or round_ > 0  # a restart publishes its new salts
            assert index.writing(during)
            writer.execute("COMMIT")
            assert index.header() != during
            assert not index.writing(index.header())
            assert reader.execute("SELECT count(*) FROM filler").fetchone() == ((round_ + 1) * 20,)
            # The whole WAL into the database: the next transaction restarts the WAL.
            writer.execute("PRAGMA wal_checkpoint(TRUNCATE)" if round_ else "PRAGMA wal_checkpoint")
    finally:
        reader.close()
        writer.close()
        index.close()


def test_commit_watch_times_out_without_writes(tmp_path: Path) -> None:
    with CommitWatch(tmp_path, tmp_path / "missing.db") as watch:
        assert watch.position("j") is None  # no database yet
        began = time.monotonic()
        assert watch.wait(0.05) is False
        assert time.monotonic() - began >= 0.04


class FakeClock:
    """A clock that moves only when slept on."""

    def __init__(self) -> None:
        self.now = 1000.0

    def time(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds


def test_cpu_standstill_finds_the_first_sample_at_the_final_cpu_time() -> None:
    clock = FakeClock()
    start = clock.now

    def cpu() -> float:  # one core busy for 1.234 s, then a 10 ms tick of idle chores at 2 s
        t = clock.now - start
        return min(t, 1.234) + (0.01 if t >= 2.0 else 0.0)

    samples: list[float] = []
    finished, final, looked, _own = cpu_standstill(
        cpu, every=0.01, sample=lambda: samples.append(clock.now), sample_every=0.02,
        clock=clock.time, sleep=clock.sleep,
    )  # fmt: skip
    assert abs(final - 1.244) < 1e-9
    assert looked == round((finished - start) / 0.01) + 1  # those up to the finish
    # The busy part ended at 1.234 s: the first sample within 11 ms of the final value.
    assert 1.22 <= finished - start <= 1.25
    assert clock.now - finished >= IDLE_FOR - 0.02  # it waited out a whole standstill
    gaps = {round(b - a, 3) for a, b in itertools.pairwise(samples)}
    assert gaps == {0.02}  # memory sampled at its own cadence


def test_cpu_standstill_of_a_tool_that_never_ran() -> None:
    clock = FakeClock()
    start = clock.now
    end = cpu_standstill(lambda: 0.5, clock=clock.time, sleep=clock.sleep, own=lambda: 7.0)
    assert end == (start, 0.5, 1, 7.0)


def test_wait_gone_waits_for_a_stopping_process_and_tells_a_running_one() -> None:
    quick = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(0.2)"])
    slow = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    try:
        assert wait_gone([quick.pid], timeout=15) == []  # gone or a zombie
        assert wait_gone([slow.pid], timeout=0.1) == [slow.pid]
        assert wait_gone([os.getpid() + 10_000_000]) == []  # never was
    finally:
        slow.kill()
        slow.wait()
        quick.wait()


BURNER = """
import os, sys, time
pid = os.fork()
if pid == 0:
    while time.process_time() < 0.3:  # a child that runs 0.3 s of CPU, then exits
        pass
    os._exit(0)
print(pid, flush=True)
os.waitpid(pid, 0)  # reaped: its CPU moves to this process's cutime
print("reaped", flush=True)
sys.stdin.readline()
"""


def test_tree_cpu_counts_a_child_while_it_runs_and_after_it_is_reaped() -> None:
    from bench_agent import ProcessWatch

    with subprocess.Popen(
        [sys.executable, "-c", BURNER], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    ) as proc:
        assert proc.stdin is not None
        assert proc.stdout is not None
        try:
            child = int(proc.stdout.readline())
            watch = ProcessWatch(proc.pid)
            with watch.tree_cpu(refresh=3) as cpu:
                seen = [cpu()]
                deadline = time.monotonic() + 30
                while not wait_gone([child], timeout=0):
                    assert time.monotonic() < deadline, "the child did not end"
                    seen.append(cpu())
                    time.sleep(0.01)
                assert proc.stdout.readline().strip() == "reaped"
                for _ in range(5):
                    seen.append(cpu())  # the child's stat, still open, is gone: no error
            assert seen == sorted(seen)  # it never went back when the child was reaped
            assert seen[-1] >= 0.27  # the child's CPU (less 10 ms truncated a field), in cutime
            assert abs(seen[-1] - watch.cpu()) < 1e-9  # as the full lookup has it
        finally:
            proc.stdin.write("\n")
            proc.stdin.flush()
            proc.wait(timeout=30)
