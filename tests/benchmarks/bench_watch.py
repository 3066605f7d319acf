"""How the agent benchmarks feed a tool and see it finish, with as little of their own work
as they can inside the timed window (bench_agent.py, bench_agent_corpora.py).

- ``append``: the corpus is appended to the log by the kernel (``copy_file_range``,
  else ``sendfile``, as ``cp`` does), not through a read/write loop in the benchmark.
- ``CommitWatch``: the agent is done when the position it committed to its state
  database is the corpus's end. The benchmark sleeps on an inotify watch of the
  state directory and reads the position (one read-only connection, kept open)
  only after the agent wrote to its database: no timer, and it sees the commit
  within a read of it, where a 20 ms poll saw it 0-20 ms late.
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

import errno
import os
import select
import sqlite3
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from types import TracebackType
from typing import NamedTuple

from journalban.sources.inotify import IN_CREATE, IN_MODIFY, IN_MOVED_TO, Inotify

CPU_POLL = 0.01  # seconds between CPU samples of a tool found done by its CPU
MEMORY_POLL = 0.02  # seconds between memory samples, in a memory run (both tools)
IDLE_FOR = 3.0  # a tool's CPU stood still this long: it is done
IDLE_CPU = 0.02  # "still": it grew less than this over IDLE_FOR
FINISH_TOLERANCE = 0.011  # the finish: the first sample within this of the final CPU
SETTLE = 0.001  # after a look that found it not done, writes this close together are one


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
    has it, and ``wait`` for the next write to the database (or a timeout)."""

    def __init__(self, state_dir: Path, db_path: Path) -> None:
        self.db_path = db_path
        self._db: sqlite3.Connection | None = None
        self.looks = 0  # positions read
        self.wakes = 0  # waits that ended on a write
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
        self.looks += 1
        db = self._connect()
        if db is None:
            return None
        try:
            row = db.execute("SELECT position FROM positions WHERE jail = ?", (jail,)).fetchone()
        except sqlite3.OperationalError:  # no table yet
            return None
        return None if row is None else str(row[0])

    def wait(self, timeout: float) -> bool:
        """Until the database is written (True) or ``timeout`` passed (False). The writes
        of one commit come close together: after a wake, those within ``SETTLE`` are one."""
        ready, _, _ = select.select([self._inotify.fd], [], [], timeout)
        if not ready:
            return False
        self.wakes += 1
        time.sleep(SETTLE)
        self._inotify.read_events()
        return True

    def close(self) -> None:
        self._inotify.close()
        if self._db is not None:
            self._db.close()
            self._db = None


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
