"""How the agent benchmarks feed a tool and see it finish, with as little of their own work
as they can inside the timed window (bench_agent.py, bench_agent_corpora.py).

- ``append``: the corpus is appended to the log by the kernel (``copy_file_range``,
  else ``sendfile``, as ``cp`` does), not through a read/write loop in the benchmark.
- ``CommitWatch``: the agent is done when the position it committed to its state
  database is the corpus's end. The benchmark sleeps on an inotify watch of the
  database's WAL and reads the position (one read-only connection, kept open) once
  per commit published, told by the WAL index header (walindex.py): a commit's
  many writes are one query, a checkpoint's none; the commit is seen at the wake
  that finds it published, or within ``SETTLE`` of its publishing when the wake
  came while it was being written (no event tells of the publishing itself).
- ``cpu_standstill``: a tool that commits no position (fail2ban-server) is done
  when the CPU time of its process tree stops growing; its finish is the first
  sample that reached the final CPU time. Sampled every ``CPU_POLL`` (10 ms; 50 ms
  before), the same rule and cadence for both tools wherever it is applied.
- ``wait_gone``: the processes of a stopped tool are gone before the next
  measurement starts (the minimal readers time themselves alone).
- ``warm``: the corpus (its file, or its journal files) is read into the page
  cache before each tool starts and before the minimal readers, the same for all.

Memory (``ProcessWatch.sample``: smaps_rollup of every process of the tree) is
taken only in a run of its own, never in a timed one (docs/benchmarks.md).
"""

from __future__ import annotations

import contextlib
import errno
import os
import select
import sqlite3
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from types import TracebackType
from typing import NamedTuple

from walindex import WalIndex

from journalban.sources.inotify import IN_CREATE, IN_MODIFY, IN_MOVED_TO, Inotify

CPU_POLL = 0.01  # seconds between CPU samples of a tool found done by its CPU
MEMORY_POLL = 0.02  # seconds between memory samples, in a memory run (both tools)
IDLE_FOR = 3.0  # a tool's CPU stood still this long: it is done
IDLE_CPU = 0.02  # "still": it grew less than this over IDLE_FOR
FINISH_TOLERANCE = 0.011  # the finish: the first sample within this of the final CPU
TICK = os.sysconf("SC_CLK_TCK")  # /proc/PID/stat's times are in these
SETTLE = 0.001  # a commit written but not yet published: looked at again this often
PUBLISH_WAIT = 0.05  # ... while it wrote within this (frames never published are left)


def append(corpus_log: Path, log: Path) -> int:
    """Append ``corpus_log`` to ``log`` in the kernel; the bytes copied."""
    with corpus_log.open("rb") as src, log.open("r+b") as dst:
        size = os.fstat(src.fileno()).st_size
        offset = os.lseek(dst.fileno(), 0, os.SEEK_END)
        copied = 0
        copy: Callable[[int, int, int], int] = _copy_file_range
        while copied < size:
            try:
                n = copy(src.fileno(), dst.fileno(), size - copied)
            except OSError as exc:
                if copy is _sendfile or exc.errno not in (errno.EXDEV, errno.ENOSYS,
                                                          errno.EINVAL, errno.EOPNOTSUPP):  # fmt: skip
                    raise
                copy = _sendfile  # another file system or an old kernel
                continue
            if n == 0:
                break  # the corpus shrank: what was there is copied
            copied += n
        return os.lseek(dst.fileno(), 0, os.SEEK_CUR) - offset


def warm(paths: Iterable[Path]) -> int:
    """Read ``paths`` (files, and the files in directories) into the page cache, in the
    kernel (to /dev/null), before a clock starts: neither tool's time holds the disk
    reads of a corpus the page cache had let go. The bytes read."""
    read = 0
    sink = os.open(os.devnull, os.O_WRONLY)
    try:
        for path in paths:
            for one in sorted(path.iterdir()) if path.is_dir() else [path]:
                if not one.is_file():
                    continue
                with one.open("rb") as f:
                    while read_now := os.sendfile(sink, f.fileno(), None, 1 << 30):
                        read += read_now
    finally:
        os.close(sink)
    return read


def _copy_file_range(src: int, dst: int, count: int) -> int:
    return os.copy_file_range(src, dst, count)


def _sendfile(src: int, dst: int, count: int) -> int:
    return os.sendfile(dst, src, None, count)


