"""A real agent started on a state file of format 0 (written by the version before,
with the schema SQL of tests/support/state_v0.py): it migrates the file, restores
every running ban into nftables (in a network namespace of the test's own), runs,
and leaves the file in format 1 with each ban's account in its row."""

from __future__ import annotations

import sqlite3
import subprocess
import time
from pathlib import Path

import pytest

from journalban.state import schema
from support.agent import AgentProcess, write_config
from support.nftset import set_elements
from support.real import need_root, need_tool
from support.state_v0 import write_v0

pytestmark = pytest.mark.real


def _run(tmp_path: Path, state: Path) -> tuple[str, set[str], set[str]]:
    """Start a real agent (nftables in a namespace of the test's own) on ``state``; its log
    and the sshd sets' elements once it restored, then stop it."""
    need_root()
    for tool in ("nft", "unshare", "nsenter"):
        need_tool(tool)
    journal = tmp_path / "j"
    journal.mkdir()
    cfg = write_config(tmp_path / "c.yaml", state, journal_dir=journal, recidive={"enabled": False})
    holder = subprocess.Popen(["unshare", "-n", "sleep", "600"])
    try:
        time.sleep(0.2)
        agent = AgentProcess(cfg, dry_run=False, wrapper=["nsenter", "-t", str(holder.pid), "-n"])
        try:
            agent.wait_for_log("running:", timeout=60)
            deadline = time.monotonic() + 20
            while agent.log.count("Restore ban of") < 3 and time.monotonic() < deadline:
                assert agent.proc.poll() is None, agent.log
                time.sleep(0.05)
            v4, net4 = set_elements(holder.pid, "sshd-v4"), set_elements(holder.pid, "sshd-net4")
            assert agent.proc.poll() is None, agent.log
            assert "Traceback" not in agent.log
        finally:
            assert agent.stop() == 0
        return agent.log, v4, net4
    finally:
        holder.kill()
        holder.wait()


def test_the_agent_migrates_a_format_0_state_and_restores_its_bans(tmp_path: Path) -> None:
    state = tmp_path / "state"
    state.mkdir()
    write_v0(state / "state.sqlite", time.time())
    _, v4, net4 = _run(tmp_path, state)
    assert {"203.0.113.9", "192.0.2.1"} <= v4, v4
    assert any(e.startswith("198.51.100.0") for e in net4), net4
    db = sqlite3.connect(state / "state.sqlite")
    try:
        assert schema.version_of(db) == schema.VERSION
        accounts = db.execute("SELECT jail, network, account FROM bans ORDER BY rowid").fetchall()
        tables = {str(n) for (n,) in db.execute("SELECT name FROM sqlite_master")}
    finally:
        db.close()
    assert accounts == [
        ("sshd", "203.0.113.9/32", "oracle"),
        ("sshd", "198.51.100.0/24", None),
        ("imap", "2001:db8:7::/64", "bob"),
        ("sshd", "192.0.2.1/32", None),
    ]
    assert "ban_accounts" not in tables


def test_a_damaged_detector_row_does_not_stop_the_agent(tmp_path: Path) -> None:
    state = tmp_path / "state"
    state.mkdir()
    write_v0(state / "state.sqlite", time.time())
    db = sqlite3.connect(state / "state.sqlite")
    with db:
        damaged = db.execute("UPDATE detector_state SET value = 'not json' WHERE detector = 'slow'")
        assert damaged.rowcount == 1
    db.close()
    log, v4, _ = _run(tmp_path, state)
    assert "1 stored row(s) of jail sshd detector slow could not be read and were skipped" in log
    assert {"203.0.113.9", "192.0.2.1"} <= v4, v4
