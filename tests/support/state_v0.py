"""A state database in format 0, as journalban wrote it before state formats were
numbered (main at 39619a6: ``state/store.py``'s and ``state/detection.py``'s
SCHEMA, verbatim), filled with a row of every kind.

A ``ban_accounts`` row beside each ban decided for an account, and one for a
ban that is not stored (a ban already over when a catch-up decided it: format
0 kept its account forever).
"""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

SCHEMA_V0 = """
CREATE TABLE IF NOT EXISTS bans (
    jail TEXT NOT NULL, network TEXT NOT NULL, banned_at REAL NOT NULL,
    expires_at REAL, ban_count INTEGER NOT NULL, reason TEXT NOT NULL,
    failures INTEGER NOT NULL, source TEXT NOT NULL, lines TEXT NOT NULL,
    PRIMARY KEY (jail, network)
);
CREATE TABLE IF NOT EXISTS history (
    network TEXT NOT NULL, jail TEXT NOT NULL, banned_at REAL NOT NULL,
    expires_at REAL, manual INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS history_network ON history (network, banned_at);
CREATE TABLE IF NOT EXISTS positions (
    jail TEXT NOT NULL, source TEXT NOT NULL, position TEXT NOT NULL,
    PRIMARY KEY (jail, source)
);
CREATE TABLE IF NOT EXISTS failure_log (
    seq INTEGER PRIMARY KEY, jail TEXT NOT NULL, newest REAL NOT NULL,
    cleared TEXT NOT NULL, failures TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS failure_log_jail ON failure_log (jail, seq);
CREATE TABLE IF NOT EXISTS counters (
    jail TEXT PRIMARY KEY, total_failed INTEGER NOT NULL, total_banned INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS hostnames (
    name TEXT PRIMARY KEY, addresses TEXT NOT NULL, resolved_at REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS detector_state (
    jail TEXT NOT NULL, detector TEXT NOT NULL, key TEXT NOT NULL, value TEXT NOT NULL,
    PRIMARY KEY (jail, detector, key)
);
CREATE TABLE IF NOT EXISTS ban_accounts (
    jail TEXT NOT NULL, network TEXT NOT NULL, account TEXT NOT NULL,
    PRIMARY KEY (jail, network)
);
"""

NOW = 1_800_000_000.0


def rows_at(now: float) -> dict[str, list[tuple[object, ...]]]:
    """Every table's rows of the file, its bans running at ``now``. ``bans`` in the order
    written: the rowid order, which is the restore's."""
    lines = [f"Failed password for x from 192.0.2.1 port {p}" for p in range(5)]
    return {
        # (jail, network, banned_at, expires_at, ban_count, reason, failures, source, lines)
        "bans": [
            ("sshd", "203.0.113.9/32", now - 50, now + 3550, 1, "deny_user", 1, "journal",
             json.dumps(["Failed password for oracle from 203.0.113.9"])),
            ("sshd", "198.51.100.0/24", now - 40, now + 3560, 1, "subnet", 3, "journal", "[]"),
            ("imap", "2001:db8:7::/64", now - 30, None, 2, "account", 4,
             "files:/var/log/mail.log", json.dumps(["auth failed, user=<bob>, rip=2001:db8:7::5"])),
            ("sshd", "192.0.2.1/32", now - 20, now + 580, 3, "failures", 5, "journal",
             json.dumps(lines)),
        ],
        "ban_accounts": [
            ("sshd", "203.0.113.9/32", "oracle"),
            ("imap", "2001:db8:7::/64", "bob"),
            ("sshd", "192.0.2.200/32", "root"),  # a virtual ban's: no ban row
        ],
        "history": [
            ("203.0.113.9/32", "sshd", now - 50, now + 3550, 0),
            ("198.51.100.0/24", "sshd", now - 40, now + 3560, 0),
            ("2001:db8:7::/64", "imap", now - 86_400, now - 80_000, 0),
            ("2001:db8:7::/64", "imap", now - 30, None, 0),
            ("192.0.2.1/32", "sshd", now - 20, now + 580, 1),
            ("192.0.2.200/32", "sshd", now - 7200, now - 3600, 0),
        ],
        "detector_state": [  # in the shapes the detectors write (jails/)
            ("sshd", "slow", "203.0.113.77/32", f"[{int((now - 10_000) // 3600)}, 2]"),
            ("sshd", "account", "a:alice", str(now - 100.0)),
            ("sshd", "subnet", "203.0.113.0/24", json.dumps({"203.0.113.5/32": now - 200.0})),
            ("imap", "subnet", "2001:db8:9::/64", json.dumps({"2001:db8:9::1/128": now - 300.0})),
        ],
        "failures": [("203.0.113.77/32", now - 100.0), ("203.0.113.78/32", now - 90.0)],
        "positions": [("ssh-old", "files:/var/log/auth.log", "{}"),
                      ("imap", "files:/var/log/mail.log", "{}")],
        "counters": [("sshd", 42, 3), ("imap", 7, 1)],
        "hostnames": [("mx.example.org", '["192.0.2.25"]', now - 10)],
    }  # fmt: skip


