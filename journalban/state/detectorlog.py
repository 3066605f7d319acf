"""The detectors' rows as a log of packed changes (state format 2, ``detector_log``).

A detector reports each key it changed as a row (an address's buckets, a
prefix's networks...). Format 1 stored a row per key in ``detector_state``,
keyed by (jail, detector, key): a flood's commit inserted and deleted
thousands of random keys in that B-tree, with the pages they dirtied (about
half of the commits' CPU on sshd-flood). Here a commit writes one row per
(jail, detector) it changed: its keys and values (null: the key is gone) as
one JSON list, appended in ``seq`` order. When the entries logged since a
detector's last whole row pass ``RATIO`` times the keys it held then (and
``MIN_LOGGED``), or its rows pass ``MOST_ROWS``, the commit writes a whole
row (every key it holds: the one before it, and the changes since, applied)
and deletes the rows it replaces.

``detector_state`` is still read: rows a format 1 file holds, under the log
(a whole row replaces them; the first one also deletes them). The detectors
read back ``read_rows``: each key's last value, in the key's order, as
format 1 gave them.
"""

from __future__ import annotations

import functools
import json
import logging
import os
import sqlite3
from collections.abc import Callable, Mapping, Sequence
from itertools import chain
from operator import countOf, itemgetter
from typing import cast

from journalban.libc import libc_function
from journalban.state.downgrade import step_back

log = logging.getLogger("journalban.state")

# (detector, key, value or None: the key is gone): state.detection.DetectorRow
Row = tuple[str, str, "str | None"]
# A whole row is written once the entries logged since the last one pass RATIO times the
# keys it held (and MIN_LOGGED): the whole rows' writes are then at most 1 / RATIO of the
# changes' own (amortized), and a read takes at most 1 + RATIO times the keys held (a
# flood's 60,000 keys: about 0.1 s at a start). A whole row of a flood's tens of thousands
# of keys costs the commits more than its own CPU (it reads and frees thousands of pages
# through the page cache the bans' and history's indexes use): replayed sshd-flood
# commits 3,833 M instructions with 4 and 4,096, 3,648 M with these (sshd 813 -> 748 M).
RATIO = 8
MIN_LOGGED = 16384
# Rows logged since the last whole row (at most): a state of few keys changed by many
# small commits is packed too.
MOST_ROWS = 256
# Entries written between two trims of the C heap (DetectorLog.trim): a flood's commits.
TRIM_ENTRIES = 16384
INSERT = "INSERT INTO detector_log (jail, detector, whole, entries, changes) VALUES (?, ?, ?, ?, ?)"
_first = itemgetter(0)
# A log row's changes packed (format 4, ``_text``): PACKED, then keys and values in turn
# with SEP between them, GONE for a key gone. Control characters no network text holds.
PACKED = "\x1e"
SEP = "\x1f"
GONE = "\x1d"
# (value, value) -> GONE for None, else value; and back
_gone = cast("Callable[[str | None, str | None], str]", {None: GONE}.get)
_back = cast("Callable[[str, str], str | None]", {GONE: None}.get)
_flat = chain.from_iterable
_STR = {str}
# ``_text``'s packed text in C (state._rowvalues), or None: the pure-Python path (the
# module not built, or JOURNALBAN_NATIVE_ROWS=0); tests set it to None to run that path.
NATIVE_PACKED: Callable[[Mapping[str, str | None], str, str, str], str | None] | None
if os.environ.get("JOURNALBAN_NATIVE_ROWS", "1") == "0":
    NATIVE_PACKED = None
else:
    try:
        from journalban.state._rowvalues import packed as NATIVE_PACKED
    except ImportError:
        NATIVE_PACKED = None
_STR_NONE = {str, type(None)}
# A jail's rows (False) or one detector's (True).
_SELECT_ROWS = {
    False: "SELECT detector, key, value FROM detector_state WHERE jail = ?",
    True: "SELECT detector, key, value FROM detector_state WHERE jail = ? AND detector = ?",
}
_SELECT_LOG = {
    False: "SELECT detector, whole, changes FROM detector_log WHERE jail = ? ORDER BY seq",
    True: "SELECT detector, whole, changes FROM detector_log WHERE jail = ? AND detector = ?"
    " ORDER BY seq",
}


