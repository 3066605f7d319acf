"""HeapTrim: trims only once enough lines were read, and trimming gives pages back."""

from __future__ import annotations

from pathlib import Path

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
