"""A read of the ban history that a commit running in another thread cannot change.

While the agent commits one group of batches in a thread it decides the
next (agent/overlap.py); a ban decided then reads the network's history,
and the state connection is inside the other group's transaction: a read
there sees that group's rows or not, depending on how far the commit got,
and the engine counts the bans it has not seen committed itself
(decisions/unsaved.py), so some would be counted twice. This connection
holds a read transaction instead: in WAL mode it sees the database as it
was when the snapshot was taken, before the commit running started, and
stays so until it is taken again (only between commits).
"""

from __future__ import annotations

import sqlite3
from pathlib import Path


class HistorySnapshot:
    """A second connection to the state, reading in one transaction from ``take`` to ``release``."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.db: sqlite3.Connection | None = None

    def take(self) -> sqlite3.Connection:
        """Start reading the state as committed now (no commit may be running)."""
        if self.db is None:
            self.db = sqlite3.connect(str(self.path), isolation_level=None)
            self.db.execute("PRAGMA cache_size=-256")  # a few index pages: one lookup per ban
        elif self.db.in_transaction:
            self.db.execute("COMMIT")
        self.db.execute("BEGIN")
        # WAL: the snapshot is fixed by the first read, not by BEGIN.
        self.db.execute("SELECT count(*) FROM sqlite_master").fetchone()
        return self.db

    def release(self) -> None:
        """End the read transaction (the WAL may be checkpointed past it)."""
        if self.db is not None and self.db.in_transaction:
            self.db.execute("COMMIT")

    def close(self) -> None:
        if self.db is not None:
            self.db.close()
            self.db = None
