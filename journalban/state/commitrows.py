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
- a stored ban's history row copied from its row by SQLite (state.historylog:
  ``copy_new``), not built, bound and parsed again: one statement for the bans
  of a run of statements, before an unban or a re-ban touches them and at the
  end; the other history rows (bans decided already over, manual ones)
  go last, appended in the batches' order (no index on them);
- failure-log rows in the batches' order (their ``seq``, the replay's order,
  as before); each source's last position only (a batch's position replaced
  the one before it in the same transaction); each jail's counters added up.

The tables end as the batches written one by one left them
(tests/unit/test_state_bulk_rows.py).
"""

from __future__ import annotations

import json
import os
import sqlite3
from collections.abc import Callable, Sequence
from itertools import chain, compress
from json.encoder import c_make_encoder, encode_basestring_ascii  # type: ignore[attr-defined]
from operator import attrgetter, is_, itemgetter
from typing import TYPE_CHECKING, cast

from journalban.addresses import TEXT, network_text
from journalban.state import bulk, detectorlog, historylog, nativecommit
from journalban.state.detectorlog import DetectorLog
from journalban.state.failurerows import cleared_text

if TYPE_CHECKING:
    from types import NotImplementedType

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
_first = itemgetter(0)
_second = itemgetter(1)
_banned_at = attrgetter("banned_at")
_lines = attrgetter("lines")
# A bans row's jail, source, reason and lines columns (``ban_values``' order), bound once
# as ?1, ?2, ... by a statement whose rows share the first two, three or all four
# (_bans_statement): a flood's bans of the detectors have no lines, each '[]'.
_JAIL, _SOURCE, _REASON, _LINES = 0, 7, 5, 8
_SHARED = (_JAIL, _SOURCE, _REASON, _LINES)
# By how many are shared (2 to 4): which of MOST_ROWS rows' columns are a row's own.
_OWN = {
    shared: tuple(column not in _SHARED[:shared] for column in range(BAN_COLUMNS)) * bulk.MOST_ROWS
    for shared in (2, 3, 4)
}
_SHARED_TEXTS: dict[tuple[int, int], str] = {}
# Each byte json's escape (ensure_ascii) leaves as it is (printable ASCII but ``"`` and
# ``\\``) to itself, any other to a space: a text json leaves as it is is left so here.
_PLAIN = bytes(c if 0x20 <= c < 0x7F and c not in b'"\\' else 0x20 for c in range(256))
_flat = chain.from_iterable
# A batch's new failures ((network text, time) tuples) as json.dumps writes them, by the
# encoder json.dumps makes in C, made once: without json.dumps's check for a list holding
# itself (a dict of each list's and tuple's id, set and cleared: sshd's 6,715 failures in
# 230 batches 2.0-2.2 -> 1.7 ms a run), nor ``JSONEncoder.encode``'s two Python calls and
# a new C encoder a batch.
_encoder = json.JSONEncoder(check_circular=False)
_failures_chunks = (
    None
    if c_make_encoder is None
    else c_make_encoder(
        None, _encoder.default, encode_basestring_ascii, None, _encoder.key_separator,
        _encoder.item_separator, False, False, True,
    )
)  # fmt: skip


def _json(failures: object) -> str:
    if _failures_chunks is None:
        return _encoder.encode(failures)
    return "".join(_failures_chunks(failures, 0))


class CommitRows:
    """The rows of one commit's batches (``add`` each, then ``write``), in its transaction."""

    __slots__ = (
        "bans", "copied", "counters", "detector_rows", "failures", "history", "ids", "native",
        "positions", "scattered", "uncopied",
    )  # fmt: skip

    def __init__(self, native: bool = False) -> None:
        # Whether the statements of new bans run in C (state.nativecommit: the store's
        # connection loaded the extension); the bans then wait for a write (``write_bans``):
        # the same statements, in one job.
        self.native = native
        self.bans: list[object] = []  # the columns of bans not yet written, row after row
        # The networks' texts of the bans written whose history rows are not yet copied
        # (``_copy``): the rows after rowid ``copied``, in rowid order.
        self.uncopied: list[str] = []
        self.copied = 0
        # Whether the bans table's rowids are past where each new row takes one past the
        # largest (SQLite then picks them at random): the history rows copied by keys. None:
        # not yet looked at in this commit.
        self.scattered: bool | None = None
        self.history: list[HistoryRow] = []  # (the rows not copied from the bans' rows)
        # (network text, rowid) of each history row written, by parts; None: not known.
        self.ids: list[historylog.Ids] | None = []
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
                max(map(_banned_at, map(_first, b.history)), default=0.0),  # (in C)
            )
            self.failures += (b.jail, newest, cleared_text(b.cleared), _json(b.new_failures))
        if b.unbans:
            self.write_bans(cur)  # the earlier batches' bans before these unbans
            by_jail: dict[str, list[str]] = {}
            for ban in b.unbans:
                by_jail.setdefault(ban.jail, []).append(network_text(ban.network))
            for jail, networks in by_jail.items():
                bulk.delete(cur, DELETE_BANS, (jail,), networks)
        if b.bans:
            values = ban_values(b.bans, b.lines_of)
            others = unstored_rows(b.history, b.bans)
            if others is None:  # (a manual ban, or one not in the history: rows of its own)
                self.write_bans(cur)  # (the bans before it, in their order)
                bulk.insert_new(cur, INSERT_NEW_BANS, BAN_COLUMNS, values, _bans_again)
                texts = cast("Sequence[str]", values[1::BAN_COLUMNS])
                self.history += history_rows(b.history, b.bans, texts)
            else:
                self.history += others
                self.bans += values
                if len(self.bans) >= bulk.MOST_ROWS * BAN_COLUMNS and not self.native:
                    self._write_full_bans(cur)
        elif b.history:
            self.history += history_rows(b.history, (), ())
        if b.detector_rows or b.detector_changes:
            detectorlog.gather(
                self.detector_rows.setdefault(b.jail, {}), b.detector_rows, b.detector_changes
            )
        if b.failed_delta or b.banned_delta:
            counts = self.counters.setdefault(b.jail, [0, 0])
            counts[0] += b.failed_delta
            counts[1] += b.banned_delta

    def _write_full_bans(self, cur: sqlite3.Cursor) -> None:
        """The bans that fill whole statements of ``MOST_ROWS``; the rest wait for more."""
        values = self.bans
        full = len(values) - len(values) % (bulk.MOST_ROWS * BAN_COLUMNS)
        self._insert_bans(cur, values[:full])
        del values[:full]

    def write_bans(self, cur: sqlite3.Cursor) -> None:
        """Every ban gathered so far, with its history row (before an unban deletes a row,
        and at the end)."""
        if self.bans:
            self._insert_bans(cur, self.bans)
            self.bans = []
        self._copy(cur)

    def _insert_bans(self, cur: sqlite3.Cursor, values: Sequence[object]) -> None:
        """Bans whose history rows are copied from their rows (``_copy``); a statement that
        met a stored key (a re-ban) has them copied by their keys."""
        if self.scattered is None:
            (top,) = cur.execute("SELECT max(rowid) FROM bans").fetchone()
            self.scattered = top is not None and top >= historylog.CONTIGUOUS
        parts = [*bulk.statements(values, BAN_COLUMNS)]
        job = None if self.scattered or not self.native else _job(parts)
        at = 0
        ran: Sequence[tuple[int, int | None]]
        while at < len(parts):
            if job is None:
                size, part = parts[at]
                cur.execute(*_bans_statement(size, part))
                ran = [(cur.rowcount, cur.lastrowid)]
            else:  # (to the end, or to the first statement the loop below writes SQL after)
                uncopied = self.uncopied
                ran = nativecommit.run(cur, job, self.copied + len(uncopied) if uncopied else -1)
            for count, last in ran:
                size, part = parts[at]
                at += 1
                self._inserted(cur, size, part, count, last)

    def _inserted(
        self, cur: sqlite3.Cursor, size: int, part: Sequence[object], count: int, last: int | None
    ) -> None:
        """After a statement of ``size`` new bans ``part`` that inserted ``count`` rows, the
        last rowid ``last``: its history rows to copy from its rows, or copied by its keys."""
        if count == size:
            if self.scattered or last is None or last >= historylog.CONTIGUOUS:
                # (rowids SQLite picked, or past those ``copy_new`` copies as a range)
                self._copy(cur)
                self._found(historylog.copy_keys(cur, part, BAN_COLUMNS))
                return
            uncopied = self.uncopied
            if not uncopied or last != self.copied + len(uncopied) + size:
                self._copy(cur)  # (not right after the rows waiting: theirs first)
                self.copied = last - size
            self.uncopied += cast("list[str]", part[1::BAN_COLUMNS])
        else:
            self._copy(cur)
            _bans_again(cur, part)
            self.history += historylog.replaced(part, BAN_COLUMNS)
            self._found(historylog.copy_keys(cur, part, BAN_COLUMNS))

    def _copy(self, cur: sqlite3.Cursor) -> None:
        """The history rows of the bans written and not yet copied, copied from their rows
        in one statement (sshd's commits: 14 statements, not 239, one per statement of
        bans)."""
        texts = self.uncopied
        if texts:
            self.uncopied = []
            self._found(historylog.copy_new(cur, len(texts), texts, self.copied))

    def _found(self, found: historylog.Ids | None) -> None:
        if found is None:
            self.ids = None  # (read again from the table)
        elif self.ids is not None:
            self.ids.append(found)

    def write(self, cur: sqlite3.Cursor, detectors: DetectorLog) -> None:
        """Everything gathered and not yet written (the store remembers where the history
        rows went: ``history_at``)."""
        self.write_bans(cur)
        for jail, changed in self.detector_rows.items():
            detectors.write(cur, jail, changed)
        rows = self.history
        first = historylog.next_rowid(cur) if rows and self.ids is not None else 0
        statements = bulk.parts(INSERT_HISTORY, 5, list(_flat(rows)))
        written = len(statements)  # (those of the history rows)
        statements += bulk.parts(INSERT_FAILURES, 4, self.failures)
        values = [(j, s, p) for (j, s), p in self.positions.items()]
        statements += bulk.parts(INSERT_POSITIONS, 3, list(_flat(values)))
        statements += [(ADD_COUNTERS, (jail, *counts)) for jail, counts in self.counters.items()]
        last = nativecommit.execute(cur, statements, self.native)  # (in one job where native)
        if written and self.ids is not None:
            found = historylog.appended(last[written - 1], first, map(_first, rows), len(rows))
            self.ids = None if found is None else [*self.ids, found]