_AT_NOW = rows_at(NOW)
BANS = _AT_NOW["bans"]
ACCOUNTS = _AT_NOW["ban_accounts"]
HISTORY = _AT_NOW["history"]
DETECTOR_ROWS = _AT_NOW["detector_state"]
FAILURES = _AT_NOW["failures"]
POSITIONS = _AT_NOW["positions"]
COUNTERS = _AT_NOW["counters"]
HOSTNAMES = _AT_NOW["hostnames"]


def write_v0(path: Path, now: float = NOW) -> None:
    """A format 0 state file at ``path`` (``rows_at(now)``), as the agent left it (WAL mode)."""
    rows = rows_at(now)
    db = sqlite3.connect(path, isolation_level=None)
    db.execute("PRAGMA journal_mode=WAL")
    db.executescript(SCHEMA_V0)
    db.execute("BEGIN")
    db.executemany("INSERT INTO bans VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)", rows["bans"])
    db.executemany("INSERT INTO ban_accounts VALUES (?, ?, ?)", rows["ban_accounts"])
    db.executemany("INSERT INTO history VALUES (?, ?, ?, ?, ?)", rows["history"])
    db.executemany("INSERT INTO detector_state VALUES (?, ?, ?, ?)", rows["detector_state"])
    failures = [list(f) for f in rows["failures"]]
    db.execute(
        "INSERT INTO failure_log (jail, newest, cleared, failures) VALUES (?, ?, ?, ?)",
        ("sshd", max(float(str(f[1])) for f in failures), "[]", json.dumps(failures)),
    )
    db.executemany("INSERT INTO positions VALUES (?, ?, ?)", rows["positions"])
    db.executemany("INSERT INTO counters VALUES (?, ?, ?)", rows["counters"])
    db.executemany("INSERT INTO hostnames VALUES (?, ?, ?)", rows["hostnames"])
    db.execute("COMMIT")
    db.close()


def read_v0(path: Path) -> dict[str, list[tuple[object, ...]]]:
    """What a format 0 reader (the version before) reads of the file: every table's rows
    by its own queries (bans in rowid order: the restore's)."""
    db = sqlite3.connect(path)
    try:
        return {
            "bans": db.execute("SELECT * FROM bans").fetchall(),
            "ban_accounts": sorted(db.execute("SELECT * FROM ban_accounts")),
            "history": sorted(db.execute("SELECT * FROM history")),
            "detector_state": sorted(db.execute("SELECT * FROM detector_state")),
            "failure_log": db.execute("SELECT jail, cleared, failures FROM failure_log").fetchall(),
            "positions": sorted(db.execute("SELECT * FROM positions")),
            "counters": sorted(db.execute("SELECT * FROM counters")),
            "hostnames": sorted(db.execute("SELECT * FROM hostnames")),
        }
    finally:
        db.close()