class CommitWatch:
    """A state database seen from outside: ``position`` as ``support.agent.StateReader``
    has it, and ``wait`` for the next commit published (or a timeout).

    It sleeps on inotify events of the state directory, then (once its connection
    holds the database open) of the WAL alone. At each wake the WAL index header
    (walindex.py, one ``pread``) tells whether a commit was published since the
    positions were last read, and ``position`` queries the database only then: one
    query per commit seen, however many writes (events) a commit makes, and none for
    a checkpoint's writes to the database file. A commit whose frames are written but
    not yet published (SQLite publishes it in shared memory: no event tells) is looked
    at again every ``SETTLE`` s until it is, so it is seen within ``SETTLE`` of it.
    """

    def __init__(self, state_dir: Path, db_path: Path) -> None:
        self.db_path = db_path
        self._db: sqlite3.Connection | None = None
        self._index: WalIndex | None = None
        self._read_at: bytes | None = None  # the index header when the positions were read
        self._read: dict[str, str | None] = {}  # those positions, by jail
        self.looks = 0  # queries of a position
        self.wakes = 0  # waits woken by a write
        self.settles = 0  # looks again at a commit written but not yet published
        self._inotify = Inotify()
        self._inotify.watch(str(state_dir), IN_MODIFY | IN_CREATE | IN_MOVED_TO)

    def __enter__(self) -> CommitWatch:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def _connect(self) -> sqlite3.Connection | None:
        if self._db is None and self.db_path.exists():
            self._db = sqlite3.connect(f"file:{self.db_path}?mode=ro", uri=True, timeout=5)
        return self._db

    def position(self, jail: str) -> str | None:
        """The jail's committed position; queried only if a commit was published since
        the last query (or the database is not in WAL mode)."""
        header = None if self._index is None else self._index.header()
        if header is not None and header == self._read_at and jail in self._read:
            return self._read[jail]
        db = self._connect()
        if db is None:
            return None
        self.looks += 1
        try:
            row = db.execute("SELECT position FROM positions WHERE jail = ?", (jail,)).fetchone()
        except sqlite3.OperationalError:  # no table yet
            return None
        if self._index is None:  # after a query: this connection holds the database open
            with contextlib.suppress(FileNotFoundError):  # not in WAL mode: every wake looked at
                self._index = WalIndex(self.db_path)
                self._watch_wal()
        if header != self._read_at:
            self._read = {}
            self._read_at = header
        self._read[jail] = None if row is None else str(row[0])
        return self._read[jail]

    def _watch_wal(self) -> None:
        """Wake on the WAL's writes alone, not on a checkpoint's to the database file: the
        WAL stays (the same file) while a connection, this one, has the database open. A
        wait looks at the index header before it sleeps: nothing is missed meanwhile."""
        wal = Inotify()
        wal.watch(f"{self.db_path}-wal", IN_MODIFY)
        self._inotify.close()
        self._inotify = wal

    def wait(self, timeout: float) -> bool:
        """Until a commit is published that the positions were not read at (True), or
        ``timeout`` passed (False). A write wakes it; while frames are written but not
        published, it looks again every ``SETTLE`` s (their writes meanwhile wake it not),
        until ``PUBLISH_WAIT`` s pass without a write (a rolled back transaction's)."""
        if self._index is None:
            return self._wait_written(timeout)
        deadline = time.monotonic() + timeout
        idle = 0.0  # looked at again without a write
        while True:
            header = self._index.header()
            if header != self._read_at:
                return True
            now = time.monotonic()
            if now >= deadline:
                return False
            if idle < PUBLISH_WAIT and self._index.writing(header):
                time.sleep(min(SETTLE, deadline - now))
                self.settles += 1
                idle = 0.0 if self._drain() else idle + SETTLE
                continue
            ready, _, _ = select.select([self._inotify.fd], [], [], deadline - now)
            if ready:
                self.wakes += 1
                self._drain()
                idle = 0.0

    def _wait_written(self, timeout: float) -> bool:
        """Without a WAL index: until the database is written (True) or ``timeout``
        passed (False); after a wake, the writes within ``SETTLE`` are one."""
        ready, _, _ = select.select([self._inotify.fd], [], [], timeout)
        if not ready:
            return False
        self.wakes += 1
        time.sleep(SETTLE)
        self._drain()
        return True

    def _drain(self) -> bool:
        """Read the pending events (one read: any left wake the next wait); whether there
        were any."""
        try:
            return bool(os.read(self._inotify.fd, 65536))
        except BlockingIOError:
            return False

    def close(self) -> None:
        self._inotify.close()
        if self._db is not None:
            self._db.close()
            self._db = None
        if self._index is not None:  # after the connection: see WalIndex
            self._index.close()
            self._index = None


