"""Who made each active manual ban, kept in the state database across restarts.

``CommandLog`` knows the caller of a ban made through D-Bus while the agent
runs; after a restart ``GetBanDetails`` (and the Cockpit page) must still say
who it was. ``BanCallers`` is one of the store's commit writers: it writes
the caller in the same transaction as the ban itself (``asyncio.to_thread``
carries the call's ``CALLER`` into the commit), and forgets it when the ban
is lifted or made again by the agent on its own. A row is only believed for
the ban it was written with (same ban time).

Only manual bans have rows, so a flood of the agent's own bans costs a look
at an empty set, not a query per ban.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence

from journalban.addresses import IPNetwork, network_text, parse_network
from journalban.agent.callers import CALLER, Caller
from journalban.errors import JournalbanError
from journalban.state.store import BatchCommit

SCHEMA = """
CREATE TABLE IF NOT EXISTS ban_callers (
    jail TEXT NOT NULL, network TEXT NOT NULL, banned_at REAL NOT NULL,
    uid INTEGER, bus_name TEXT NOT NULL,
    PRIMARY KEY (jail, network)
);
"""


class BanCallers:
    """The store's writer of ``ban_callers``, and its reader."""

    def __init__(self, db: sqlite3.Connection) -> None:
        db.executescript(SCHEMA)
        self._db = db
        self._held: set[tuple[str, IPNetwork]] = set()  # rows in the table
        for jail, text in db.execute("SELECT jail, network FROM ban_callers").fetchall():
            try:
                self._held.add((str(jail), parse_network(str(text))))
            except JournalbanError:
                db.execute("DELETE FROM ban_callers WHERE jail = ? AND network = ?", (jail, text))

    def write(self, cur: sqlite3.Cursor, batches: Sequence[BatchCommit]) -> None:
        """Inside the commit's transaction: the caller of its bans, or forget theirs."""
        caller = CALLER.get()
        if caller is None and not self._held:
            return
        for batch in batches:
            for ban in batch.bans:
                key = (ban.jail, ban.network)
                if caller is not None:
                    cur.execute(
                        "INSERT OR REPLACE INTO ban_callers VALUES (?, ?, ?, ?, ?)",
                        (ban.jail, network_text(ban.network), ban.banned_at, caller.uid,
                         caller.bus_name),
                    )  # fmt: skip
                    self._held.add(key)
                elif key in self._held:
                    self._forget(cur, key)
            for ban in batch.unbans:
                if (ban.jail, ban.network) in self._held:
                    self._forget(cur, (ban.jail, ban.network))

    def _forget(self, cur: sqlite3.Cursor, key: tuple[str, IPNetwork]) -> None:
        cur.execute(
            "DELETE FROM ban_callers WHERE jail = ? AND network = ?", (key[0], network_text(key[1]))
        )
        self._held.discard(key)

    def caller(self, jail: str, network: IPNetwork, banned_at: float) -> Caller | None:
        """Who made the ban of ``network`` in ``jail`` made at ``banned_at`` (None: the agent)."""
        if (jail, network) not in self._held:
            return None
        row = self._db.execute(
            "SELECT banned_at, uid, bus_name FROM ban_callers WHERE jail = ? AND network = ?",
            (jail, network_text(network)),
        ).fetchone()
        if row is None or row[0] != banned_at:
            return None
        return Caller(None if row[1] is None else int(row[1]), str(row[2]))
