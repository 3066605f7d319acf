"""The ban history as a log (state format 3): rows appended, found by their rowids.

Formats 0 to 2 indexed ``history`` by ``(network, banned_at)``: each ban's row
was a random insert into that index, and a flood's commit of thousands of bans
rewrote nearly every leaf of it (about a sixth of the replayed commits'
instructions on sshd-flood). Format 3 drops the index: a commit appends its
rows at the table's end (rowid order). A network's rows are found by their
rowids, which the store keeps in memory from the first look on
(``HistoryRows``: network text -> rowid, or a tuple of them), as it kept the set
of networks with a history before (``StateStore.history_networks``). The rows
and their columns are those of format 2, so every reader of the table reads
them as before; ``downgrade`` makes the index again for a version of format 2.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Sequence
from contextlib import suppress
from itertools import count
from operator import itemgetter
from typing import TYPE_CHECKING

from journalban.state import bulk

if TYPE_CHECKING:
    from journalban.state.commitrows import HistoryRow

# Format 2's index, made again by ``downgrade``.
INDEX = "CREATE INDEX IF NOT EXISTS history_network ON history (network, banned_at)"
_SELECT = (
    "SELECT jail, banned_at FROM history WHERE network = ? AND banned_at >= ? AND manual = 0"
    " AND rowid IN"
)
_first = itemgetter(0)
_second = itemgetter(1)


class HistoryRows:
    """Each network's history rows (their rowids), from a read of the whole table and the
    rows committed since. A network without a row is not in it."""

    __slots__ = ("rowids",)

    def __init__(self, db: sqlite3.Connection | sqlite3.Cursor) -> None:
        self.rowids: dict[str, int | tuple[int, ...]] = {}
        self._add(db.execute("SELECT network, rowid FROM history ORDER BY rowid"))

    def __contains__(self, text: object) -> bool:
        return text in self.rowids

    def _add(self, rows: Iterable[tuple[object, int]]) -> None:
        rowids = self.rowids
        get = rowids.get
        for network, rowid in rows:
            text = network if type(network) is str else str(network)
            held = get(text)
            if held is None:
                rowids[text] = rowid
            elif type(held) is int:
                rowids[text] = (held, rowid)
            else:
                rowids[text] = (*held, rowid)  # type: ignore[misc]

    def appended(self, rows: Sequence[HistoryRow], first: int) -> None:
        """``rows`` written with the rowids ``first`` on, in order."""
        self._add(zip(map(_first, rows), count(first), strict=False))

    def deleted(self, rows: Iterable[tuple[object, int]]) -> None:
        """(network, rowid) of rows deleted."""
        rowids = self.rowids
        for network, rowid in rows:
            text = str(network)
            held = rowids.get(text)
            if held is None:
                continue
            if type(held) is int:
                if held == rowid:
                    del rowids[text]
                continue
            left = tuple(r for r in held if r != rowid)  # type: ignore[union-attr]
            rowids[text] = left[0] if len(left) == 1 else left

    def read(self, db: sqlite3.Connection, text: str, since: float) -> list[tuple[object, object]]:
        """(jail, banned_at) of ``text``'s automatic bans since ``since``, in the order
        format 2's index gave (``banned_at``, then rowid)."""
        held = self.rowids.get(text)
        if held is None:
            return []
        ids: Sequence[int] = (held,) if type(held) is int else held  # type: ignore[assignment]
        found: list[tuple[object, object]] = []
        for size, part in bulk.statements(ids, 1):
            found += db.execute(bulk.statement(_SELECT, 0, size), [text, since, *part])
        if len(found) > 1:
            with suppress(TypeError):  # (a damaged time: plainrows.history skips it)
                found.sort(key=_second)  # (stable: the rowids' order among equal times)
        return found


def next_rowid(cur: sqlite3.Cursor) -> int:
    """The rowid the next row appended to ``history`` takes (one past the largest: SQLite's
    rule for a table without AUTOINCREMENT, below the largest rowid possible)."""
    (last,) = cur.execute("SELECT max(rowid) FROM history").fetchone()
    return 1 if last is None else int(last) + 1


def downgrade(path: str) -> None:
    """The state file at ``path`` back to format 2 (for a version of format 2, the agent
    stopped): the history's index made again. One transaction. Raises: sqlite3.Error."""
    db = sqlite3.connect(path, isolation_level=None)
    try:
        db.execute("BEGIN IMMEDIATE")
        try:
            (version,) = db.execute("PRAGMA user_version").fetchone()
            if version == 3:
                db.execute(INDEX)
                db.execute("PRAGMA user_version = 2")
        except BaseException:
            db.execute("ROLLBACK")
            raise
        db.execute("COMMIT")
    finally:
        db.close()
