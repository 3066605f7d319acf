"""The fleet's tables in the state database, written in the agent's own transactions.

``FleetLedger.write`` is a ``CommitWriter`` of the state store: it runs inside
the transaction that commits bans, so a ban to publish is in the outbox
exactly when the ban is committed (a kill -9 loses neither or both), and the
quorum reports and member addresses that a stretch of the stream taught are
committed with that stretch's position, and so is the stream sequence of the
message carrying each fleet ban held here (``fleet_held``: what tells which
bans to lift once the stream no longer holds their message). The publisher
reads and empties the outbox through a connection of its own after the commit.
"""

from __future__ import annotations

import logging
import math
import sqlite3
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from journalban.addresses import IPNetwork, network_text
from journalban.config.fleet import FleetConfig
from journalban.decisions.remote import FLEET_POSITION, is_remote
from journalban.events import Ban
from journalban.state import plainrows
from journalban.state.store import BatchCommit

log = logging.getLogger("journalban.fleet")

SCHEMA = """
CREATE TABLE IF NOT EXISTS fleet_outbox (
    id INTEGER PRIMARY KEY AUTOINCREMENT, op TEXT NOT NULL, jail TEXT,
    network TEXT NOT NULL, banned_at REAL NOT NULL, expires_at REAL, reason TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS fleet_reports (
    jail TEXT NOT NULL, network TEXT NOT NULL, origin TEXT NOT NULL, op TEXT NOT NULL,
    at REAL NOT NULL, expires_at REAL, PRIMARY KEY (jail, network, origin)
);
CREATE TABLE IF NOT EXISTS fleet_members (host TEXT PRIMARY KEY, addresses TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS fleet_held (
    jail TEXT NOT NULL, network TEXT NOT NULL, seq INTEGER NOT NULL, PRIMARY KEY (jail, network)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS fleet_held_seq ON fleet_held (seq);
"""


@dataclass(frozen=True, slots=True)
class OutboxEntry:
    id: int
    op: str
    jail: str | None
    network: str
    banned_at: float
    expires_at: float | None
    reason: str
    sent_at: float | None = None  # when first handed to the servers (None: never)


# (op, jail, network text, banned_at, expires_at, reason)
OutboxRow = tuple[str, str | None, str, float, float | None, str]
# (jail, network text, origin, op, at, expires_at); op "" deletes the report.
Report = tuple[str, str, str, str, float, float | None]


