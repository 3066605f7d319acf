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
# (jail, network, banned_at, expires_at, ban_count, reason, failures, source, lines), in
# the order written: the rowid order, which is the restore's.
BANS = [
    ("sshd", "203.0.113.9/32", NOW - 50, NOW + 3550, 1, "deny_user", 1, "journal",
     json.dumps(["Failed password for oracle from 203.0.113.9"])),
    ("sshd", "198.51.100.0/24", NOW - 40, NOW + 3560, 1, "subnet", 3, "journal", "[]"),
    ("imap", "2001:db8:7::/64", NOW - 30, None, 2, "account", 4, "files:/var/log/mail.log",
     json.dumps(["auth failed, user=<bob>, rip=2001:db8:7::5"])),
    ("sshd", "192.0.2.1/32", NOW - 20, NOW + 580, 3, "failures", 5, "journal",
     json.dumps([f"Failed password for x from 192.0.2.1 port {p}" for p in range(5)])),
]  # fmt: skip
ACCOUNTS = [
    ("sshd", "203.0.113.9/32", "oracle"),
    ("imap", "2001:db8:7::/64", "bob"),
    ("sshd", "192.0.2.200/32", "root"),  # a virtual ban's: no ban row
]
HISTORY = [
    ("203.0.113.9/32", "sshd", NOW - 50, NOW + 3550, 0),
    ("198.51.100.0/24", "sshd", NOW - 40, NOW + 3560, 0),
    ("2001:db8:7::/64", "imap", NOW - 86_400, NOW - 80_000, 0),
    ("2001:db8:7::/64", "imap", NOW - 30, None, 0),
    ("192.0.2.1/32", "sshd", NOW - 20, NOW + 580, 1),
    ("192.0.2.200/32", "sshd", NOW - 7200, NOW - 3600, 0),
]
DETECTOR_ROWS = [
    ("sshd", "slow", "203.0.113.77/32", "[[1799990000, 2]]"),
    ("sshd", "account", "alice", '{"nets": ["203.0.113.5/32"], "until": 0}'),
    ("sshd", "known_good", "carol 192.0.2.10", "1799996400.0"),
    ("imap", "subnet", "2001:db8:9::/64", '["2001:db8:9::1"]'),
]
FAILURES = [["203.0.113.77/32", NOW - 100.0], ["203.0.113.78/32", NOW - 90.0]]
POSITIONS = [("sshd", "journal", "s=abc;i=1f"), ("imap", "files:/var/log/mail.log", "{}")]
COUNTERS = [("sshd", 42, 3), ("imap", 7, 1)]
HOSTNAMES = [("mx.example.org", '["192.0.2.25"]', NOW - 10)]


def write_v0(path: Path) -> None:
    """A format 0 state file at ``path``, as the agent left it (WAL mode)."""
    db = sqlite3.connect(path, isolation_level=None)
    db.execute("PRAGMA journal_mode=WAL")
    db.executescript(SCHEMA_V0)
    db.execute("BEGIN")
    db.executemany("INSERT INTO bans VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)", BANS)
    db.executemany("INSERT INTO ban_accounts VALUES (?, ?, ?)", ACCOUNTS)
    db.executemany("INSERT INTO history VALUES (?, ?, ?, ?, ?)", HISTORY)
    db.executemany("INSERT INTO detector_state VALUES (?, ?, ?, ?)", DETECTOR_ROWS)
    db.execute(
        "INSERT INTO failure_log (jail, newest, cleared, failures) VALUES (?, ?, ?, ?)",
        ("sshd", NOW - 90.0, "[]", json.dumps(FAILURES)),
    )
    db.executemany("INSERT INTO positions VALUES (?, ?, ?)", POSITIONS)
    db.executemany("INSERT INTO counters VALUES (?, ?, ?)", COUNTERS)
    db.executemany("INSERT INTO hostnames VALUES (?, ?, ?)", HOSTNAMES)
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
