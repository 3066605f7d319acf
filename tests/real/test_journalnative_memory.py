"""The native journal reader's arrays and malloc's heap (issue 19, jmem).

A catch-up part's selection (12 bytes per selected entry) and the lists it is made from
grow with the file: through malloc, an array of 128 KiB or more is mmapped by glibc, and
its free raises glibc's mmap threshold, after which the next ones land in the heap,
whose free top is kept (2.7 MB of the reader child's anonymous memory to its end on
sshd-near-miss). They live in mappings of their own instead: this checks, in a fresh
interpreter, that reading a file of 40,000 entries leaves malloc's heap and threshold as
they were.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from test_journalfile_proto import corpus, records, write

PROBE = r"""
import ctypes, sys

class Info(ctypes.Structure):
    _fields_ = [(name, ctypes.c_size_t) for name in (
        "arena", "ordblks", "smblks", "hblks", "hblkhd", "usmblks", "fsmblks",
        "uordblks", "fordblks", "keepcost")]

libc = ctypes.CDLL(None)
libc.mallinfo2.restype = Info
libc.malloc.restype = ctypes.c_void_p
libc.free.argtypes = [ctypes.c_void_p]

def mapped_by_malloc(size):
    # Whether malloc serves a block of `size` by a mapping of its own (below its threshold).
    before = libc.mallinfo2().hblkhd
    block = libc.malloc(size)
    mapped = libc.mallinfo2().hblkhd - before >= size
    libc.free(block)
    return mapped

from journalban.sources._journalfile import Reader

heap = libc.mallinfo2().arena
count = 0
if sys.argv[1] != "-":  # "-": the control, no reader
    reader = Reader([sys.argv[1]], [{"_UID": "0"}], lambda: None, lambda *a: b"")
    count = reader.entries
    while reader._next():
        reader._get("MESSAGE")
    reader.close()
    del reader
growth = libc.mallinfo2().arena - heap
# Checked once, last: a block mapped and freed raises the threshold itself.
print(count, mapped_by_malloc(200 << 10), growth)
"""


def test_reading_a_large_file_leaves_mallocs_heap_as_it_was(tmp_path: Path) -> None:
    path = tmp_path / "remote.journal"
    write(path, records(corpus(40_000)))
    control = probe("-")
    assert control[1]  # a fresh interpreter maps a block of 200 KiB
    entries, still_mapped, heap_growth = probe(str(path))
    assert entries > 30_000  # 12 bytes each: 400 KB of selection, lists of 512 KiB
    assert still_mapped  # glibc's mmap threshold not raised by a freed array
    assert heap_growth < 64 << 10


def probe(path: str) -> tuple[int, bool, int]:
    """(entries selected, a 200 KiB block still mapped by malloc, the heap's growth) after
    a fresh interpreter read ``path`` natively (``-``: read nothing)."""
    out = subprocess.run(
        [sys.executable, "-I", "-c", PROBE, path], capture_output=True, text=True, check=True
    ).stdout.split()
    return int(out[0]), out[1] == "True", int(out[2])
