"""The detectors' state and known-good pairs, in the agent's state database
(``detector_state``, state.schema).

One row per key a detector holds (an address's buckets, a prefix's or an
account's networks, an account under attack, a known-good pair), written by
``StateStore.commit`` in the same transaction as the batch position that
changed it, so a kill -9 loses and doubles nothing. Rows are replaced whole
and deleted when their key is forgotten: the table holds no more keys than
the detectors do in memory (bounded, see docs/detection.md).
"""

from __future__ import annotations

import logging
import sqlite3
from collections.abc import Callable, Sequence
from operator import itemgetter

log = logging.getLogger("journalban.state")

# (detector, key, value or None: the key is gone)
DetectorRow = tuple[str, str, str | None]
_detector_key = itemgetter(1, 2)  # of a row as written: (jail, detector, key, ...)
# What a detector's restore raises on a value it cannot read (not JSON, or not the
# shape it wrote, or not the types and ranges: jails.rowvalues.DamagedRow is a ValueError):
# a file damaged by hand or by a disk. JSON nested past the interpreter's recursion limit
# raises RecursionError; a number too large for a float, OverflowError.
UNREADABLE = (ValueError, TypeError, LookupError, AttributeError, RecursionError, OverflowError)


def write_rows(cur: sqlite3.Cursor, jail: str, rows: Sequence[DetectorRow]) -> None:
    """Replace and delete a jail's detector rows (inside the caller's transaction)."""
    gone = [(jail, d, k) for d, k, v in rows if v is None]
    kept = [(jail, d, k, v) for d, k, v in rows if v is not None]
    # In the key's order: a flood's thousands of rows then touch the table's B-tree
    # (keyed by it: WITHOUT ROWID) page by page rather than at random (a fifth less
    # of SQLite's CPU for them, with its 512 KiB cache). Sorted stably, so the last
    # row of a key still wins; the rows are read back in the key's order (read_rows).
    gone.sort(key=_detector_key)
    kept.sort(key=_detector_key)
    if gone:
        cur.executemany(
            "DELETE FROM detector_state WHERE jail = ? AND detector = ? AND key = ?", gone
        )
    if kept:
        cur.executemany("INSERT OR REPLACE INTO detector_state VALUES (?, ?, ?, ?)", kept)


def read_rows(db: sqlite3.Connection, jail: str) -> dict[str, list[tuple[str, str]]]:
    """A jail's rows by detector: (key, value)."""
    found: dict[str, list[tuple[str, str]]] = {}
    for detector, key, value in db.execute(
        "SELECT detector, key, value FROM detector_state WHERE jail = ?", (jail,)
    ):
        found.setdefault(str(detector), []).append((str(key), str(value)))
    return found


def restore_rows(
    restore: Callable[[Sequence[tuple[str, str]], float], None],
    rows: Sequence[tuple[str, str]],
    now: float,
    where: str,
) -> int:
    """Hand a detector's stored ``rows`` to its ``restore``; when a row cannot be read,
    hand them one at a time and skip those (warned, with ``where``: jail and detector).
    How many rows were skipped. The agent starts with the rest: a damaged row costs
    what it held, never the start."""
    try:
        restore(rows, now)
        return 0
    except UNREADABLE:
        pass
    skipped = 0
    for row in rows:  # a detector loads a key whole or not at all: loading twice is harmless
        try:
            restore((row,), now)
        except UNREADABLE:
            skipped += 1
    log.warning(
        "unreadable detector rows: %d stored row(s) of %s could not be read and were skipped",
        skipped, where,
    )  # fmt: skip
    return skipped


def readable_rows(
    read: Callable[[str], object], rows: Sequence[tuple[str, str]], where: str
) -> list[tuple[str, str]]:
    """The ``rows`` whose value ``read`` takes without raising; the others skipped, with the
    warning ``restore_rows`` gives (rows read in another process: a reader child's)."""
    kept = []
    for row in rows:
        try:
            read(row[1])
        except UNREADABLE:
            continue
        kept.append(row)
    if len(kept) < len(rows):
        log.warning(
            "unreadable detector rows: %d stored row(s) of %s could not be read and were "
            "skipped", len(rows) - len(kept), where,
        )  # fmt: skip
    return kept
