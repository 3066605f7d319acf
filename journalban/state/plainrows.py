"""The state's small tables read back at start, a row damaged in the file skipped and counted.

SQLite keeps whatever a hand (or a disk) wrote into a column, whatever its
declared type: a jail's counters that are text, a host name's addresses that
are not JSON, a past ban's time that is text. Read back as they were, the
first raised TypeError at the jail's next batch (the agent stopped deciding),
the second stopped the start, the third raised ValueError deciding a ban.
Each reader here returns the rows it can use and how many it skipped; the
store warns of those once.
"""

from __future__ import annotations

import json
import logging
import math
from collections.abc import Iterable

from journalban.state.detection import UNREADABLE


def warn_skipped(log: logging.Logger, table: str, skipped: int) -> None:
    """The one warning of the rows of ``table`` that were skipped (none: no warning)."""
    if skipped:
        log.warning("unreadable state rows: %d stored row(s) of table %s could not be read "
                    "and were skipped", skipped, table)  # fmt: skip


def counters(
    rows: Iterable[tuple[object, object, object]],
) -> tuple[dict[str, tuple[int, int]], int]:
    """Each jail's (total failed, total banned): whole numbers, not negative."""
    found: dict[str, tuple[int, int]] = {}
    skipped = 0
    for jail, failed, banned in rows:
        if type(jail) is str and _count(failed) and _count(banned):
            found[jail] = (failed, banned)  # type: ignore[assignment]  # (checked: ints)
        else:
            skipped += 1
    return found, skipped


def hostnames(rows: Iterable[tuple[object, object]]) -> tuple[dict[str, list[str]], int]:
    """Each resolved host name's addresses: a JSON list of texts."""
    found: dict[str, list[str]] = {}
    skipped = 0
    for name, text in rows:
        try:
            addresses = json.loads(text)  # type: ignore[arg-type]  # (not text: TypeError)
        except UNREADABLE:
            addresses = None
        if type(name) is str and type(addresses) is list and not {*map(type, addresses)} - _STR:
            found[name] = addresses
        else:
            skipped += 1
    return found, skipped


def text_list(text: object) -> tuple[tuple[str, ...], int]:
    """A ban's matched lines: a JSON list of texts (else none, and one row skipped)."""
    try:
        lines = json.loads(text)  # type: ignore[arg-type]  # (not text: TypeError)
    except UNREADABLE:
        return (), 1
    if type(lines) is list and not {*map(type, lines)} - _STR:
        return tuple(lines), 0
    return (), 1


def history(rows: Iterable[tuple[object, object]]) -> tuple[list[tuple[str, float]], int]:
    """(jail, banned_at) of a network's past bans: a finite time (SQLite's text sorts after
    every number, so a banned_at that is text met every ``banned_at >= since``)."""
    found: list[tuple[str, float]] = []
    skipped = 0
    for jail, at in rows:
        if type(at) in _NUMBER and -_INF < at < _INF:  # type: ignore[operator]
            found.append((str(jail), float(at)))  # type: ignore[arg-type]
        else:
            skipped += 1
    return found, skipped


def _count(value: object) -> bool:
    return type(value) is int and value >= 0


_STR = {str}
_NUMBER = (float, int)
_INF = math.inf