def _bans_statement(size: int, part: Sequence[object]) -> tuple[str, Sequence[object]]:
    """The statement of new bans (``INSERT_NEW_BANS``) of ``size`` rows ``part``, and its
    parameters: a statement whose rows share their jail and source (most: a batch's bans)
    binds each once, ``?1`` and ``?2`` in every row, their reason too (``?3``) when they
    share it (sshd-near-miss's, authlog-mixed's and sshd-flood's bans nearly all), and then
    their lines (``?4``) when they share those too (sshd-flood's bans: no lines).
    Binding a text costs about three times an integer (SQLite frees the parameter's last
    copy and copies the new one through its allocator, whose mutex and statistics are on
    in Debian's build): sshd's 12,509 bans bound 75,000 texts, now 50,000
    (test_state_bulk_rows.py). The choice and the parameters in C where the accelerator is
    built (``_rowvalues.shared_params``)."""
    if NATIVE_SHARED is not None and type(part) is list:
        shared, params = NATIVE_SHARED(part)
        if shared:
            return _shared_statement(size, shared), params
        return bulk.statement(INSERT_NEW_BANS, BAN_COLUMNS, size), part
    shared = 0
    for column in _SHARED:
        if part[column::BAN_COLUMNS].count(part[column]) != size:
            break
        shared += 1
    if shared < 2:
        return bulk.statement(INSERT_NEW_BANS, BAN_COLUMNS, size), part
    params = [part[column] for column in _SHARED[:shared]]
    return _shared_statement(size, shared), [*params, *compress(part, _OWN[shared])]


