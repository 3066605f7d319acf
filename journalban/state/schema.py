"""The state database's tables, its format number, and the migration of older files.

The format is numbered by SQLite's ``PRAGMA user_version`` (``VERSION``). A
file older versions wrote says 0: its tables are brought to this format in
one transaction (``prepare``), so a crash in the middle leaves the old file
as it was, readable by the version that wrote it; opening it again is then a
no-op. A file of a later format is refused with ``StateFormatError`` before
anything is written to it: this version would not know what its rows mean.

Format 1: a ban's account is a column of its ``bans`` row (NULL when no
detector banned for an account), written and deleted with the ban; format 0
kept it in a ``ban_accounts`` table whose rows were never deleted (nor the
rows of bans already over when a catch-up decided them).

Format 2: the detectors' changes are logged, a row per commit and detector
(``detector_log``, state.detectorlog), not a row per key; the rows a format 1
file holds in ``detector_state`` stay there and are read under the log.

Format 3: the history has no index (``history_network`` dropped): its rows are
appended, and a network's are found by their rowids (state.historylog).

Format 4 (this one): a detector log row's changes and a failure log row's cleared
networks are packed texts, not JSON (state.detectorlog: ``_text``,
state.failurerows: ``cleared_text``); the JSON rows a format 3 file holds are read
as they are (``detectorlog.unpack`` writes the packed ones as JSON again).
"""

from __future__ import annotations

import json
import sqlite3
from typing import Final

from journalban.errors import StateFormatError

VERSION: Final = 4

BANS: Final = """CREATE TABLE IF NOT EXISTS bans (
    jail TEXT NOT NULL, network TEXT NOT NULL, banned_at REAL NOT NULL,
    expires_at REAL, ban_count INTEGER NOT NULL, reason TEXT NOT NULL,
    failures INTEGER NOT NULL, source TEXT NOT NULL, lines TEXT NOT NULL,
    account TEXT,
    PRIMARY KEY (jail, network)
)"""
# The column ``ALTER TABLE`` adds to a format 0 file's bans: the same place as above.
ACCOUNT_COLUMN: Final = "ALTER TABLE bans ADD COLUMN account TEXT"
HISTORY: Final = """CREATE TABLE IF NOT EXISTS history (
    network TEXT NOT NULL, jail TEXT NOT NULL, banned_at REAL NOT NULL,
    expires_at REAL, manual INTEGER NOT NULL
)"""
# Formats 0 to 2 indexed the history by network (format 3: state.historylog).
HISTORY_INDEX: Final = "history_network"
POSITIONS: Final = """CREATE TABLE IF NOT EXISTS positions (
    jail TEXT NOT NULL, source TEXT NOT NULL, position TEXT NOT NULL,
    PRIMARY KEY (jail, source)
)"""
FAILURE_LOG: Final = """CREATE TABLE IF NOT EXISTS failure_log (
    seq INTEGER PRIMARY KEY, jail TEXT NOT NULL, newest REAL NOT NULL,
    cleared TEXT NOT NULL, failures TEXT NOT NULL
)"""
FAILURE_LOG_INDEX: Final = "CREATE INDEX IF NOT EXISTS failure_log_jail ON failure_log (jail, seq)"
COUNTERS: Final = """CREATE TABLE IF NOT EXISTS counters (
    jail TEXT PRIMARY KEY, total_failed INTEGER NOT NULL, total_banned INTEGER NOT NULL
)"""
HOSTNAMES: Final = """CREATE TABLE IF NOT EXISTS hostnames (
    name TEXT PRIMARY KEY, addresses TEXT NOT NULL, resolved_at REAL NOT NULL
)"""
# One B-tree keyed by the primary key (no rowid beside it): a detector row is
# written, replaced and deleted by its key only.
DETECTOR_STATE: Final = """CREATE TABLE IF NOT EXISTS detector_state (
    jail TEXT NOT NULL, detector TEXT NOT NULL, key TEXT NOT NULL, value TEXT NOT NULL,
    PRIMARY KEY (jail, detector, key)
) WITHOUT ROWID"""

# The detectors' changes, a JSON list of keys and values in turn (null: gone) per commit and
# detector; ``whole``: every key the detector held (the rows before it no longer count).
DETECTOR_LOG: Final = """CREATE TABLE IF NOT EXISTS detector_log (
    seq INTEGER PRIMARY KEY, jail TEXT NOT NULL, detector TEXT NOT NULL,
    whole INTEGER NOT NULL, entries INTEGER NOT NULL, changes TEXT NOT NULL
)"""
DETECTOR_LOG_INDEX: Final = (
    "CREATE INDEX IF NOT EXISTS detector_log_jail ON detector_log (jail, detector, seq)"
)

TABLES: Final = (
    BANS, HISTORY, POSITIONS, FAILURE_LOG, FAILURE_LOG_INDEX, COUNTERS, HOSTNAMES,
    DETECTOR_STATE, DETECTOR_LOG, DETECTOR_LOG_INDEX,
)  # fmt: skip
# The tables format 1 did not have.
V2_TABLES: Final = (DETECTOR_LOG, DETECTOR_LOG_INDEX)

