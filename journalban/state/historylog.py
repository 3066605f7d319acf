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
from journalban.state.downgrade import step_back

if TYPE_CHECKING:
    from journalban.state.commitrows import HistoryRow

# Format 2's index, made again by ``downgrade``.
INDEX = "CREATE INDEX IF NOT EXISTS history_network ON history (network, banned_at)"
_SELECT = (
    "SELECT jail, banned_at FROM history WHERE network = ? AND banned_at >= ? AND manual = 0"
    " AND rowid IN"
)
_second = itemgetter(1)
# A ban's history row, copied from the bans' rows statements inserted (the rowids after the
# first one given, up to the second) or holding the keys given (``copy_keys``).
COPY_NEW = (
    "INSERT OR FAIL INTO history (network, jail, banned_at, expires_at, manual)"
    " SELECT network, jail, banned_at, expires_at, 0 FROM bans WHERE rowid > ? AND rowid <= ?"
    " ORDER BY rowid"
)
COPY_KEYS = (
    "INSERT OR FAIL INTO history (network, jail, banned_at, expires_at, manual)"
    " SELECT network, jail, banned_at, expires_at, 0 FROM bans WHERE jail = ? AND network IN"
)
# Rowids below it: each row appended takes one past the largest (SQLite picks some at random
# once the largest is 2**63 - 1).
CONTIGUOUS = 1 << 62
# (network text, rowid) of rows written.
Ids = Iterable[tuple[str, int]]


class HistoryRows:
    """Each network's history rows (their rowids), from a read of the whole table and the
    rows committed since. A network without a row is not in it."""

    __slots__ = ("rowids",)

    def __init__(self, db: sqlite3.Connection | sqlite3.Cursor) -> None:
        self.rowids: dict[str, int | tuple[int, ...]] = {}
        self.add(db.execute("SELECT CAST(network AS TEXT), rowid FROM history ORDER BY rowid"))

    def __contains__(self, text: object) -> bool:
        return text in self.rowids

    def add(self, rows: Iterable[tuple[str, int]]) -> None:
        """(network text, rowid) of rows written."""
        rowids = self.rowids
        setdefault = rowids.setdefault
        for text, rowid in rows:
            held = setdefault(text, rowid)  # (a network's first row: one lookup)
            if held is not rowid:
                rowids[text] = (held, rowid) if type(held) is int else (*held, rowid)  # type: ignore[misc]

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


def copy_new(cur: sqlite3.Cursor, size: int, texts: Sequence[str], after: int) -> Ids | None:
    """The history rows of the ``size`` bans inserted last, with the rowids after ``after``
    (``texts``: their networks), copied from their rows; their (network, rowid), None if
    not known."""
    if not 0 <= after < after + size < CONTIGUOUS:  # (beyond: rowids SQLite picks)
        return None
    cur.execute(COPY_NEW, (after, after + size))
    last = cur.lastrowid
    return appended(last, last - size + 1 if last else 0, texts, size)


def copy_keys(cur: sqlite3.Cursor, values: Sequence[object], width: int) -> Ids:
    """The history rows of the bans ``values`` (rows of ``width`` columns: jail and network
    first) as their keys' rows now hold them, copied; their (network, rowid)."""
    by_jail: dict[object, dict[object, None]] = {}
    for at in range(0, len(values), width):
        by_jail.setdefault(values[at], {})[values[at + 1]] = None
    found: list[tuple[str, int]] = []
    for jail, networks in by_jail.items():
        for size, part in bulk.statements([*networks], 1):
            marks = ", ".join("?" * size)
            found += cur.execute(f"{COPY_KEYS} ({marks}) RETURNING network, rowid", [jail, *part])
    return found


def replaced(values: Sequence[object], width: int) -> list[HistoryRow]:
    """The history rows of the bans ``values`` (a statement's) that a later ban of the same
    key in it replaced (its row is gone before it could be copied)."""
    last: dict[tuple[object, object], int] = {}
    for at in range(0, len(values), width):
        last[values[at], values[at + 1]] = at
    return [
        (values[at + 1], values[at], values[at + 2], values[at + 3], 0)  # type: ignore[misc]
        for at in range(0, len(values), width)
        if last[values[at], values[at + 1]] != at
    ]


def appended(last: int | None, first: int, texts: Iterable[str], size: int) -> Ids | None:
    """(network, rowid) of the ``size`` rows just appended with rowids ``first`` on, each
    one past the largest (SQLite's rule, but at its very end), the last one ``last`` (the
    cursor's ``lastrowid``); None if they are not."""
    if first <= 0 or last is None or last != first + size - 1 or last >= CONTIGUOUS:
        return None
    return zip(texts, count(first))


def next_rowid(cur: sqlite3.Cursor) -> int:
    """The rowid the next row appended to ``history`` takes (one past the largest: SQLite's
    rule for a table without AUTOINCREMENT, below the largest rowid possible)."""
    (last,) = cur.execute("SELECT max(rowid) FROM history").fetchone()
    return 1 if last is None else int(last) + 1


def downgrade(path: str) -> None:
    """The state file at ``path`` back to format 2 (for a version of format 2, the agent
    stopped): the history's index made again. One transaction (``state.downgrade``).
    Raises: sqlite3.Error."""

    def back(db: sqlite3.Connection) -> None:
        db.execute(INDEX)

    step_back(path, 3, back)
