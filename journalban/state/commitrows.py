"""A commit's rows, gathered over its batches and written in few statements (state.bulk).

A group of batches (a flood's thousands of bans) wrote each batch's rows on
their own, a statement per row, and a position, a failure-log row and a
counters row per batch. Here, inside the same transaction:

- unbans at once, a statement per jail and up to ``bulk.MOST_ROWS``
  networks (an expiry's thousands);
- bans in ``bulk`` statements as soon as a full one is gathered, the rest
  before the next unban (a ban's row must exist before a later batch's unban
  deletes it) or at the end: in the batches' order, so their rowids, the
  restore's order, are the ones a statement per ban gave them;
- the detectors' rows of all the batches, a log row per jail and detector
  (state.detectorlog);
- the history rows of all the batches go last, appended in the batches' order
  (state.historylog: no index on them; ``history_at``, the first one's rowid);
- failure-log rows in the batches' order (their ``seq``, the replay's order,
  as before); each source's last position only (a batch's position replaced
  the one before it in the same transaction); each jail's counters added up.

The tables end as the batches written one by one left them
(tests/unit/test_state_bulk_rows.py).
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Sequence
from itertools import chain
from json.encoder import encode_basestring_ascii
from operator import itemgetter
from typing import TYPE_CHECKING

from journalban.addresses import network_text
from journalban.state import bulk, detectorlog, historylog
from journalban.state.detectorlog import DetectorLog

if TYPE_CHECKING:
    from journalban.events import Ban
    from journalban.state.store import BatchCommit

# (network, jail, banned_at, expires_at, manual)
HistoryRow = tuple[str, str, float, "float | None", int]
# bans: (jail, network, banned_at, expires_at, ban_count, reason, failures, source,
# lines, account): schema.BANS's columns in their order.
BAN_COLUMNS = 10
# A statement of new bans inserts them OR IGNORE: no statement journal (a copy of each page
# a statement of many rows changes, to undo it alone), which an OR REPLACE keeps since a
# NOT NULL column without a default may abort it (replayed sshd-flood commits: 270 M
# instructions of 3,590 M). A statement that inserted fewer rows than it had (a re-ban of a
# stored ban, or a network twice in it) has its keys deleted and its rows written again
# OR REPLACE, in their order: each after every row left, as OR REPLACE put them.
INSERT_NEW_BANS = "INSERT OR IGNORE INTO bans"
INSERT_BANS = "INSERT OR REPLACE INTO bans"
# OR FAIL: no statement journal (a copy of each page a statement of many rows changes,
# to undo that statement alone): a failure rolls back the whole commit anyway (_Tx).
INSERT_HISTORY = "INSERT OR FAIL INTO history (network, jail, banned_at, expires_at, manual)"
INSERT_FAILURES = "INSERT INTO failure_log (jail, newest, cleared, failures)"
INSERT_POSITIONS = "INSERT OR REPLACE INTO positions (jail, source, position)"
ADD_COUNTERS = (
    "INSERT INTO counters (jail, total_failed, total_banned) VALUES (?, ?, ?)"
    " ON CONFLICT(jail) DO UPDATE SET total_failed = total_failed + excluded.total_failed,"
    " total_banned = total_banned + excluded.total_banned"
)
DELETE_BANS = "DELETE FROM bans WHERE jail = ? AND network IN"
_second = itemgetter(1)
_flat = chain.from_iterable


class CommitRows:
    """The rows of one commit's batches (``add`` each, then ``write``), in its transaction."""

    __slots__ = (
        "bans", "counters", "detector_rows", "failures", "history", "history_at", "positions",
    )  # fmt: skip

    def __init__(self) -> None:
        self.bans: list[object] = []  # the columns of bans not yet written, row after row
        self.history: list[HistoryRow] = []
        self.history_at = 0  # the rowid of the first history row written (0: not known)
        self.failures: list[object] = []  # failure_log's columns, row after row
        self.positions: dict[tuple[str, str], str] = {}
        self.counters: dict[str, list[int]] = {}  # jail: [failed, banned] to add
        # jail: detector: key: value (None: gone), the batches' rows in order
        self.detector_rows: dict[str, dict[str, dict[str, str | None]]] = {}

    def add(self, cur: sqlite3.Cursor, b: BatchCommit) -> None:
        """Batch ``b``'s rows: written now (unbans, full statements of bans) or at ``write``."""
        if b.position is not None:
            self.positions[b.jail, b.source] = b.position
        if b.cleared or b.new_failures:
            # A cleared network's failures all came before the ban that cleared
            # it, so ``newest`` covers them: pruning by it never drops a clear
            # while failures it cleared are kept (StateStore.prune).
            newest = max(
                max(map(_second, b.new_failures), default=0.0),
                max((ban.banned_at for ban, _ in b.history), default=0.0),
            )
            self.failures += (b.jail, newest, json.dumps(b.cleared), json.dumps(b.new_failures))
        if b.unbans:
            self.write_bans(cur)  # the earlier batches' bans before these unbans
            by_jail: dict[str, list[str]] = {}
            for ban in b.unbans:
                by_jail.setdefault(ban.jail, []).append(network_text(ban.network))
            for jail, networks in by_jail.items():
                bulk.delete(cur, DELETE_BANS, (jail,), networks)
        texts: list[str] = []  # the networks' texts of b.bans
        if b.bans:
            texts = [network_text(ban.network) for ban in b.bans]
            self.bans += _flat([
                (
                    ban.jail, text, ban.banned_at, ban.expires_at, ban.ban_count, ban.reason,
                    ban.failures, ban.source, lines_text(ban.lines), ban.account or None,
                )
                for ban, text in zip(b.bans, texts, strict=True)
            ])  # fmt: skip
            if len(self.bans) >= bulk.MOST_ROWS * BAN_COLUMNS:
                self._write_full_bans(cur)
        if b.history:
            self.history += history_rows(b.history, b.bans, texts)
        if b.detector_rows:
            detectorlog.gather(self.detector_rows.setdefault(b.jail, {}), b.detector_rows)
        if b.failed_delta or b.banned_delta:
            counts = self.counters.setdefault(b.jail, [0, 0])
            counts[0] += b.failed_delta
            counts[1] += b.banned_delta

    def _write_full_bans(self, cur: sqlite3.Cursor) -> None:
        """The bans that fill whole statements of ``MOST_ROWS``; the rest wait for more."""
        values = self.bans
        full = len(values) - len(values) % (bulk.MOST_ROWS * BAN_COLUMNS)
        bulk.insert_new(cur, INSERT_NEW_BANS, BAN_COLUMNS, values[:full], _bans_again)
        del values[:full]

    def write_bans(self, cur: sqlite3.Cursor) -> None:
        """Every ban gathered so far."""
        if self.bans:
            bulk.insert_new(cur, INSERT_NEW_BANS, BAN_COLUMNS, self.bans, _bans_again)
            self.bans = []

    def write(self, cur: sqlite3.Cursor, detectors: DetectorLog) -> None:
        """Everything gathered and not yet written (the store remembers where the history
        rows went: ``history_at``)."""
        self.write_bans(cur)
        for jail, changed in self.detector_rows.items():
            detectors.write(cur, jail, changed)
        rows = self.history
        if rows:
            first = historylog.next_rowid(cur)
            bulk.insert(cur, INSERT_HISTORY, 5, list(_flat(rows)))
            # (each row one past the largest rowid, in order: SQLite's rule but at its end)
            self.history_at = first if cur.lastrowid == first + len(rows) - 1 else 0
        if self.failures:
            bulk.insert(cur, INSERT_FAILURES, 4, self.failures)
        if self.positions:
            values = [(j, s, p) for (j, s), p in self.positions.items()]
            bulk.insert(cur, INSERT_POSITIONS, 3, list(_flat(values)))
        for jail, (failed, banned) in self.counters.items():
            cur.execute(ADD_COUNTERS, (jail, failed, banned))