def _shared_statement(size: int, shared: int) -> str:
    """``INSERT_NEW_BANS`` of ``size`` rows, jail ``?1`` and source ``?2`` in each, reason
    ``?3`` when ``shared`` is 3 or more, lines ``?4`` when it is 4 (the same text object
    each time: the connection's statement cache hashes it once)."""
    text = _SHARED_TEXTS.get((size, shared))
    if text is None:
        width = BAN_COLUMNS - shared  # (a row's own columns)
        marks = {column: f"?{n + 1}" for n, column in enumerate(_SHARED[:shared])}
        rows = []
        for row in range(size):
            own = iter([f"?{shared + 1 + width * row + n}" for n in range(width)])
            columns = [marks.get(column) or next(own) for column in range(BAN_COLUMNS)]
            rows.append("(" + ", ".join(columns) + ")")
        text = _SHARED_TEXTS[size, shared] = f"{INSERT_NEW_BANS} VALUES " + ", ".join(rows)
    return text


def _job(parts: Sequence[tuple[int, Sequence[object]]]) -> nativecommit.Job | None:
    """The statements of new bans ``parts`` (``bulk.statements``' cuts) as one job, each
    checked (``_commitext``'s stop rule); None where a value is not one it binds."""
    statements: list[nativecommit.Statement] = []
    for size, part in parts:
        sql, params = _bans_statement(size, part)
        statements.append((sql, params, size))
    return nativecommit.job(statements)


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


def unstored_rows(
    history: Sequence[tuple[Ban, bool]], bans: Sequence[Ban]
) -> list[HistoryRow] | None:
    """A batch's history rows but those of its stored ``bans`` (copied from their rows:
    ``CommitRows._insert_bans``), if each of those is in its ``history``, in order, and
    automatic; else None (every row is built: ``history_rows``). In C where the accelerator is
    built (``_rowvalues.unstored_rows``: a flood's batches hold bans decided already over)."""
    if NATIVE_UNSTORED is not None:
        found = NATIVE_UNSTORED(history, bans, TEXT, network_text)
        if found is None or type(found) is list:
            return found
    if (
        len(history) == len(bans)
        and all(map(is_, map(_first, history), bans))
        and not any(map(_second, history))
    ):
        return []  # (a batch of the deciding's own bans, most often: looked at in C)
    rows: list[HistoryRow] = []
    at, stored = 0, len(bans)
    for ban, manual in history:
        if at < stored and bans[at] is ban:
            if manual:
                return None
            at += 1
        else:
            rows.append(
                (network_text(ban.network), ban.jail, ban.banned_at, ban.expires_at, int(manual))
            )
    return rows if at == stored else None


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


