"""A commit's ban and history rows, in few statements (state.bulk).

A batch's bans go in as the batch comes (a ban's row must exist before a
later batch's unban deletes it, and their rowids, the restore's order, are
the ones a statement per ban gave them); the history rows of all the
commit's batches go last, in their index's order: its pages are then walked
once per commit, not once per batch.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Sequence
from itertools import chain
from json.encoder import encode_basestring_ascii
from operator import itemgetter

from journalban.addresses import network_text
from journalban.events import Ban
from journalban.state import bulk

# (network, jail, banned_at, expires_at, manual)
HistoryRow = tuple[str, str, float, "float | None", int]
# bans: (jail, network, banned_at, expires_at, ban_count, reason, failures, source,
# lines, account): schema.BANS's columns in their order.
BAN_COLUMNS = 10
INSERT_BANS = "INSERT OR REPLACE INTO bans"
INSERT_HISTORY = "INSERT INTO history (network, jail, banned_at, expires_at, manual)"
_first = itemgetter(0)
_flat = chain.from_iterable


def write_bans(cur: sqlite3.Cursor, bans: Sequence[Ban]) -> None:
    rows = [
        (
            ban.jail, network_text(ban.network), ban.banned_at, ban.expires_at, ban.ban_count,
            ban.reason, ban.failures, ban.source, lines_text(ban.lines), ban.account or None,
        )
        for ban in bans
    ]  # fmt: skip
    bulk.insert(cur, INSERT_BANS, BAN_COLUMNS, list(_flat(rows)))


class HistoryRows:
    """The history rows of one commit's batches, not yet written."""

    __slots__ = ("rows",)

    def __init__(self) -> None:
        self.rows: list[HistoryRow] = []

    def add(self, history: Iterable[tuple[Ban, bool]]) -> None:
        self.rows += [
            (network_text(ban.network), ban.jail, ban.banned_at, ban.expires_at, int(manual))
            for ban, manual in history
        ]

    def write(self, cur: sqlite3.Cursor) -> list[HistoryRow]:
        """Write the rows gathered; they are returned (the store remembers their networks)."""
        rows = self.rows
        if rows:
            rows.sort(key=_first)  # in the index's order (stable: as detection.write_rows)
            bulk.insert(cur, INSERT_HISTORY, 5, list(_flat(rows)))
        return rows


def lines_text(lines: Sequence[str]) -> str:
    """``json.dumps(list(lines))``, each line escaped by the function json.dumps uses for
    it (ensure_ascii), without its encoder's set-up per ban (tests/unit/test_row_text.py)."""
    return "[" + ", ".join(map(encode_basestring_ascii, lines)) + "]"
