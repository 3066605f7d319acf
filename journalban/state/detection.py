"""The detectors' state and known-good pairs, in the agent's state database
(``detector_state``, state.schema).

One row per key a detector holds (an address's buckets, a prefix's or an
account's networks, an account under attack, a known-good pair), written by
``StateStore.commit`` in the same transaction as the batch position that
changed it, so a kill -9 loses and doubles nothing. Rows are replaced whole
and deleted when their key is forgotten: the state holds no more keys than
the detectors do in memory (bounded, see docs/detection.md). They are stored
as a log of each commit's changes (state.detectorlog), read back as rows.
"""

from __future__ import annotations

import logging
import sqlite3
from collections.abc import Callable, Sequence

from journalban.state import detectorlog

log = logging.getLogger("journalban.state")

# (detector, key, value or None: the key is gone)
DetectorRow = detectorlog.Row
# What a detector's restore raises on a value it cannot read (not JSON, or not the
# shape it wrote, or not the types and ranges: jails.rowvalues.DamagedRow is a ValueError):
# a file damaged by hand or by a disk. JSON nested past the interpreter's recursion limit
# raises RecursionError; a number too large for a float, OverflowError.
UNREADABLE = (ValueError, TypeError, LookupError, AttributeError, RecursionError, OverflowError)


def read_rows(db: sqlite3.Connection, jail: str) -> dict[str, list[tuple[str, str]]]:
    """A jail's rows by detector: (key, value), in the key's order (state.detectorlog)."""
    return detectorlog.read_rows(db, jail)


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
