"""Whether another process's SQLite commit is published yet, read from outside without a
query (bench_watch.CommitWatch).

A commit in WAL mode appends its pages to the ``-wal`` file as frames (inotify sees
those writes), then publishes it by rewriting the header of the WAL index, the
``-shm`` file, through a shared memory map: no write system call, so no inotify
event tells of it. The two files' formats are SQLite's documented file formats
(sqlite.org/walformat.html, sqlite.org/fileformat2.html#walformat):

- the WAL index header, the first 48 bytes of ``-shm`` (native byte order), changes
  with every commit published (its change counter, its last frame ``mxFrame`` and
  their checksums) and with every restart of the WAL from its start (new salts);
- a frame of the WAL is 24 bytes of header and one page; bytes 8-15 of its header
  are the salts of the WAL it belongs to, the ones the index header holds at 32-39.

So a commit is being written (or its publishing is under way) when the WAL holds a
frame past the last one published (frame ``mxFrame + 1``) carrying the current salts:
frames of an earlier WAL carry other salts, and past the file's end there is none.
"""

from __future__ import annotations

import os
import struct
from pathlib import Path

HEADER = 48  # bytes of the WAL index header's first copy
WAL_HEADER = 32  # bytes of the WAL file's own header, before its first frame
FRAME_HEADER = 24
_PAGE_AND_LAST = struct.Struct("=HI")  # szPage (1 for 65536) at 14, mxFrame at 16
_SALTS = slice(32, 40)  # in the index header; in a frame's header, 8-16


class WalIndex:
    """The WAL index and WAL of the SQLite database ``db_path``, opened read-only.

    Open it only while an SQLite connection of this process holds the database open,
    and close it after that connection: closing a descriptor of a file drops every
    POSIX lock this process holds on it, SQLite's own among them.

    Raises:
        FileNotFoundError: the database is not in WAL mode (no ``-shm`` or ``-wal``).
    """

    def __init__(self, db_path: Path) -> None:
        self._shm = os.open(f"{db_path}-shm", os.O_RDONLY | os.O_CLOEXEC)
        try:
            self._wal = os.open(f"{db_path}-wal", os.O_RDONLY | os.O_CLOEXEC)
        except OSError:
            os.close(self._shm)
            raise

    def header(self) -> bytes:
        """The index header now: a different value, a commit (or a WAL restart) published."""
        return os.pread(self._shm, HEADER, 0)

    def writing(self, header: bytes) -> bool:
        """Whether the WAL holds frames past those ``header`` publishes, of its WAL: a
        commit under way (or the frames a rolled back transaction left, until overwritten)."""
        if len(header) < HEADER:
            return False  # an index not yet initialised: nothing published, nothing to wait for
        page, last = _PAGE_AND_LAST.unpack_from(header, 14)
        page = 65536 if page == 1 else page
        if page == 0:
            return False
        at = WAL_HEADER + last * (FRAME_HEADER + page)
        frame = os.pread(self._wal, FRAME_HEADER, at)
        return len(frame) == FRAME_HEADER and frame[8:16] == header[_SALTS]

    def close(self) -> None:
        for fd in (self._wal, self._shm):
            if fd >= 0:
                os.close(fd)
        self._wal = self._shm = -1
