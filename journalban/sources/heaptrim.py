"""Give the C heap's free pages back once a reader child has caught up.

A reader child reads in bursts (a file child 256 KiB at a time): the decoded
text, its lines and their matches are freed once the batch is sent, but glibc
keeps the freed pages of its heap resident. ``malloc_trim(0)`` hands them
back (the file child at the end of sshd-near-miss 10.4 -> 9.4 MB of RssAnon).
It is called when the child has caught up and has read enough since the last
time for it to matter: a slow stream of short appends does not trim, and fault
the same pages back in, at every line.
"""

from __future__ import annotations

from collections.abc import Callable

from journalban.libc import libc_function

# Lines read between two trims at the most: about one burst of a log file.
TRIM_AFTER_LINES = 2048
# glibc's thresholds, fixed (``mallopt``) in a reader child: a burst's buffers are
# served from the heap below the mmap threshold, and the heap's top is given back
# only by ``HeapTrim`` (M_TRIM_THRESHOLD and M_MMAP_THRESHOLD of malloc.h).
_M_TRIM_THRESHOLD, _M_MMAP_THRESHOLD, _M_ARENA_MAX = -1, -3, -8
HEAP_MMAP_BYTES = 4 << 20
HEAP_TRIM_BYTES = 8 << 20


def _malloc_trim() -> Callable[[int], int] | None:
    # (when first needed: ctypes is 0.24 MB in a journal child that has no other use for it)
    return libc_function("malloc_trim")


def keep_heap() -> bool:
    """Fix glibc's thresholds for a child that reads in bursts; False: not glibc.

    With glibc's dynamic thresholds a burst's freed buffers (its bytes, their decoded
    text: 256 KiB each) were unmapped or trimmed from the heap's top, and the next
    burst faulted the same pages in again: the file child freed its last burst's
    text before reading the next one only at 4.5 times the page faults (+0.03 s of
    its 0.25 s on sshd-near-miss). Fixed, the bursts reuse the same heap pages,
    and ``HeapTrim.idle`` gives them back once the child has caught up.
    """
    mallopt = libc_function("mallopt")
    if mallopt is None:
        return False
    return bool(
        mallopt(_M_MMAP_THRESHOLD, HEAP_MMAP_BYTES) and mallopt(_M_TRIM_THRESHOLD, HEAP_TRIM_BYTES)
    )


def one_arena() -> bool:
    """Serve every thread from the one heap of the main thread (glibc's ``M_ARENA_MAX``
    1); False: not glibc. Called by the agent before it starts a thread.

    glibc gives a thread that allocates while another holds the heap an arena of its
    own, whose free space no other thread reuses: the agent's commit thread (SQLite
    runs with the GIL released) had one beside the main heap, each with its own free
    blocks. One heap: sshd-near-miss's file peak 0.4 MB lower (docs/benchmarks.md,
    nearmem4).
    """
    mallopt = libc_function("mallopt")  # (ctypes: the agent has it already, for inotify)
    if mallopt is None:
        return False
    return bool(mallopt(_M_ARENA_MAX, 1))


class HeapTrim:
    """Counts the lines read; ``idle()`` trims once enough were read since the last trim."""

    def __init__(self, after_lines: int = TRIM_AFTER_LINES) -> None:
        self.after_lines = after_lines
        self.pending = 0  # lines read since the last trim
        self.trims = 0
        self._trim: Callable[[int], int] | None = None
        self._looked_up = False

    def read(self, lines: int) -> None:
        self.pending += lines

    def idle(self) -> None:
        """The child has caught up: trim if it read ``after_lines`` or more since."""
        if self.pending < self.after_lines:
            return
        if not self._looked_up:
            self._trim, self._looked_up = _malloc_trim(), True
        if self._trim is None:
            return
        self._trim(0)
        self.pending = 0
        self.trims += 1
