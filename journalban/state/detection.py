"""The detectors' state and known-good pairs, in the agent's state database.

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

SCHEMA = """
CREATE TABLE IF NOT EXISTS detector_state (
    jail TEXT NOT NULL, detector TEXT NOT NULL, key TEXT NOT NULL, value TEXT NOT NULL,
    PRIMARY KEY (jail, detector, key)
);
CREATE TABLE IF NOT EXISTS ban_accounts (
    jail TEXT NOT NULL, network TEXT NOT NULL, account TEXT NOT NULL,
    PRIMARY KEY (jail, network)
);
"""

# (detector, key, value or None: the key is gone)
DetectorRow = tuple[str, str, str | None]
_detector_key = itemgetter(1, 2)  # of a row as written: (jail, detector, key, ...)
_jail_network = itemgetter(0, 1)


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


def write_accounts(cur: sqlite3.Cursor, accounts: Sequence[tuple[str, str, str]]) -> None:
    """Remember the account behind bans: (jail, network text, account)."""
    ordered = sorted(accounts, key=_jail_network)  # in the key's order, as write_rows
    cur.executemany("INSERT OR REPLACE INTO ban_accounts VALUES (?, ?, ?)", ordered)


def read_rows(db: sqlite3.Connection, jail: str) -> dict[str, list[tuple[str, str]]]:
    """A jail's rows by detector: (key, value)."""
    found: dict[str, list[tuple[str, str]]] = {}
    for detector, key, value in db.execute(
        "SELECT detector, key, value FROM detector_state WHERE jail = ?", (jail,)
    ):
        found.setdefault(str(detector), []).append((str(key), str(value)))
    return found


def ban_account(db: sqlite3.Connection, jail: str, network: str) -> str | None:
    row = db.execute(
        "SELECT account FROM ban_accounts WHERE jail = ? AND network = ?", (jail, network)
    ).fetchone()
    return None if row is None else str(row[0])


def prune_accounts(db: sqlite3.Connection) -> None:
    """Forget the accounts of bans that are gone."""
    db.execute(
        "DELETE FROM ban_accounts WHERE NOT EXISTS (SELECT 1 FROM bans"
        " WHERE bans.jail = ban_accounts.jail AND bans.network = ban_accounts.network)"
    )
