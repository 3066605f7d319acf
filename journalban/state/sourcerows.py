"""A source's row of its own in ``positions``, beside its position (a journal source's
shunned files: sources.journalshunned), under a key no source has; older versions read
only their sources' own keys there, so the state's format is unchanged."""

from __future__ import annotations

import sqlite3

from journalban.state.store import StateStore


def put_row(store: StateStore, jail: str, key: str, text: str) -> None:
    """Write the row (``text`` empty: delete it), in a transaction of its own.
    Raises: StateError."""

    def write(cur: sqlite3.Cursor) -> None:
        if text:
            cur.execute("INSERT OR REPLACE INTO positions (jail, source, position) "
                        "VALUES (?, ?, ?)", (jail, key, text))  # fmt: skip
        else:
            cur.execute("DELETE FROM positions WHERE jail = ? AND source = ?", (jail, key))

    store.write_apart(write)
