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

import sqlite3
from collections.abc import Sequence
from operator import itemgetter

# (detector, key, value or None: the key is gone)
DetectorRow = tuple[str, str, str | None]
_detector_key = itemgetter(1, 2)  # of a row as written: (jail, detector, key, ...)


def write_rows(cur: sqlite3.Cursor, jail: str, rows: Sequence[DetectorRow]) -> None:
    """Replace and delete a jail's detector rows (inside the caller's transaction)."""
    gone = [(jail, d, k) for d, k, v in rows if v is None]
    kept = [(jail, d, k, v) for d, k, v in rows if v is not None]
    # In the key's order: a flood's thousands of rows then touch the key's index
    # page by page rather than at random (a fifth less of SQLite's CPU for them,
    # with its 512 KiB cache). Sorted stably, so the last row of a key still wins;
    # the rows are read back through the same index (read_rows), in its order.
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
