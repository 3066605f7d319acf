"""``journalban`` with tracemalloc on, dumping where its memory is on SIGUSR2 (bench_memory.py).

    python tracemalloc_agent.py OUT FRAMES JOURNALBAN run --config ... --no-bus --dry-run

Each SIGUSR2 appends to OUT the traced total, SQLite's own allocations
(``sqlite3_memory_used``: its page cache is not Python's and tracemalloc does not
see it), and the 30 biggest allocation sites by file and by line. FRAMES is 0 for
no tracemalloc (the SQLite figure only, with the agent's memory as it is).
"""

from __future__ import annotations

import ctypes
import signal
import sys
import tracemalloc
import types


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


def dump(out: str) -> None:
    with open(out, "a") as f:
        f.write(f"=== {sqlite_used()}\n")
        if not tracemalloc.is_tracing():
            return
        current, peak = tracemalloc.get_traced_memory()
        f.write(f"traced {current / 2**20:.1f} MB (highest {peak / 2**20:.1f} MB)\n")
        snap = tracemalloc.take_snapshot().filter_traces(
            [tracemalloc.Filter(False, tracemalloc.__file__)]
        )
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