class DetectorLog:
    """The writes of one state connection: each (jail, detector)'s sizes, to tell when a
    whole row is due. A guide only: wrong sizes (after a rollback) cost time, not rows."""

    __slots__ = ("logged", "sizes")

    def __init__(self) -> None:
        # (jail, detector): [keys of the last whole row, entries logged since, rows since]
        self.sizes: dict[tuple[str, str], list[int]] = {}
        self.logged = 0  # entries written since the last ``trim``

    def trim(self) -> None:
        """After a commit: once a flood's entries were written (``TRIM_ENTRIES``), the C
        heap's free pages go back (``malloc_trim``). The commit thread's texts, lists and
        dicts of tens of thousands of entries are freed at its end, but glibc kept the
        pages of its arena resident: 4-5 MB more Pss_Anon on sshd-flood than the rows one
        by one, 1 MB with a trim after such a commit."""
        if self.logged >= TRIM_ENTRIES:
            self.logged = 0
            trim = _malloc_trim()
            if trim is not None:
                trim(0)

    def forget(self) -> None:
        """After a rolled-back transaction: the sizes are read again when needed."""
        self.sizes.clear()

    def write(
        self, cur: sqlite3.Cursor, jail: str, changes: dict[str, dict[str, str | None]]
    ) -> None:
        """A jail's ``changes`` (``gather``), inside the caller's transaction: a log row per
        detector, and a whole row when one is due."""
        for detector, found in changes.items():
            size = self.sizes.get((jail, detector))
            if size is None:
                size = self.sizes[jail, detector] = _sizes(cur, jail, detector)
            cur.execute(INSERT, (jail, detector, 0, len(found), _text(found)))
            self.logged += len(found)
            size[1] += len(found)
            size[2] += 1
            if (size[1] > MIN_LOGGED and size[1] > RATIO * size[0]) or size[2] > MOST_ROWS:
                size[:] = [_write_whole(cur, jail, detector), 0, 0]
                self.logged += size[0]


@functools.cache
def _malloc_trim() -> Callable[[int], int] | None:
    """glibc's ``malloc_trim``, or None (another C library); looked up when first needed
    (a flood's commit)."""
    return libc_function("malloc_trim")


def gather(
    changes: dict[str, dict[str, str | None]],
    rows: Sequence[Row],
    changed: dict[str, dict[str, str | None]] | None = None,
) -> None:
    """Add a batch's ``rows`` to ``changes`` (detector: key: value), as format 1 wrote
    them: the batch's deleted keys first, then its written ones (a key both deleted and
    written in one batch keeps its value), the last row of a key winning.

    ``changed``: more of the batch's rows after ``rows``, as detector: key: value, a key
    once each; without ``rows`` each of its dicts is the batch's own for its detector
    (no loop of Python a row). The caller hands the dicts over: they may be kept."""
    if changed:
        if rows:  # (both: as rows, in their order)
            rows = [*rows, *((d, k, v) for d, found in changed.items() for k, v in found.items())]
        else:
            for detector, keyed in changed.items():
                _merge(changes, detector, keyed)
            return
    batch: dict[str, dict[str, str | None]] = {}
    for detector, key, value in rows:
        found = batch.get(detector)
        if found is None:
            found = batch[detector] = {}
        if value is None:
            found.setdefault(key, None)  # (a value the batch wrote stays)
        else:
            found[key] = value
    for detector, found in batch.items():
        _merge(changes, detector, found)


def _merge(
    changes: dict[str, dict[str, str | None]], detector: str, keyed: dict[str, str | None]
) -> None:
    """``keyed`` (a batch's own dict, handed over) as ``detector``'s changes, or added to
    those held: a key written later wins."""
    held = changes.get(detector)
    if held is None:
        changes[detector] = keyed
    else:
        held.update(keyed)