class TreeCpu:
    """The CPU time of a process tree, for a sampler called every few ms (``cpu_standstill``):
    user+system time of each process with its reaped children's, from /proc/PID/stat.

    The tree's processes are looked up again every ``refresh`` calls (``children``:
    the lookup is the dearest part of a call): a child reaped meanwhile is in its
    parent's cutime; one born meanwhile counts from the next lookup on. Each process's
    stat file stays open from one lookup to the next: a call reads each with one
    ``pread``, no path lookup (a third of the cost of open, read, close).
    """

    def __init__(self, pid: int, children: Callable[[], list[int]], refresh: int = 10) -> None:
        self._pid = pid
        self._children = children
        self._refresh = refresh
        self._calls = 0
        self._stats: dict[int, int] = {}  # pid: its /proc/PID/stat, open

    def __enter__(self) -> TreeCpu:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def __call__(self) -> float:
        if self._calls % self._refresh == 0:
            self._look_up()
        self._calls += 1
        ticks = 0
        for fd in self._stats.values():
            try:
                stat = os.pread(fd, 4096, 0)
            except ProcessLookupError:  # gone (and reaped: its time is its parent's)
                continue
            if stat:
                fields = stat.rsplit(b")", 1)[1].split()
                ticks += int(fields[11]) + int(fields[12]) + int(fields[13]) + int(fields[14])
        return ticks / TICK

    def _look_up(self) -> None:
        pids = {self._pid, *self._children()}
        for pid in [pid for pid in self._stats if pid not in pids]:
            os.close(self._stats.pop(pid))
        for pid in pids - self._stats.keys():
            with contextlib.suppress(FileNotFoundError, ProcessLookupError):
                self._stats[pid] = os.open(f"/proc/{pid}/stat", os.O_RDONLY | os.O_CLOEXEC)

    def close(self) -> None:
        for fd in self._stats.values():
            os.close(fd)
        self._stats.clear()


class Standstill(NamedTuple):
    """Where a tool's CPU time stopped, and what finding it cost the benchmark."""

    finished: float  # the time of the first sample at the final CPU time
    final: float  # that final CPU time
    samples: int  # samples taken up to the finish (inside the timed window)
    own_at_finish: float  # the benchmark's own CPU time (``own``) at the finishing sample


def cpu_standstill(
    cpu: Callable[[], float],
    *,
    every: float = CPU_POLL,
    sample: Callable[[], None] | None = None,
    sample_every: float = MEMORY_POLL,
    idle_for: float = IDLE_FOR,
    clock: Callable[[], float] = time.time,
    sleep: Callable[[float], None] = time.sleep,
    own: Callable[[], float] = time.process_time,
) -> Standstill:
    """Sample ``cpu`` every ``every`` s until it grew less than ``IDLE_CPU`` over
    ``idle_for`` s; its finish is the first sample that reached the final CPU time
    within ``FINISH_TOLERANCE``. ``sample`` (a memory run's) is called every
    ``sample_every`` s beside."""
    times: list[float] = []
    cpus: list[float] = []
    owns: list[float] = []
    window = 0  # the first sample within idle_for of the last
    sampled = float("-inf")
    while True:
        now = clock()
        times.append(now)
        cpus.append(cpu())
        owns.append(own())
        if sample is not None and now - sampled >= sample_every - every / 2:
            sample()
            sampled = now
        while times[window] < now - idle_for:
            window += 1
        if now - times[0] > idle_for and cpus[-1] - cpus[window] < IDLE_CPU:
            break
        sleep(every)
    final = cpus[-1]
    at = next(n for n, c in enumerate(cpus) if c >= final - FINISH_TOLERANCE)
    return Standstill(times[at], final, at + 1, owns[at])


def wait_gone(pids: Iterable[int], timeout: float = 15.0) -> list[int]:
    """Wait until none of ``pids`` is alive (gone or a zombie); those still running."""
    left = list(pids)
    deadline = time.monotonic() + timeout
    while left:
        left = [pid for pid in left if _running(pid)]
        if not left or time.monotonic() > deadline:
            break
        time.sleep(0.01)
    return left


def _running(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            state = f.read().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, ProcessLookupError):
        return False
    return state not in ("Z", "X")
