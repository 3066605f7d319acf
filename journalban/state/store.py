"""SQLite state: active bans, ban history, source positions, pending failures.

One writer (the decisions stage) commits each batch in one transaction: the
batch's end position, the failure-count changes and the new bans. So a crash
at any moment loses no line, failure or ban, and counts nothing twice.

Pending failures are a log with one row per batch (the networks a ban
cleared, then the batch's new failures), replayed in order at start: a row
per failure cost more than matching the line did.
"""

from __future__ import annotations

import json
import logging
import sqlite3
import threading
import weakref
from collections.abc import Callable, Container, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from journalban.addresses import IPNetwork, network_text
from journalban.errors import StateError
from journalban.events import Ban
from journalban.state import banrows, detection, failurerows, nativecommit, plainrows, schema
from journalban.state.commitrows import CommitRows
from journalban.state.detectorlog import DetectorLog
from journalban.state.historylog import HistoryRows
from journalban.state.private import make_private

log = logging.getLogger("journalban.state")


@dataclass
class BatchCommit:
    """Everything one batch changed, written in one transaction."""

    jail: str
    source: str = ""
    position: str | None = None
    new_failures: list[tuple[str, float]] = field(default_factory=list)  # (network, time)
    cleared: list[str] = field(default_factory=list)  # networks whose failures are spent
    bans: list[Ban] = field(default_factory=list)
    unbans: list[Ban] = field(default_factory=list)
    history: list[tuple[Ban, bool]] = field(default_factory=list)  # (ban, manual)
    # The matched lines of bans in ``bans`` made without them, by the ban's ``id``
    # (decisions.firstban: a jail whose actions read no lines keeps one ``Ban`` a ban).
    lines_of: dict[int, tuple[str, ...]] = field(default_factory=dict)
    failed_delta: int = 0
    banned_delta: int = 0
    # Detector state rows changed (state.detection); then detector: key: value (None: gone).
    detector_rows: list[detection.DetectorRow] = field(default_factory=list)
    detector_changes: dict[str, dict[str, str | None]] = field(default_factory=dict)


class CommitWriter(Protocol):
    """Writes an edge feature's rows in the same transaction as the batches (the fleet's outbox)."""

    def write(self, cur: sqlite3.Cursor, batches: Sequence[BatchCommit]) -> None: ...


def _key(net: IPNetwork) -> str:
    return network_text(net)


# The page size of a new state file (SQLite's default: 4 KiB; see Store._prepare).
PAGE_BYTES = 16384
# A store in memory only (``journalban replay``: it reads and writes no state file).
MEMORY = Path(":memory:")
# SQLite's page cache of the state connection, KiB (see Store.__init__).
CACHE_KIB = 512
# ... and of the connection the callers' reads use (``_reader``): a row at a time.
READER_CACHE_KIB = 128
# ... and FLOOD_CACHE_KIB for the rest of the run once a commit writes FLOOD_ROWS
# rows or more (a flood's thousands of bans: a ban and a history row each,
# and the detectors' rows) into a state of FLOOD_STATE_BYTES or more (tens of
# thousands of bans): the inserts' index pages then stay cached between the rows
# of a commit and from one commit to the next. sshd-flood in-process: the commits'
# CPU 1.77 -> 1.34-1.40 s for 55,000 bans, for 3.5 MiB more at most; the other
# corpora's states (4-9 MB at their end: sshd only at its very end) hardly reach it.
FLOOD_CACHE_KIB = 4096
FLOOD_ROWS = 4000
FLOOD_STATE_BYTES = 8 << 20