def add_rows(
    rows: list[Row],
    changed: dict[str, dict[str, str | None]],
    name: str,
    found: Sequence[tuple[str, str | None]],
) -> None:
    """Add detector ``name``'s ``found`` (key, value) to a batch's rows, which are ``rows``
    then ``changed`` (``gather``'s two): to ``changed`` as a dict made in C; where that
    would not gather as rows do (a key twice in ``found``, ``name`` in ``changed``
    already), everything as rows, in order."""
    if not found:
        return
    keyed = dict(found)
    if len(keyed) == len(found) and name not in changed:
        changed[name] = keyed
        return
    rows += [(d, k, v) for d, held in changed.items() for k, v in held.items()]
    changed.clear()
    rows += [(name, k, v) for k, v in found]


def _sizes(cur: sqlite3.Cursor, jail: str, detector: str) -> list[int]:
    (keys,) = cur.execute(
        "SELECT count(*) FROM detector_state WHERE jail = ? AND detector = ?", (jail, detector)
    ).fetchone()
    logged = rows = 0
    for whole, entries in cur.execute(
        "SELECT whole, entries FROM detector_log WHERE jail = ? AND detector = ? ORDER BY seq",
        (jail, detector),
    ):
        if whole:
            keys, logged, rows = entries, 0, 0
        else:
            logged += entries if type(entries) is int else 0
            rows += 1
    return [keys if type(keys) is int else 0, logged, rows]


def _write_whole(cur: sqlite3.Cursor, jail: str, detector: str) -> int:
    """The detector's every key as one row, the rows it replaces deleted; its keys."""
    held = _held(cur, jail, detector).get(detector, {})
    cur.execute(INSERT, (jail, detector, 1, len(held), _text(held)))
    seq = cur.lastrowid
    cur.execute(
        "DELETE FROM detector_log WHERE jail = ? AND detector = ? AND seq < ?",
        (jail, detector, seq),
    )
    cur.execute("DELETE FROM detector_state WHERE jail = ? AND detector = ?", (jail, detector))
    return len(held)


def read_rows(
    db: sqlite3.Connection | sqlite3.Cursor, jail: str
) -> dict[str, list[tuple[str, str]]]:
    """A jail's rows by detector: (key, value), in the key's order (a detector without
    any: none)."""
    found: dict[str, list[tuple[str, str]]] = {}
    for detector, held in _held(db, jail).items():
        rows: list[tuple[str, str]] = [*held.items()]  # type: ignore[list-item]  # (no None)
        if rows:
            rows.sort(key=_first)
            found[detector] = rows
    return found


def all_rows(db: sqlite3.Connection) -> list[tuple[str, str, str, str]]:
    """Every jail's rows (jail, detector, key, value): the table format 1 held."""
    jails = db.execute(
        "SELECT jail FROM detector_state UNION SELECT jail FROM detector_log"
    ).fetchall()
    return [
        (str(jail), detector, key, value)
        for (jail,) in jails
        for detector, rows in read_rows(db, str(jail)).items()
        for key, value in rows
    ]


def downgrade(path: str) -> None:
    """The state file at ``path`` back to format 1 (for a version before format 2, the agent
    stopped): every detector's rows a row per key in ``detector_state``, the log dropped.
    One transaction (``state.downgrade``). Raises: sqlite3.Error."""

    def back(db: sqlite3.Connection) -> None:
        rows = all_rows(db)
        db.execute("DELETE FROM detector_state")
        db.executemany("INSERT INTO detector_state VALUES (?, ?, ?, ?)", rows)
        db.execute("DROP TABLE detector_log")

    step_back(path, 2, back)


def unpack(path: str) -> None:
    """The state file at ``path`` back to format 3 (for a version of format 3, the agent
    stopped): every packed row (the detectors' log, the failure log's cleared networks)
    written again as JSON. One transaction (``state.downgrade``).
    Raises: sqlite3.Error."""
    # (failurerows imports this module: its reader of a packed list imported when called)
    from journalban.state.failurerows import networks

    def back(db: sqlite3.Connection) -> None:
        rows = db.execute(
            "SELECT seq, changes FROM detector_log WHERE substr(changes, 1, 1) = ?", (PACKED,)
        ).fetchall()
        db.executemany(
            "UPDATE detector_log SET changes = ? WHERE seq = ?",
            [(json.dumps([*_flat(_changes(text).items())]), seq) for seq, text in rows],
        )
        rows = db.execute(
            "SELECT seq, cleared FROM failure_log WHERE substr(cleared, 1, 1) = ?", (PACKED,)
        ).fetchall()
        db.executemany(
            "UPDATE failure_log SET cleared = ? WHERE seq = ?",
            [(json.dumps(networks(text)), seq) for seq, text in rows],
        )

    step_back(path, 4, back)


