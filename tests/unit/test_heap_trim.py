"""HeapTrim: trims only once enough lines were read, and trimming gives pages back."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from journalban.sources.heaptrim import HeapTrim


def rss_anon_kb() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("RssAnon:"):
            return int(line.split()[1])
    raise AssertionError("no RssAnon")


def test_trims_once_enough_lines_were_read_since_the_last_trim() -> None:
    trim = HeapTrim(after_lines=100)
    trim.idle()
    trim.read(60)
    trim.idle()
    assert (trim.trims, trim.pending) == (0, 60)
    trim.read(40)
    trim.idle()
    assert (trim.trims, trim.pending) == (1, 0)
    trim.idle()  # nothing read since
    assert trim.trims == 1


def test_a_trim_gives_the_freed_heap_pages_back() -> None:
    # 1 KiB blocks come from glibc's heap (not pymalloc, not mmap); one allocated
    # after them keeps the heap's top in use, so free() alone returns nothing.
    blocks = [bytearray(1024) for _ in range(30_000)]
    for b in blocks:
        b[0] = 1
    pin = [bytearray(1024) for _ in range(8)]
    before = rss_anon_kb()
    del blocks
    freed = rss_anon_kb()
    trim = HeapTrim(after_lines=1)
    trim.read(1)
    trim.idle()
    after = rss_anon_kb()
    assert trim.trims == 1
    assert freed > before - 10_000  # free() kept the pages
    assert after < freed - 20_000  # of about 30 MB freed, most went back
    assert pin


_THREAD_ALLOCATES = """
import sys, threading, ctypes
from journalban.sources.heaptrim import one_arena
if sys.argv[1] == "one":
    assert one_arena()
held = []
def work():
    # Blocks above pymalloc's 512 bytes, from glibc, while the main thread also allocates.
    held.extend(bytearray(4096) for _ in range(2000))
threads = [threading.Thread(target=work) for _ in range(4)]
for t in threads:
    t.start()
held.extend(bytearray(4096) for _ in range(2000))
for t in threads:
    t.join()
ctypes.CDLL(None).malloc_stats()  # one "Arena N:" paragraph per arena, on stderr
"""


@pytest.mark.parametrize("arenas", ["one", "default"])
def test_one_arena_serves_the_threads_from_the_main_heap(arenas: str) -> None:
    done = subprocess.run(
        [sys.executable, "-c", _THREAD_ALLOCATES, arenas],
        capture_output=True, text=True, check=True, timeout=60,
    )  # fmt: skip
    count = done.stderr.count("Arena ")
    if arenas == "one":
        assert count == 1, done.stderr
    else:  # (glibc made others: the case one_arena prevents)
        assert count > 1, done.stderr
