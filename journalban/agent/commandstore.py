"""The last commands callers gave, kept in the state database across restarts.

``CommandLog`` (agent/callers.py) holds the last ``RECENT_COMMANDS`` commands
for ``ListRecentCommands`` and ``journalban status``; an administrator asking
who unbanned an address expects the answer to outlive a ``systemctl restart``
(an upgrade, a reload that needed a restart). Each command is written in a
small transaction of its own, in a worker thread and off the caller's reply
(commands are rare; the decisions task's commits never wait for more than
one), and the table keeps only the last ``RECENT_COMMANDS`` rows. A command
not yet written when the agent stops is written before the state is closed.
"""

from __future__ import annotations

import asyncio
import logging
import sqlite3
import threading

from journalban.agent.callers import RECENT_COMMANDS, Caller, CommandRecord
from journalban.errors import StateError
from journalban.state.store import StateStore

log = logging.getLogger(__name__)

SCHEMA = """
CREATE TABLE IF NOT EXISTS recent_commands (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    at REAL NOT NULL, kind TEXT NOT NULL, uid INTEGER, bus_name TEXT NOT NULL, what TEXT NOT NULL
);
"""


class CommandStore:
    """Writes each recorded command to ``recent_commands``; reads the last ones at start."""

    def __init__(self, store: StateStore, size: int = RECENT_COMMANDS) -> None:
        store.db.executescript(SCHEMA)
        self._store = store
        self._size = size
        self._pending: list[CommandRecord] = []
        self._saving: set[asyncio.Task[None]] = set()
        self._flushing = threading.Lock()  # two workers never write the same command twice

    def load(self) -> list[CommandRecord]:
        """The last commands kept, oldest first."""
        rows = self._store.db.execute(
            "SELECT at, kind, uid, bus_name, what FROM recent_commands ORDER BY seq DESC LIMIT ?",
            (self._size,),
        ).fetchall()
        out = []
        skipped = 0
        for at, kind, uid, name, what in reversed(rows):
            # A row damaged by hand or by a disk (a time or a uid that is no number)
            # stopped the agent's start: skipped, and counted below.
            if type(at) not in (float, int) or not (uid is None or type(uid) is int):
                skipped += 1
                continue
            caller = Caller(uid, str(name))
            out.append(CommandRecord(float(at), str(kind), caller, str(what)))
        if skipped:
            log.warning(
                "unreadable state rows: %d stored row(s) of table recent_commands could not "
                "be read and were skipped", skipped,
            )  # fmt: skip
        return out

    def recorded(self, record: CommandRecord) -> None:
        """``CommandLog``'s hook: keep ``record``, written soon in a worker thread."""
        self._pending.append(record)
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:  # no loop (a test, a tool): write it now
            self.flush()
            return
        task = loop.create_task(asyncio.to_thread(self.flush))
        self._saving.add(task)
        task.add_done_callback(self._saving.discard)

    def flush(self) -> None:
        """Write the commands not yet written (the agent calls it once more at stop)."""
        with self._flushing:
            records = self._pending[:]
            if not records:
                return
            try:
                self._store.write_apart(lambda cur: self._write(cur, records))
            except StateError as exc:
                log.warning("cannot keep the last commands in the state: %s", exc)
            del self._pending[: len(records)]

    def _write(self, cur: sqlite3.Cursor, records: list[CommandRecord]) -> None:
        cur.executemany(
            "INSERT INTO recent_commands (at, kind, uid, bus_name, what) VALUES (?, ?, ?, ?, ?)",
            [(r.at, r.kind, r.caller.uid, r.caller.bus_name, r.what) for r in records],
        )
        cur.execute(
            "DELETE FROM recent_commands WHERE seq <= (SELECT max(seq) FROM recent_commands) - ?",
            (self._size,),
        )
