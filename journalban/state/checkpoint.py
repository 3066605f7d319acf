"""The state's WAL checkpoints, off the decisions task's commits.

In WAL mode with ``synchronous=NORMAL`` a commit appends to the write-ahead
log without an fsync; copying the log into the database file (a checkpoint,
with its fsync) is what waits for the disk. SQLite does it by default inside
the commit that takes the log past 1,000 pages, so now and then one commit
of the decisions task waited for the disk, and every D-Bus Ban queued behind
it (bench_dbus_agent under the 1M-line stream: commits' p99 130 ms, 51 ms
without checkpoints in them).

The agent turns that off for its connection (``detach``) and checkpoints
from a connection of its own, in a thread, every ``INTERVAL`` seconds:
PASSIVE, so it never waits for the writer and the writer never waits for it.
What a commit guarantees is unchanged (it is in the log, which a restart
replays); the log grows by at most what is committed between two
checkpoints, and the last connection to close checkpoints it whole.
"""

from __future__ import annotations

import logging
import sqlite3
import threading
from pathlib import Path
from typing import Final

log = logging.getLogger("journalban.state")

INTERVAL: Final = 1.0  # seconds between checkpoints


def detach(db: sqlite3.Connection) -> None:
    """Stop ``db``'s commits from checkpointing (a ``Checkpointer`` does it instead)."""
    db.execute("PRAGMA wal_autocheckpoint=0")


class Checkpointer:
    """Checkpoints the WAL of the state database at ``path`` from its own connection."""

    def __init__(self, path: Path) -> None:
        self._db = sqlite3.connect(str(path), isolation_level=None, check_same_thread=False)
        # A checkpoint runs in a worker thread, and cancelling the task that
        # awaits it does not stop that thread: closing the connection under a
        # running checkpoint crashed the interpreter (a test's agent stopping).
        self._lock = threading.Lock()
        self._closed = False

    def checkpoint(self) -> tuple[int, int]:
        """One passive checkpoint (blocking: run it in a thread); (log pages, pages copied).

        After ``close`` it does nothing and returns (0, 0).
        """
        with self._lock:
            if self._closed:
                return 0, 0
            try:
                row = self._db.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
            except sqlite3.Error as exc:  # busy or locked: the next one catches up
                log.debug("state checkpoint skipped: %s", exc)
                return 0, 0
        return int(row[1]), int(row[2])

    def close(self) -> None:
        """Close the connection, once any checkpoint running in another thread is done."""
        with self._lock:
            if not self._closed:
                self._closed = True
                self._db.close()