def _held(
    db: sqlite3.Connection | sqlite3.Cursor, jail: str, detector: str | None = None
) -> dict[str, dict[str, str | None]]:
    """Each detector's keys and values from the rows of format 1 and the log after them (a
    key gone is not there: no value is None); a log row that cannot be read is skipped,
    with a warning."""
    one = detector is not None
    args = (jail, detector) if one else (jail,)
    held: dict[str, dict[str, str | None]] = {}
    for name, key, value in db.execute(_SELECT_ROWS[one], args):
        found = held.get(name)
        if found is None:
            found = held.setdefault(str(name), {})  # (str: a name damaged by hand)
        found[str(key)] = str(value)
    skipped = 0
    for name, whole, text in db.execute(_SELECT_LOG[one], args):
        try:
            changes = _changes(text)
        except (ValueError, TypeError, RecursionError):
            skipped += 1
            continue
        name = str(name)
        if whole or name not in held:
            held[name] = found = changes
        else:
            found = held[name]
            found.update(changes)
        for key in [key for key, value in changes.items() if value is None]:
            del found[key]  # (gone: a flood's churned keys not held until the end)
    if skipped:
        log.warning(
            "unreadable detector rows: %d logged row(s) of jail %s could not be read and "
            "were skipped", skipped, jail,
        )  # fmt: skip
    return held


def _text(changes: Mapping[str, str | None]) -> str:
    """``changes`` packed (format 4): ``PACKED``, then keys and values in turn with ``SEP``
    between them, ``GONE`` for a key gone; when a key or a value holds ``SEP`` or ``GONE``
    (a count of them in the text tells), or is not text, a JSON list of keys and values
    in turn as format 2 wrote it: ``[key, value, ...]``.

    Not JSON first: json's encoder escapes each character of each text (the values are
    JSON, their quotes escaped again); here the texts are joined as they are (replayed
    sshd-flood commits: about half the encoding's CPU). Not a JSON object either: json's
    encoder makes the list of a dict's (key, value) tuples first, a flood's tens of
    thousands of them alive at once, and the interpreter's collector, counting them, ran
    its full collections of the agent's millions of objects.

    In C where the accelerator is built (``_rowvalues.packed``: one walk of the dict, no
    tuple a key, the text checked and copied once; sshd-flood's 162,000 entries a run
    251 M -> 75 M instructions); None from it: JSON, as below."""
    if NATIVE_PACKED is not None:
        text = NATIVE_PACKED(changes, PACKED, SEP, GONE)
        if text is not None:
            return text
    values = changes.values()
    try:
        body = SEP.join(_flat(zip(changes, map(_gone, values, values), strict=True)))
    except TypeError:
        body = ""  # (a value not text: JSON)
    if body.count(SEP) == 2 * len(changes) - 1 and body.count(GONE) == countOf(values, None):
        return PACKED + body
    return json.dumps([*_flat(changes.items())])


def _changes(text: object) -> dict[str, str | None]:
    """A log row's keys and values (``_text``)."""
    if type(text) is str and text[:1] == PACKED:
        parts = text[1:].split(SEP)
        if len(parts) % 2:
            raise ValueError(f"not a detector log row: {text!r:.80}")
        values = parts[1::2]
        return dict(zip(parts[::2], map(_back, values, values), strict=True))
    found = json.loads(text)  # type: ignore[arg-type]  # (not text: TypeError)
    if type(found) is not list or len(found) % 2:
        raise ValueError(f"not a detector log row: {text!r:.80}")
    keys, values = found[::2], found[1::2]
    if {*map(type, keys)} - _STR or {*map(type, values)} - _STR_NONE:
        raise ValueError(f"not a detector log row: {text!r:.80}")
    return dict(zip(keys, values, strict=True))
