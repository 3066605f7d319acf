"""A state file whose ban rows were damaged by hand: the agent restores the others, counts
only those in "N bans restored", names how many it skipped, and runs on.

Two ways of restoring: nftables straight from the state's rows (in a network
namespace of the test's own), and a backend given ``Ban`` objects
(hosts-deny: a file in the state directory). The rows are damaged with
SQLite itself, as a hand or a broken disk would: a network that is no address,
a number or a blob where text belongs, a jail that is a blob or empty.
"""

from __future__ import annotations

import ipaddress
import json
import sqlite3
import subprocess
import time
from pathlib import Path

import pytest

from journalban.events import Ban
from journalban.state.store import BatchCommit, StateStore
from support.agent import AgentProcess, write_config
from support.real import need_root, need_tool

pytestmark = pytest.mark.real

GOOD_V4 = 20
DAMAGES = [
    "UPDATE bans SET network = 'not-an-address' WHERE network = '11.0.0.100/32'",
    "UPDATE bans SET network = '11.0.0.300/32' WHERE network = '11.0.0.101/32'",
    "UPDATE bans SET network = 12345 WHERE network = '11.0.0.102/32'",
    "UPDATE bans SET network = X'0B000067' WHERE network = '11.0.0.103/32'",
    "UPDATE bans SET jail = X'FF00' WHERE network = '11.0.0.104/32'",
    "UPDATE bans SET jail = '' WHERE network = '11.0.0.105/32'",
]
GOOD = GOOD_V4 + 2  # and an IPv6 /64 and an IPv4 /24


def damaged_state(state: Path) -> None:
    """GOOD readable running bans and len(DAMAGES) rows damaged afterwards by hand."""
    now = time.time()
    bans = [
        Ban("sshd", ipaddress.IPv4Network(f"11.0.0.{i}/32"), now, now + 3600, 1, "failures")
        for i in [*range(1, GOOD_V4 + 1), *range(100, 100 + len(DAMAGES))]
    ]
    bans += [
        Ban("sshd", ipaddress.ip_network("2001:db8:7::/64"), now, None, 1, "failures"),
        Ban("sshd", ipaddress.ip_network("203.0.113.0/24"), now, now + 7200, 1, "subnet"),
    ]
    store = StateStore(state / "state.sqlite")
    store.commit([BatchCommit(jail="sshd", bans=bans)])
    store.close()
    db = sqlite3.connect(state / "state.sqlite")
    with db:
        for statement in DAMAGES:
            assert db.execute(statement).rowcount == 1, statement
    db.close()


def row_count(state: Path) -> int:
    db = sqlite3.connect(state / "state.sqlite")
    try:
        count: int = db.execute("SELECT count(*) FROM bans").fetchone()[0]
        return count
    finally:
        db.close()


def check_start(agent: AgentProcess) -> None:
    """The counts of the start, and the agent alive with its restore records written."""
    agent.wait_for_log("running:", timeout=60)
    assert f"{GOOD} bans restored" in agent.log
    assert (
        f"unreadable stored bans: {len(DAMAGES)} stored ban(s) could not be read and were "
        "skipped" in agent.log
    )
    deadline = time.monotonic() + 20
    while agent.log.count("Restore ban of") < GOOD and time.monotonic() < deadline:
        assert agent.proc.poll() is None, agent.log
        time.sleep(0.05)
    assert agent.log.count("Restore ban of") == GOOD, agent.log
    assert agent.proc.poll() is None, agent.log
    assert "Traceback" not in agent.log


def test_nftables_restores_the_readable_rows_and_counts_only_them(tmp_path: Path) -> None:
    need_root()
    for tool in ("nft", "unshare", "nsenter"):
        need_tool(tool)
    state, journal = tmp_path / "state", tmp_path / "j"
    state.mkdir()
    journal.mkdir()
    damaged_state(state)
    cfg = write_config(tmp_path / "c.yaml", state, journal_dir=journal, recidive={"enabled": False})
    holder = subprocess.Popen(["unshare", "-n", "sleep", "600"])
    try:
        time.sleep(0.2)
        agent = AgentProcess(cfg, dry_run=False, wrapper=["nsenter", "-t", str(holder.pid), "-n"])
        try:
            check_start(agent)
            listed = subprocess.run(
                ["nsenter", "-t", str(holder.pid), "-n", "nft", "-j", "list", "set", "inet",
                 "journalban", "sshd-v4"],
                capture_output=True, text=True, check=True, timeout=30,
            ).stdout  # fmt: skip
        finally:
            assert agent.stop() == 0
        elements = {
            str(elem["elem"]["val"] if isinstance(elem, dict) else elem)
            for item in json.loads(listed)["nftables"]
            for elem in item.get("set", {}).get("elem", [])
        }
        assert elements == {f"11.0.0.{i}" for i in range(1, GOOD_V4 + 1)}
    finally:
        holder.kill()
        holder.wait()
    assert row_count(state) == GOOD + len(DAMAGES)  # the damaged rows are kept, not lost


def test_a_backend_given_bans_counts_only_the_readable_rows(tmp_path: Path) -> None:
    state, journal = tmp_path / "state", tmp_path / "j"
    state.mkdir()
    journal.mkdir()
    damaged_state(state)
    cfg = write_config(
        tmp_path / "c.yaml", state, journal_dir=journal, recidive={"enabled": False},
        firewall={"backend": "hosts-deny"},
    )  # fmt: skip
    agent = AgentProcess(cfg, dry_run=False)
    try:
        check_start(agent)
    finally:
        assert agent.stop() == 0
    denied = (state / "hosts.deny").read_text()
    assert all(f"11.0.0.{i}\n" in denied for i in range(1, GOOD_V4 + 1))
    assert not any(f"11.0.0.{i}" in denied for i in range(100, 100 + len(DAMAGES)))
    assert row_count(state) == GOOD + len(DAMAGES)
