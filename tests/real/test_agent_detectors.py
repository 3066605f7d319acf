"""Detectors in the running agent: their state survives a kill -9 with the batch position.

Real agent processes on a log file (read by its reader child) and on journal
files written live by systemd-journal-remote; ``kill -9`` at an arbitrary
point of the backlog, then a restart: the bans are exactly those of an
uninterrupted run (a count lost would miss some, a count doubled would ban
the addresses that failed one time too few).
"""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path

from support.agent import AgentProcess, StateReader, killed_mid_backlog, running, write_config
from support.journal import JournalWriter, sshd_fields

STAMP = "%b %e %H:%M:%S"
SLOW = 4  # slow.maxretry


# (not the addresses of the machine running the tests: its own are never banned)
def _line(message: str, n: int) -> str:
    stamp = time.strftime(STAMP, time.localtime())
    return f"{stamp} host sshd[{1000 + n}]: {message}\n"


def _failed(user: str, addr: str, n: int) -> str:
    return _line(f"Failed password for {user} from {addr} port {n} ssh2", n)


def _reasons(state: Path) -> dict[str, str]:
    path = StateReader(state).path
    db = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=5)
    try:
        return {str(n): str(r) for n, r in db.execute("SELECT network, reason FROM bans")}
    finally:
        db.close()


def _detectors() -> dict[str, object]:
    return {
        "maxretry": 1000, "findtime": "1d", "bantime": "1d",
        "slow": {"maxretry": SLOW, "findtime": "1d"},
        "account": {"addresses": 10, "findtime": "1h", "hold": "1h"},
    }  # fmt: skip


def test_kill_9_mid_backlog_keeps_detector_state_exact(tmp_path: Path) -> None:
    log = tmp_path / "auth.log"
    log.write_text("")
    state = tmp_path / "state"
    cfg = write_config(
        tmp_path / "journalban.yaml", state, firewall={"backend": "dry-run"},
        jails={"sshd": {"enabled": False},
               "ssh-files": {"filter": "sshd", "source": "files", "files": [str(log)], **_detectors()}},
    )  # fmt: skip
    slow = [f"203.0.113.{i}" for i in range(1, 201)]  # fail SLOW times: banned for slow
    almost = [f"198.51.100.{i}" for i in range(1, 201)]  # fail SLOW-1 times: never banned
    carol = [f"192.0.2.{i}" for i in range(101, 111)]  # carol's 10 attackers, one failure each
    lines = [_line("Accepted password for carol from 192.0.2.200 port 1 ssh2", 0)]
    n = 0
    for rnd in range(SLOW):
        for i in range(200):
            n += 1
            lines.append(_failed(f"u{i}", slow[i], n))
            if rnd < SLOW - 1:
                lines.append(_failed(f"v{i}", almost[i], n))
            lines += [_line(f"Connection from 192.0.2.250 port {n} on 0.0.0.0 port 22", n)] * 40
        for k in range(rnd * 3, min(10, rnd * 3 + 3)):
            lines.append(_failed("carol", carol[k], n))
    lines.append(_failed("carol", "192.0.2.200", n + 2))  # carol's own known-good address
    total_failures = sum(1 for line in lines if "Failed password" in line)
    agent, restarted = killed_mid_backlog(cfg, state, log, lines, "ssh-files", total_failures)
    reasons = _reasons(state)
    assert {n for n, r in reasons.items() if r == "slow"} == {f"{a}/32" for a in slow}
    assert {n for n, r in reasons.items() if r == "account"} == {f"{a}/32" for a in carol}
    assert not {f"{a}/32" for a in almost} & set(reasons), "a count was doubled"
    assert "192.0.2.200/32" not in reasons, "carol's known-good address is spared"
    assert "account: 'carol'" in agent.log + restarted.log


def test_account_attack_state_survives_kill_9_on_live_journal_files(tmp_path: Path) -> None:
    jdir = tmp_path / "journal"
    jdir.mkdir()
    state = tmp_path / "state"
    cfg = write_config(
        tmp_path / "c.yaml", state, journal_dir=jdir, firewall={"backend": "dry-run"},
        jails={"sshd": {**_detectors(), "deny_users": ["oracle"],
                        "account": {"addresses": 6, "findtime": "1h", "hold": "1h"},
                        # the packaged default turns these on: a drop-in turns them off
                        "subnet": {"enabled": False}, "attack_mode": {"enabled": False}}},
    )  # fmt: skip
    with JournalWriter(jdir) as writer:
        writer.write([sshd_fields("Accepted password for dave from 192.0.2.200 port 1 ssh2")])
        writer.write(
            [
                sshd_fields(f"Failed password for dave from 192.0.2.{i} port 2 ssh2")
                for i in range(101, 106)
            ]
        )
        writer.wait_visible(6)
        reader = StateReader(state)
        with running(cfg, dry_run=False, kill9=True):
            reader.wait(lambda: reader.total_failed("sshd") == 5)
        writer.write([sshd_fields("Failed password for dave from 192.0.2.106 port 2 ssh2")])
        writer.write([sshd_fields("Failed password for dave from 192.0.2.200 port 3 ssh2")])
        writer.write([sshd_fields("Failed password for oracle from 203.0.113.77 port 4 ssh2")])
        restarted = AgentProcess(cfg, dry_run=False)
        try:
            restarted.wait_for_log("running:")
            reader.wait(lambda: reader.total_failed("sshd") == 8)
            reader.wait(lambda: len(reader.bans()) == 7)
        finally:
            assert restarted.stop() == 0
    reasons = _reasons(state)
    assert reasons == {
        **{f"192.0.2.{i}/32": "account" for i in range(101, 107)},
        "203.0.113.77/32": "deny_user",
    }
    assert "192.0.2.200/32" not in reasons