# Format 0's tables that format 1 changed, as format 0 created them: a file of an
# early version may lack any of them, so they are made (empty) before the migration.
V0_BANS: Final = """CREATE TABLE IF NOT EXISTS bans (
    jail TEXT NOT NULL, network TEXT NOT NULL, banned_at REAL NOT NULL,
    expires_at REAL, ban_count INTEGER NOT NULL, reason TEXT NOT NULL,
    failures INTEGER NOT NULL, source TEXT NOT NULL, lines TEXT NOT NULL,
    PRIMARY KEY (jail, network)
)"""
V0_DETECTOR_STATE: Final = """CREATE TABLE IF NOT EXISTS detector_state (
    jail TEXT NOT NULL, detector TEXT NOT NULL, key TEXT NOT NULL, value TEXT NOT NULL,
    PRIMARY KEY (jail, detector, key)
)"""
V0_BAN_ACCOUNTS: Final = """CREATE TABLE IF NOT EXISTS ban_accounts (
    jail TEXT NOT NULL, network TEXT NOT NULL, account TEXT NOT NULL,
    PRIMARY KEY (jail, network)
)"""


def version_of(db: sqlite3.Connection) -> int:
    (version,) = db.execute("PRAGMA user_version").fetchone()
    return int(version)


def check_version(db: sqlite3.Connection, path: object) -> int:
    """The file's format number. Raises: StateFormatError (a later format than ours)."""
    version = version_of(db)
    if version > VERSION:
        raise StateFormatError(
            f"state database {path} is in format {version}, written by a later journalban;"
            f" this one reads formats 0 to {VERSION}: run the later version, or move the file"
            " away to start with an empty state"
        )
    return version


def prepare(db: sqlite3.Connection, path: object) -> None:
    """Create the tables of an empty file, or migrate an older file's, in one transaction.

    ``db`` is in autocommit mode (``isolation_level=None``).

    Raises:
        StateFormatError: the file is of a later format (nothing written to it).
        sqlite3.Error: the file cannot be read or written (the transaction is rolled back).
    """
    if check_version(db, path) == VERSION:
        return
    cur = db.cursor()
    cur.execute("BEGIN IMMEDIATE")
    try:
        # Another process may have prepared it between the look and the lock.
        version = check_version(db, path)
        if version != VERSION:
            if not _table(cur, "bans"):
                create(cur)
            else:
                if version == 0:
                    migrate_v0(cur)
                migrate_v1(cur)
                migrate_v2(cur)
                # (format 3 -> 4: the JSON log rows are read as they are; nothing to change)
            cur.execute(f"PRAGMA user_version = {VERSION}")
    except BaseException:
        cur.execute("ROLLBACK")
        raise
    cur.execute("COMMIT")


def create(cur: sqlite3.Cursor) -> None:
    """The tables of this format, in an empty file."""
    for statement in TABLES:
        cur.execute(statement)


def migrate_v0(cur: sqlite3.Cursor) -> None:
    """Format 0 -> 1, inside the caller's transaction. Every step keeps every row."""
    # The tables format 0 had and a file of an early version may lack, as format 0 made them.
    for statement in TABLES:
        if statement not in (BANS, DETECTOR_STATE, *V2_TABLES):
            cur.execute(statement)
    for statement in (V0_BANS, V0_DETECTOR_STATE, V0_BAN_ACCOUNTS):
        cur.execute(statement)
    for step in STEPS:
        step(cur)


def _failures_into_log(cur: sqlite3.Cursor) -> None:
    """Pending failures of the one-row-per-failure table (before the failure log)."""
    if not _table(cur, "failures"):
        return
    rows = cur.execute("SELECT jail, network, time FROM failures ORDER BY time").fetchall()
    by_jail: dict[str, list[tuple[str, float]]] = {}
    for jail, network, when in rows:
        by_jail.setdefault(jail, []).append((network, when))
    for jail, failures in by_jail.items():
        cur.execute(
            "INSERT INTO failure_log (jail, newest, cleared, failures) VALUES (?, ?, '[]', ?)",
            (jail, failures[-1][1], json.dumps(failures)),
        )
    cur.execute("DROP TABLE failures")


def _accounts_into_bans(cur: sqlite3.Cursor) -> None:
    """Each ban's account into its row (ALTER keeps the rowids: the restore's order);
    the accounts of bans no longer stored go with the table."""
    cur.execute(ACCOUNT_COLUMN)
    cur.execute(
        "UPDATE bans SET account = (SELECT a.account FROM ban_accounts a"
        " WHERE a.jail = bans.jail AND a.network = bans.network)"
        " WHERE EXISTS (SELECT 1 FROM ban_accounts a"
        " WHERE a.jail = bans.jail AND a.network = bans.network)"
    )
    cur.execute("DROP TABLE ban_accounts")


def _detector_state_without_rowid(cur: sqlite3.Cursor) -> None:
    """The detector rows into a table without rowid (one B-tree per write, not two)."""
    cur.execute("ALTER TABLE detector_state RENAME TO detector_state_v0")
    cur.execute(DETECTOR_STATE)
    cur.execute(
        "INSERT INTO detector_state SELECT jail, detector, key, value FROM detector_state_v0"
    )
    cur.execute("DROP TABLE detector_state_v0")


STEPS = [_failures_into_log, _accounts_into_bans, _detector_state_without_rowid]


def migrate_v1(cur: sqlite3.Cursor) -> None:
    """Format 1 -> 2, inside the caller's transaction: the detectors' log beside their rows
    (read under it, state.detectorlog; a detector's first whole row replaces them)."""
    for statement in V2_TABLES:
        cur.execute(statement)


def migrate_v2(cur: sqlite3.Cursor) -> None:
    """Format 2 -> 3, inside the caller's transaction: the history's index dropped (its rows
    stay, read by their rowids: state.historylog; ``historylog.downgrade`` makes it again)."""
    cur.execute(f"DROP INDEX IF EXISTS {HISTORY_INDEX}")


def _table(cur: sqlite3.Cursor, name: str) -> bool:
    found = cur.execute(
        "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?", (name,)
    ).fetchone()
    return found is not None
