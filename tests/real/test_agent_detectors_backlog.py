"""Detectors across a restart in a backlog (the real agent, journal files by journal-remote).

Failures received two hours ago: a start after a downtime, or a restart while
catching up. The agent is stopped between two of them and started again: it
reads on from its committed position, where the lines are as old as the
detector windows it stored. Those windows were restored only within their
findtime of the clock, so a restart forgot them and the detector never banned;
an agent left running bans. (The jail's findtime, 3h, lets the first start read
back that far; the per-address count never bans.)
"""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path

import pytest

from support.agent import AgentProcess, StateReader, running, write_config
from support.journal import JournalWriter, sshd_fields

OFF = {"enabled": False}
# The detector on, the others off; the per-address count never bans (maxretry 1000).
DETECTORS: dict[str, tuple[dict[str, object], list[tuple[str, str]], str]] = {
    "subnet": (
        {"subnet": {"addresses": 3, "findtime": "10m", "prefix4": 24}},
        [("root", "203.0.113.1"), ("root", "203.0.113.2"), ("root", "203.0.113.3")],
        "203.0.113.0/24",
    ),
    "slow": (
        {"slow": {"maxretry": 3, "findtime": "1h"}},
        [("root", "203.0.113.9")] * 3,
        "203.0.113.9/32",
    ),
    "account": (
        {"account": {"addresses": 3, "findtime": "10m", "hold": "1h"}},
        [("carol", "203.0.113.1"), ("carol", "198.51.100.2"), ("carol", "192.0.2.3")],
        "192.0.2.3/32",
    ),
}


def _failure(user: str, address: str, when: float, port: int) -> dict[str, str | int]:
    """A failure received (and logged) at ``when``: the entry's time, the failure's."""
    fields = sshd_fields(f"Failed password for {user} from {address} port {port} ssh2")
    usec = int(when * 1e6)
    return {**fields, "_SOURCE_REALTIME_TIMESTAMP": usec, "__REALTIME_TIMESTAMP": usec}


def _reasons(state: Path) -> dict[str, str]:
    db = sqlite3.connect(f"file:{StateReader(state).path}?mode=ro", uri=True, timeout=5)
    try:
        return {str(n): str(r) for n, r in db.execute("SELECT network, reason FROM bans")}
    finally:
        db.close()


@pytest.mark.parametrize("kind", list(DETECTORS))
def test_a_detector_bans_across_a_restart_in_a_backlog(tmp_path: Path, kind: str) -> None:
    keys, failures, banned = DETECTORS[kind]
    detectors = {name: OFF for name in ("slow", "subnet", "account", "attack_mode")}
    jail = {"maxretry": 1000, "findtime": "3h", "bantime": "1d", **detectors, **keys}
    jdir = tmp_path / "journal"
    state = tmp_path / "state"
    cfg = write_config(tmp_path / "c.yaml", state, journal_dir=jdir,
                       firewall={"backend": "dry-run"}, jails={"sshd": jail})  # fmt: skip
    reader = StateReader(state)
    start = time.time() - 7200  # two hours back: longer than every window here
    lines = [_failure(u, a, start + 60 * i, 1000 + i) for i, (u, a) in enumerate(failures)]
    with JournalWriter(jdir) as writer:
        writer.write(lines[:2])
        writer.wait_visible(2)
        agent = AgentProcess(cfg)
        try:
            reader.wait(lambda: reader.total_failed("sshd") == 2)
        finally:
            agent.stop()
        assert not reader.bans()
        writer.write(lines[2:])
        with running(cfg):
            reader.wait(lambda: reader.total_failed("sshd") == 3)
            reader.wait(lambda: _reasons(state).get(banned) == kind)