class FleetLedger:
    """The outbox, the quorum reports and the members, in ``state.sqlite``."""

    def __init__(self, config: FleetConfig, path: Path) -> None:
        self.config = config
        self.db = sqlite3.connect(str(path), isolation_level=None, timeout=30.0,
                                  check_same_thread=False)  # fmt: skip
        self.db.execute("PRAGMA busy_timeout = 30000")
        self.db.executescript(SCHEMA)
        columns = {row[1] for row in self.db.execute("PRAGMA table_info(fleet_outbox)")}
        if "sent_at" not in columns:  # a state database from before it
            self.db.execute("ALTER TABLE fleet_outbox ADD COLUMN sent_at REAL")
        self._lock = threading.Lock()
        self._staged_outbox: list[OutboxRow] = []
        # Learnt from the stream up to a sequence, written with the commit of that position.
        self._staged: list[tuple[int, list[Report], dict[str, str]]] = []
        # Fleet bans held and the sequence of their message; rows to forget; all to zero.
        self._held: list[tuple[str, str, int]] = []
        self._forget: list[tuple[str, str]] = []
        self._reset_held = False

    def close(self) -> None:
        self.db.close()

    # --- inside the agent's transaction ------------------------------------------

    def publishes(self, ban: Ban) -> bool:
        if is_remote(ban):
            return False
        if ban.source == "manual":
            return self.config.publish_manual
        return self.config.shares(ban.jail)

    def stage_unban(self, jail: str | None, network: str, at: float) -> None:
        """An admin's fleet-wide unban, written to the outbox by the next commit."""
        self._staged_outbox.append(("unban", jail, network, at, None, "unban"))

    def stage_learnt(self, seq: int, reports: list[Report], members: dict[str, str]) -> None:
        """Reports and members learnt from the stream up to ``seq`` (committed with it)."""
        if reports or members:
            self._staged.append((seq, reports, members))

    def stage_held(self, held: Sequence[tuple[str, IPNetwork, int]]) -> None:
        """Fleet bans held here with the sequence of their message (committed next)."""
        self._held += [(jail, network_text(net), seq) for jail, net, seq in held]

    def stage_forget(self, rows: Sequence[tuple[str, str]]) -> None:
        """Rows of ``fleet_held`` that stand for no fleet ban any longer."""
        self._forget += rows

    def stage_reset_held(self) -> None:
        """The stream was made anew: every held ban's message is gone (sequence 0)."""
        self._reset_held = True

    def write(self, cur: sqlite3.Cursor, batches: Sequence[BatchCommit]) -> None:
        rows: list[OutboxRow] = [
            ("ban", ban.jail, network_text(ban.network), ban.banned_at, ban.expires_at, ban.reason)
            for b in batches
            for ban in b.bans
            if self.publishes(ban)
        ]
        rows += self._staged_outbox
        self._staged_outbox = []
        if rows:
            cur.executemany(
                "INSERT INTO fleet_outbox (op, jail, network, banned_at, expires_at, reason)"
                " VALUES (?, ?, ?, ?, ?, ?)",
                rows,
            )
        self._write_held(cur, batches)
        position = max(
            (int(b.position) for b in batches if b.jail == FLEET_POSITION and b.position),
            default=None,
        )
        if position is not None and self._staged:
            due = [s for s in self._staged if s[0] <= position]
            self._staged = [s for s in self._staged if s[0] > position]
            for _, reports, members in due:
                self._write_learnt(cur, reports, members)

    def _write_held(self, cur: sqlite3.Cursor, batches: Sequence[BatchCommit]) -> None:
        if self._reset_held:
            cur.execute("UPDATE fleet_held SET seq = 0")
            self._reset_held = False
        gone = [
            (ban.jail, network_text(ban.network))
            for b in batches
            for ban in b.unbans
            if is_remote(ban)
        ]
        gone += self._forget
        self._forget = []
        if gone:
            cur.executemany("DELETE FROM fleet_held WHERE jail = ? AND network = ?", gone)
        if self._held:
            cur.executemany("INSERT OR REPLACE INTO fleet_held VALUES (?, ?, ?)", self._held)
            self._held = []

    @staticmethod
    def _write_learnt(cur: sqlite3.Cursor, reports: list[Report], members: dict[str, str]) -> None:
        cur.executemany(
            "DELETE FROM fleet_reports WHERE jail = ? AND network = ? AND origin = ?",
            [r[:3] for r in reports if not r[3]],
        )
        cur.executemany(
            "INSERT OR REPLACE INTO fleet_reports VALUES (?, ?, ?, ?, ?, ?)",
            [r for r in reports if r[3]],
        )
        cur.executemany("INSERT OR REPLACE INTO fleet_members VALUES (?, ?)", list(members.items()))

    # --- the publisher's and the consumer's own reads ------------------------------

    def pending(self, limit: int) -> list[OutboxEntry]:
        with self._lock:
            rows = self.db.execute(
                "SELECT id, op, jail, network, banned_at, expires_at, reason, sent_at"
                " FROM fleet_outbox ORDER BY id LIMIT ?",
                (limit,),
            ).fetchall()
        return [OutboxEntry(*row) for row in rows]

    def outbox_size(self) -> int:
        with self._lock:
            return int(self.db.execute("SELECT count(*) FROM fleet_outbox").fetchone()[0])

    def mark_sent(self, entries: Sequence[OutboxEntry], at: float) -> None:
        """Note the entries about to be handed to the servers for the first time."""
        ids = [(at, e.id) for e in entries if e.sent_at is None]
        if not ids:
            return
        with self._lock:
            self.db.execute("BEGIN IMMEDIATE")
            self.db.executemany("UPDATE fleet_outbox SET sent_at = ? WHERE id = ?", ids)
            self.db.execute("COMMIT")

    def done(self, ids: Sequence[int]) -> None:
        """Forget entries published (or dropped as expired)."""
        if not ids:
            return
        with self._lock:
            self.db.execute("BEGIN IMMEDIATE")
            self.db.executemany("DELETE FROM fleet_outbox WHERE id = ?", [(i,) for i in ids])
            self.db.execute("COMMIT")

    def position(self) -> int:
        """The stream sequence applied so far (0: none)."""
        with self._lock:
            row = self.db.execute(
                "SELECT position FROM positions WHERE jail = ? AND source = ?",
                (FLEET_POSITION, self.config.stream),
            ).fetchone()
        return int(row[0]) if row and str(row[0]).isdigit() else 0

    def held_below(self, below: int) -> list[tuple[str, str]]:
        """(jail, network) of the fleet bans whose message's sequence is below ``below``."""
        with self._lock:
            rows = self.db.execute(
                "SELECT jail, network FROM fleet_held WHERE seq < ?", (below,)
            ).fetchall()
        return [(str(j), str(n)) for j, n in rows]

    def reports(self, since: float) -> list[Report]:
        with self._lock:
            rows = self.db.execute(
                "SELECT jail, network, origin, op, at, expires_at FROM fleet_reports WHERE at >= ?",
                (since,),
            ).fetchall()
        found: list[Report] = []
        for jail, net, origin, op, at, exp in rows:
            if _report_ok(jail, net, origin, op, at, exp):
                found.append(
                    (jail, net, origin, op, float(at), None if exp is None else float(exp))
                )
        plainrows.warn_skipped(log, "fleet_reports", len(rows) - len(found))
        return found

    def prune_reports(self, before: float) -> None:
        """Forget quorum reports older than the window (they count for nothing)."""
        with self._lock:
            self.db.execute("DELETE FROM fleet_reports WHERE at < ?", (before,))

    def members(self) -> dict[str, list[str]]:
        with self._lock:
            rows = self.db.execute("SELECT host, addresses FROM fleet_members").fetchall()
        found, skipped = plainrows.hostnames(rows)  # the same shape: a name, a JSON list of texts
        plainrows.warn_skipped(log, "fleet_members", skipped)
        return found


def _report_ok(*row: object) -> bool:
    """A stored quorum report as the ledger writes it: texts, an operation, finite times.

    SQLite keeps whatever a hand or a disk wrote into a column; a time that is text met
    ``at >= since`` (text sorts after every number) and then stopped the fleet's start.
    """
    jail, net, origin, op, at, exp = row
    texts = type(jail) is str and type(net) is str and type(origin) is str
    return texts and op in _OPS and _finite(at) and (exp is None or _finite(exp))


def _finite(value: object) -> bool:
    return type(value) in (float, int) and math.isfinite(value)  # type: ignore[arg-type]


_OPS = ("ban", "unban")