def _bans_again(cur: sqlite3.Cursor, values: Sequence[object]) -> None:
    """A statement's bans that were not all new (``INSERT_NEW_BANS``): whatever row holds
    one of their keys now (stored before, or inserted by the statement) deleted, then the
    bans written in their order."""
    by_jail: dict[object, list[object]] = {}
    for at in range(0, len(values), BAN_COLUMNS):
        by_jail.setdefault(values[at], []).append(values[at + 1])
    for jail, networks in by_jail.items():
        bulk.delete(cur, DELETE_BANS, (jail,), networks)
    bulk.insert(cur, INSERT_BANS, BAN_COLUMNS, values)


def history_rows(
    history: Sequence[tuple[Ban, bool]], bans: Sequence[Ban], texts: Sequence[str]
) -> list[HistoryRow]:
    """A batch's history rows; ``texts``: the networks' texts of its ``bans``.

    A batch's bans are among its history, in the same order (its history also holds the
    bans decided already over): their texts are taken, not made again (a dict lookup
    hashing the network in Python, about a third of a µs a ban)."""
    rows: list[HistoryRow] = []
    add = rows.append
    at, stored = 0, len(bans)
    for ban, manual in history:
        if at < stored and bans[at] is ban:
            text = texts[at]
            at += 1
        else:
            text = network_text(ban.network)
        add((text, ban.jail, ban.banned_at, ban.expires_at, int(manual)))
    return rows


def lines_text(lines: Sequence[str]) -> str:
    """``json.dumps(list(lines))``, each line escaped by the function json.dumps uses for
    it (ensure_ascii), without its encoder's set-up per ban (tests/unit/test_row_text.py)."""
    if len(lines) == 1:  # (most bans: no map, no join)
        return "[" + encode_basestring_ascii(lines[0]) + "]"
    return "[" + ", ".join(map(encode_basestring_ascii, lines)) + "]"
