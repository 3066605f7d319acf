"""The ban history (state format 3: appended rows found by rowid) survives a kill -9.

A real agent reads a backlog in which each attacker is banned four times,
an hour apart (the first three bans over by the time they are decided: their
history rows alone count), with ``bantime_increment`` on: each ban's count and
length come from the history. ``kill -9`` in the middle of the backlog, then a
restart that reads the history back from the table: every attacker's last
ban is its fourth, with four history rows, as an uninterrupted run leaves it
(a history row lost would count three; one doubled, five).
"""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path

from support.agent import PER_ADDRESS_ONLY, StateReader, killed_mid_backlog, write_config

STAMP = "%b %e %H:%M:%S"
ROUNDS = 4
ATTACKERS = [f"203.0.113.{i}" for i in range(1, 151)]


def _line(message: str, at: float, n: int) -> str:
    return f"{time.strftime(STAMP, time.localtime(at))} host sshd[{1000 + n}]: {message}\n"


def _backlog(now: float) -> list[str]:
    lines, n = [], 0
    for rnd in range(ROUNDS):
        at = now - (ROUNDS - 1 - rnd) * 3600 - 60  # an hour apart, the last a minute ago
        for addr in ATTACKERS:
            for _ in range(2):  # maxretry
                n += 1
                lines.append(_line(f"Failed password for root from {addr} port {n} ssh2", at, n))
            filler = f"Connection from 192.0.2.250 port {n} on 0.0.0.0 port 22"
            lines += [_line(filler, at, n)] * 60
    return lines


def _bans(state: Path) -> tuple[dict[str, int], dict[str, int]]:
    """Each attacker's stored ban count, and its history rows."""
    db = sqlite3.connect(f"file:{StateReader(state).path}?mode=ro", uri=True, timeout=5)
    try:
        counts = {str(n): int(c) for n, c in db.execute("SELECT network, ban_count FROM bans")}
        rows = {
            str(n): int(c)
            for n, c in db.execute("SELECT network, count(*) FROM history GROUP BY network")
        }
        return counts, rows
    finally:
        db.close()


def test_kill_9_mid_backlog_keeps_every_history_row(tmp_path: Path) -> None:
    log = tmp_path / "auth.log"
    log.write_text("")
    state = tmp_path / "state"
    jail = {
        "filter": "sshd", "source": "files", "files": [str(log)], "maxretry": 2,
        "findtime": "1d", "bantime": "10m", "bantime_increment": {"enabled": True},
        **PER_ADDRESS_ONLY,
    }  # fmt: skip
    cfg = write_config(
        tmp_path / "journalban.yaml", state, firewall={"backend": "dry-run"},
        jails={"sshd": {"enabled": False}, "ssh-files": jail}, recidive={"enabled": False},
    )  # fmt: skip
    lines = _backlog(time.time())
    total = len(ATTACKERS) * 2 * ROUNDS
    killed_mid_backlog(cfg, state, log, lines, "ssh-files", total)
    counts, rows = _bans(state)
    expected = {f"{a}/32": ROUNDS for a in ATTACKERS}
    assert counts == expected, "each last ban is the fourth, counted from the history"
    assert rows == expected, "four history rows each, none lost or doubled"