def ban_values(
    bans: Sequence[Ban], lines_of: dict[int, tuple[str, ...]] | None = None
) -> list[object]:
    """The ``bans`` rows' columns (``BAN_COLUMNS``), row after row; a ban's lines are its
    own, or ``lines_of``'s by its ``id`` where it was made without them
    (``BatchCommit.lines_of``).

    In C where the accelerator is built (``_rowvalues``: the same objects and texts, a
    ban's columns read and its lines escaped without a Python step); else one
    comprehension, no call of Python per ban: a network's text as ``network_text`` kept it
    on the network (the deciding made it), the lines' texts made for the batch at once
    (``lines_texts``)."""
    if NATIVE_VALUES is not None:
        return NATIVE_VALUES(bans, lines_of, TEXT, network_text)
    return python_ban_values(bans, lines_of)


def python_ban_values(
    bans: Sequence[Ban], lines_of: dict[int, tuple[str, ...]] | None = None
) -> list[object]:
    """``ban_values`` in Python (the reference of the C accelerator's)."""
    each = [*map(_lines, bans)]
    if lines_of:  # (in C: a ban's own lines are the default of its lookup)
        each = [*map(lines_of.get, map(id, bans), each)]
    return [
        *_flat([
            (
                ban.jail, getattr(net := ban.network, TEXT, None) or network_text(net),
                ban.banned_at, ban.expires_at, ban.ban_count, ban.reason, ban.failures, ban.source,
                lines, ban.account or None,
            )
            for ban, lines in zip(bans, lines_texts(each), strict=True)
        ])
    ]  # fmt: skip


def lines_texts(each: Sequence[Sequence[str]]) -> list[str]:
    """``lines_text`` of each of ``each``: when no line holds a character json escapes
    (printable ASCII but the quote and the backslash: one check of the lines joined, in C)
    and every ban has lines, the lines as they are between the quotes; else one by one.
    sshd's 12,509 bans (18,642 lines of 102 characters): 88 M -> 38 M instructions, json's
    escape of each line and its concatenations (tests/unit/test_row_text.py)."""
    joined = "".join(_flat(each))
    if joined.isascii() and (raw := joined.encode()).translate(_PLAIN) == raw and all(each):
        return [f'["{lines}"]' for lines in map('", "'.join, each)]
    return [*map(lines_text, each)]


def lines_text(lines: Sequence[str]) -> str:
    """``json.dumps(list(lines))``, each line escaped by the function json.dumps uses for
    it (ensure_ascii), without its encoder's set-up per ban (tests/unit/test_row_text.py)."""
    if len(lines) == 1:  # (most bans: no map, no join)
        return "[" + encode_basestring_ascii(lines[0]) + "]"
    return "[" + ", ".join(map(encode_basestring_ascii, lines)) + "]"


_NativeValues = Callable[
    [Sequence["Ban"], "dict[int, tuple[str, ...]] | None", str, Callable[..., str]], list[object]
]
_NativeShared = Callable[[list[object]], tuple[int, list[object]]]
_NativeUnstored = Callable[
    [Sequence[tuple["Ban", bool]], Sequence["Ban"], str, Callable[..., str]],
    "list[HistoryRow] | NotImplementedType | None",
]
# Set it to "0" (before the import) for the pure-Python path.
NATIVE_ENV = "JOURNALBAN_NATIVE_ROWS"


def _native() -> tuple[_NativeValues, _NativeShared, _NativeUnstored] | tuple[None, None, None]:
    """``ban_values``, ``_bans_statement``'s parameters and ``unstored_rows`` in C
    (``journalban.state._rowvalues``); None where the module is not built (a pip install
    without a compiler) or ``JOURNALBAN_NATIVE_ROWS=0``."""
    if os.environ.get(NATIVE_ENV, "1") == "0":
        return None, None, None
    try:
        from journalban.state._rowvalues import ban_values, shared_params, unstored_rows
    except ImportError:
        return None, None, None
    return ban_values, shared_params, unstored_rows


# Looked up once, at import; tests set them to None to run the pure-Python path.
NATIVE_VALUES: _NativeValues | None
NATIVE_SHARED: _NativeShared | None
NATIVE_UNSTORED: _NativeUnstored | None
NATIVE_VALUES, NATIVE_SHARED, NATIVE_UNSTORED = _native()
