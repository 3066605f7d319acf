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
from itertools import chain, groupby
from operator import itemgetter

from journalban.state import bulk

log = logging.getLogger("journalban.state")

# (detector, key, value or None: the key is gone)
DetectorRow = tuple[str, str, str | None]
_detector = itemgetter(0)
_key = itemgetter(1)
_key_value = itemgetter(1, 2)
DELETE = "DELETE FROM detector_state WHERE jail = ? AND detector = ? AND key IN"
# What a detector's restore raises on a value it cannot read (not JSON, or not the
# shape it wrote, or not the types and ranges: jails.rowvalues.DamagedRow is a ValueError):
# a file damaged by hand or by a disk. JSON nested past the interpreter's recursion limit
# raises RecursionError; a number too large for a float, OverflowError.
UNREADABLE = (ValueError, TypeError, LookupError, AttributeError, RecursionError, OverflowError)


def write_rows(cur: sqlite3.Cursor, jail: str, rows: Sequence[DetectorRow]) -> None:
    """Replace and delete a jail's detector rows (inside the caller's transaction)."""
    gone = [row for row in rows if row[2] is None]
    kept = [row for row in rows if row[2] is not None]
    # In the key's order: a flood's thousands of rows then touch the table's B-tree
    # (keyed by it: WITHOUT ROWID) page by page rather than at random (a fifth less
    # of SQLite's CPU for them, with its 512 KiB cache). Sorted stably, so the last
    # row of a key still wins; the rows are read back in the key's order (read_rows).
    # By key, then by detector: two sorts of texts (compared as such, no tuple made per
    # row) in the order one sort by (detector, key) gives; the rows most often come
    # grouped by detector already (DetectingJail.rows), which the second sort finds.
    for found in (gone, kept):
        found.sort(key=_key)
        found.sort(key=_detector)
    for detector, keys in groupby(gone, _detector):  # (state.bulk: a statement per many keys)
        bulk.delete(cur, DELETE, (jail, detector), list(map(_key, keys)))
    for detector, run in groupby(kept, _detector):
        # (key, value) row after row; the jail and the detector bound once per statement.
        values: list[object] = [*chain.from_iterable(map(_key_value, run))]
        bulk.insert(cur, "INSERT OR REPLACE INTO detector_state", 2, values, (jail, detector))


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
