"""``journalban`` with tracemalloc on, dumping where its memory is on SIGUSR2 (bench_memory.py).

    python tracemalloc_agent.py OUT FRAMES JOURNALBAN run --config ... --no-bus --dry-run

Each SIGUSR2 appends to OUT the traced total, SQLite's own allocations
(``sqlite3_memory_used``: its page cache is not Python's and tracemalloc does not
see it), and the 30 biggest allocation sites by file and by line. FRAMES is 0 for
no tracemalloc (the SQLite figure only, with the agent's memory as it is).

Set in the environment, each dump also: ``JOURNALBAN_MALLOCSTATS=1`` pymalloc's arenas
and pools and glibc's arenas (what is free in each), ``JOURNALBAN_TRIM=1`` the RssAnon
before and after a ``malloc_trim(0)`` (the C heap's whole free pages),
``JOURNALBAN_SNAPSHOTS=1`` the snapshot in ``OUT.N.snap`` (``Snapshot.load``, to compare
two moments by traceback), ``JOURNALBAN_MODULES=1`` the modules imported, in ``OUT.modules``.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import signal
import sys
import tracemalloc
import types
from pathlib import Path


def sqlite_used() -> str:
    try:
        lib = ctypes.CDLL("libsqlite3.so.0")  # the one _sqlite3 is linked to (Debian)
    except OSError as exc:
        return f"SQLite: {exc}"
    lib.sqlite3_memory_used.restype = ctypes.c_int64
    lib.sqlite3_memory_highwater.restype = ctypes.c_int64
    return (
        f"SQLite {lib.sqlite3_memory_used() / 2**20:.2f} MB "
        f"(highest {lib.sqlite3_memory_highwater(0) / 2**20:.2f} MB)"
    )


def allocators(out: str) -> None:
    """Append pymalloc's (``sys._debugmallocstats``) and glibc's (``malloc_stats``) figures:
    both print on the C stderr, sent to ``out`` meanwhile."""
    sys.stderr.flush()
    saved = os.dup(2)
    with open(out, "a") as f:
        os.dup2(f.fileno(), 2)
        try:
            sys._debugmallocstats()
            with contextlib.suppress(OSError, AttributeError):
                ctypes.CDLL(None).malloc_stats()
        finally:
            os.dup2(saved, 2)
            os.close(saved)


def rss_anon() -> int:
    with open("/proc/self/status") as f:
        return next(int(line.split()[1]) for line in f if line.startswith("RssAnon:"))


def dump(out: str) -> None:
    if os.environ.get("JOURNALBAN_MODULES"):
        with open(f"{out}.modules", "a") as f:
            f.write("=== " + " ".join(sorted(sys.modules)) + "\n")
    if os.environ.get("JOURNALBAN_TRIM"):
        with open(out, "a") as f:
            f.write(f"trim: RssAnon {rss_anon()} kB, ")
            ctypes.CDLL(None).malloc_trim(0)
            f.write(f"after malloc_trim(0) {rss_anon()} kB\n")
    if os.environ.get("JOURNALBAN_MALLOCSTATS"):
        allocators(out)
    with open(out, "a") as f:
        f.write(f"=== {sqlite_used()}\n")
        if not tracemalloc.is_tracing():
            return
        current, peak = tracemalloc.get_traced_memory()
        f.write(f"traced {current / 2**20:.1f} MB (highest {peak / 2**20:.1f} MB)\n")
        snap = tracemalloc.take_snapshot().filter_traces(
            [tracemalloc.Filter(False, tracemalloc.__file__)]
        )
        if os.environ.get("JOURNALBAN_SNAPSHOTS"):  # for Snapshot.load and compare_to
            snap.dump(f"{out}.{len(Path(out).read_text().splitlines())}.snap")
        for key in ("filename", "lineno"):
            for stat in snap.statistics(key)[:30]:
                f.write(f"{stat.size / 2**20:7.2f} MB {stat.count:8d} {stat.traceback}\n")
            f.write("---\n")


def main() -> int:
    out, frames = sys.argv[1], int(sys.argv[2])
    if frames:
        tracemalloc.start(frames)

    def on_signal(signum: int, frame: types.FrameType | None) -> None:
        dump(out)

    signal.signal(signal.SIGUSR2, on_signal)
    from journalban.cli.main import main as journalban

    return journalban(sys.argv[4:])  # after the journalban script AgentProcess names


if __name__ == "__main__":
    sys.exit(main())