class StateStore:
    """The agent's memory, in ``state_dir/state.sqlite``.

    Raises:
        StateError: the database cannot be opened or written.
        StateFormatError: it is in a later format than this version reads (untouched).
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        try:
            if path != MEMORY:
                path.parent.mkdir(parents=True, exist_ok=True)
                make_private(path)  # before SQLite creates it (and its -wal, -shm) by the umask
            self.db = sqlite3.connect(str(path), isolation_level=None, check_same_thread=False)
        except (OSError, sqlite3.Error) as exc:
            raise StateError(f"cannot open state database {path}: {exc}") from None
        try:
            self._prepare()
        except BaseException as exc:
            self.db.close()
            if isinstance(exc, sqlite3.Error):
                raise StateError(f"cannot open state database {path}: {exc}") from None
            raise
        # Whether the commits' statements of new bans run in C, the GIL let go once
        # (state.nativecommit: the package's own extension loaded into this connection).
        self.native_commit = nativecommit.attach(self.db)
        # (its kept statements finalized before the connection closes: ``close``, or when
        # the store is collected unclosed)
        self._release = (
            weakref.finalize(self, nativecommit.release, self.db) if self.native_commit else None
        )
        self.commit_count = 0  # transactions of commit() so far
        self._warned: dict[str, int] = {}  # table -> damaged rows warned of (plainrows)
        self.flood_cache = False  # the page cache grown to FLOOD_CACHE_KIB
        # Each network's history rows (state.historylog: the table has no index on the
        # network), read on first use: most networks banned have none, and a query per
        # ban would say so slowly.
        self._history: HistoryRows | None = None
        self.writers: list[CommitWriter] = []
        self.detectors = DetectorLog()  # (the sizes of the detectors' logged rows)
        # Held by commit() and close(): a stop cancels the agent's wait for a commit,
        # not the commit's thread, and closing the connection under it crashed the process.
        self._writing = threading.Lock()
        # Opened at the first read through it (see ``_read``).
        self._reading: sqlite3.Connection | None = None

    def close(self) -> None:
        with self._writing:
            if self._reading is not None:
                self._reading.close()
                self._reading = None
            if self._release is not None:
                self._release()
            self.db.close()

    def _read(self) -> sqlite3.Connection:
        """The connection of the reads the agent serves to its callers (D-Bus).

        Not ``db``: the agent's commit runs in a thread on ``db``, and a read on
        the same connection meanwhile saw the rows of that transaction, before it
        committed or rolled back. A second, read-only connection reads the state
        as last committed (WAL: it never waits for the writer, nor the writer for
        it). A state in memory has only ``db`` (nothing commits beside its reads).

        Raises: sqlite3.Error.
        """
        if self._reading is None:
            if self.path == MEMORY:
                return self.db
            uri = self.path.resolve().as_uri() + "?mode=ro"
            reading = sqlite3.connect(uri, uri=True, isolation_level=None,
                                      check_same_thread=False)  # fmt: skip
            reading.execute(f"PRAGMA cache_size=-{READER_CACHE_KIB}")
            self._reading = reading
        return self._reading

    def _prepare(self) -> None:
        """Raises: StateFormatError (a later format: refused before any write), sqlite3.Error."""
        schema.check_version(self.db, self.path)
        # A new file's pages (a file already written keeps its own): a commit of a flood's
        # bans dirties every leaf of the bans' index (format 2: the history's too; random
        # keys), each page a frame of the WAL and two writes; 16 KiB pages hold the same
        # bytes in a quarter of the frames, of the writes and of the checkpoint's copies.
        self.db.execute(f"PRAGMA page_size={PAGE_BYTES}")
        self.db.execute("PRAGMA journal_mode=WAL")
        # A connection left to checkpoint inside its commits (not the agent's: state.checkpoint)
        # does so past SQLite's 1,000 pages of 4 KiB whatever its pages (the same log bytes).
        (size,) = self.db.execute("PRAGMA page_size").fetchone()
        self.db.execute(f"PRAGMA wal_autocheckpoint={max(1, 1000 * 4096 // size)}")
        self.db.execute("PRAGMA synchronous=NORMAL")
        # SQLite's page cache, per connection: 2 MiB by default, all of it in use
        # after a few thousand bans. Reads are the restore's one scan of the table
        # and writes add rows and touch a few index pages: 512 KiB takes 1-2 MiB
        # off the agent's peak (sshd and sshd-flood from a file) for ~3% more CPU
        # in SQLite's inserts (50k bans: +13 ms); the pages it no longer keeps are
        # still in the kernel's cache.
        self.db.execute(f"PRAGMA cache_size=-{CACHE_KIB}")
        schema.prepare(self.db, self.path)  # (a migration's temporary data as before)
        # A statement writing many rows (state.bulk) keeps the pages it changes in a
        # statement journal, to undo it alone: past 64 KiB SQLite wrote that to a temporary
        # file (sshd-flood: 370 MB of writes more than the rows' own); in memory it is a
        # copy of each page the statement changes (64 rows: a few hundred KiB), freed when
        # it ends. No query of this connection sorts or groups beyond an index.
        self.db.execute("PRAGMA temp_store=MEMORY")

    # --- reading -------------------------------------------------------------

    def active_bans(
        self, texts: list[str] | None = None, running_at: float | None = None
    ) -> list[Ban]:
        """Every stored ban, without its matched lines (``ban_lines`` reads those).

        ``texts``, when given, receives each returned ban's network as text, in
        order (the ban table indexes bans by it; 100,000 at a restore).
        ``running_at``: only the bans still running then (not ``expired``).
        """
        if running_at is None:
            rows = self.db.execute(banrows.SELECT_BANS).fetchall()
        else:
            rows = self.db.execute(banrows.SELECT_RUNNING, (running_at,)).fetchall()
        return banrows.bans_of(rows, texts)

    def ban_lines(self, jail: str, network: IPNetwork) -> tuple[str, ...]:
        """The matched lines stored with a committed ban. Raises: StateError."""
        row = self._fetch_one(
            "SELECT lines FROM bans WHERE jail = ? AND network = ?", (jail, _key(network))
        )
        if not row:
            return ()
        lines, skipped = plainrows.text_list(row[0])
        self._warn_skipped("bans (lines)", skipped)
        return lines

    def ban_account(self, jail: str, network: IPNetwork) -> str | None:
        """The account a detector banned ``network`` for, if its ban is committed and had
        one. Raises: StateError."""
        row = self._fetch_one(
            "SELECT account FROM bans WHERE jail = ? AND network = ?", (jail, _key(network))
        )
        return None if row is None or row[0] is None else str(row[0])

    def _fetch_one(self, query: str, args: tuple[object, ...]) -> tuple[object, ...] | None:
        """One row of a caller's read (``_read``). Raises: StateError."""
        try:
            row: tuple[object, ...] | None = self._read().execute(query, args).fetchone()
        except sqlite3.Error as exc:
            raise StateError(f"cannot read state: {exc}") from None
        return row

    def positions(self) -> dict[tuple[str, str], str]:
        rows = self.db.execute("SELECT jail, source, position FROM positions").fetchall()
        return {(j, s): p for j, s, p in rows}

    def pending_failures(self, jail: str) -> list[tuple[str, float]]:
        """(network text, time) of the failures a jail counts, oldest first."""
        rows = self.db.execute(
            "SELECT cleared, failures FROM failure_log WHERE jail = ? ORDER BY seq", (jail,)
        ).fetchall()
        return failurerows.pending_failures(rows, jail)  # (a damaged row skipped, counted)

    def counters(self) -> dict[str, tuple[int, int]]:
        """Each jail's committed (failed, banned) totals. Raises: StateError."""
        try:
            rows = (
                self._read()
                .execute("SELECT jail, total_failed, total_banned FROM counters")
                .fetchall()
            )
        except sqlite3.Error as exc:
            raise StateError(f"cannot read state: {exc}") from None
        found, skipped = plainrows.counters(rows)
        self._warn_skipped("counters", skipped)
        return found

    def ban_history(
        self, network: IPNetwork, since: float, text: str | None = None
    ) -> list[tuple[str, float]]:
        """(jail, banned_at) of the automatic bans of ``network`` (its ``network_text``
        when the caller has it) since ``since``."""
        if text is None:
            text = _key(network)
        if self._history is not None and text not in self._history:
            return []
        # Under the commit's lock: the agent reads while its last commit runs in a
        # thread, and this connection would see that transaction's rows half written.
        with self._writing:
            if self._history is None:
                self._history = HistoryRows(self.db)
            rows = self._history.read(self.db, text, since)
        found, skipped = plainrows.history(rows)
        self._warn_skipped("history", skipped)
        return found

    @property
    def history_networks(self) -> Container[str] | None:
        """The networks' texts with a row in the history, a superset (None until the first
        ``ban_history`` read): a network not in it has no history, as of ``commit_count``
        read before (a commit adds its networks before it counts itself); a dict (``in``:
        no call of Python per ban decided)."""
        return None if self._history is None else self._history.rowids

    def known_hostnames(self) -> dict[str, list[str]]:
        rows = self.db.execute("SELECT name, addresses FROM hostnames").fetchall()
        found, skipped = plainrows.hostnames(rows)
        self._warn_skipped("hostnames", skipped)
        return found

    def _warn_skipped(self, table: str, skipped: int) -> None:
        """Warn of the damaged rows of ``table`` once (the counters are read by every query)."""
        if skipped and self._warned.get(table) != skipped:
            self._warned[table] = skipped
            plainrows.warn_skipped(log, table, skipped)

    # --- writing -------------------------------------------------------------

    def commit(self, batches: Sequence[BatchCommit]) -> None:
        """Write batches in one transaction. Raises: StateError."""
        try:
            if not self.flood_cache and _rows(batches) >= FLOOD_ROWS:
                self._grow_cache()
            with self._writing:
                with self._transaction() as cur:
                    rows = CommitRows(self.native_commit)  # (state.commitrows: few statements)
                    for b in batches:
                        rows.add(cur, b)
                    rows.write(cur, self.detectors)
                    for writer in self.writers:
                        writer.write(cur, batches)
                if self._history is not None:  # (committed: the history rows' rowids)
                    if rows.ids is None:
                        self._history = None  # (read again at the next look)
                    else:
                        for ids in rows.ids:
                            self._history.add(ids)
                self.commit_count += 1  # under the lock: a history read sees both or neither
            del rows  # (freed before the heap's trim)
            self.detectors.trim()
        except BaseException as exc:
            self.detectors.forget()  # (rolled back: the sizes it counted were not written)
            if isinstance(exc, sqlite3.Error):
                raise StateError(f"cannot write state: {exc}") from None
            raise

    def _grow_cache(self) -> None:
        """The flood's page cache (FLOOD_CACHE_KIB), when the state is large enough."""
        with self._writing:
            (pages,) = self.db.execute("PRAGMA page_count").fetchone()
            (size,) = self.db.execute("PRAGMA page_size").fetchone()
            if pages * size >= FLOOD_STATE_BYTES:
                self.db.execute(f"PRAGMA cache_size=-{FLOOD_CACHE_KIB}")
                self.flood_cache = True

    def write_apart(self, write: Callable[[sqlite3.Cursor], None]) -> None:
        """One transaction of an edge feature's own rows, never beside a commit (and not
        counted as one). Raises: StateError."""
        try:
            with self._writing, self._transaction() as cur:
                write(cur)
        except sqlite3.Error as exc:
            raise StateError(f"cannot write state: {exc}") from None

    def prune(
        self,
        now: float,
        keep_failures_since: dict[str, float],
        history_since: float,
        ended_before: Mapping[str, float] | None = None,
    ) -> None:
        """Forget failures older than each jail's findtime and history older than needed.

        Only the oldest rows of the failure log go, up to the first row still
        within findtime: a row clearing a network stays while older rows do.
        ``ended_before``: per jail, the ban rows that ended before it go (bans that
        ended while the agent was down, which the expiry chore never lifts).
        """
        with self._transaction() as cur:
            for jail, before in (ended_before or {}).items():
                cur.execute(
                    "DELETE FROM bans WHERE jail = ? AND expires_at IS NOT NULL AND expires_at < ?",
                    (jail, before),
                )
            for jail, since in keep_failures_since.items():
                cur.execute(
                    "DELETE FROM failure_log WHERE jail = ? AND seq < coalesce("
                    "(SELECT min(seq) FROM failure_log WHERE jail = ? AND newest >= ?),"
                    " (SELECT max(seq) + 1 FROM failure_log))",
                    (jail, jail, since),
                )
            gone = cur.execute(
                "DELETE FROM history WHERE banned_at < ? RETURNING network, rowid",
                (history_since,),
            ).fetchall()
        if gone and self._history is not None:
            with self._writing:
                self._history.deleted(gone)

    def remember_hostname(self, name: str, addresses: Iterable[str], now: float) -> None:
        with self._transaction() as cur:
            cur.execute(
                "INSERT OR REPLACE INTO hostnames (name, addresses, resolved_at) VALUES (?, ?, ?)",
                (name, json.dumps(sorted(addresses)), now),
            )

    def _transaction(self) -> _Tx:
        return _Tx(self.db)


def _rows(batches: Sequence[BatchCommit]) -> int:
    """About how many rows the batches write."""
    rows = sum(len(b.bans) + len(b.history) + len(b.detector_rows) for b in batches)
    return rows + sum(len(keyed) for b in batches for keyed in b.detector_changes.values())


class _Tx:
    def __init__(self, db: sqlite3.Connection) -> None:
        self.db = db

    def __enter__(self) -> sqlite3.Cursor:
        self.cur = self.db.cursor()
        self.cur.execute("BEGIN IMMEDIATE")
        return self.cur

    def __exit__(self, et: object, ev: object, tb: object) -> None:
        if et is None:
            self.cur.execute("COMMIT")
        else:
            self.cur.execute("ROLLBACK")
        self.cur.close()
