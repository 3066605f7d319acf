"""The agent with its default backend, nftables, inside a network namespace of the test's own."""

from __future__ import annotations

import subprocess
import time
from pathlib import Path
from typing import Any

from support.agent import running, write_config
from support.journal import JournalWriter, sshd_fields
from support.nftset import set_elements
from support.real import need_root, need_tool


def _nft(pid: int, *args: str) -> str:
    return subprocess.run(
        ["nsenter", "-t", str(pid), "-n", "nft", *args], check=True, capture_output=True, text=True
    ).stdout


def _wait(pred: Any, timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if pred():
            return
        time.sleep(0.1)
    raise AssertionError("condition not reached")


def test_agent_bans_in_nftables_and_recreates_after_a_flush(tmp_path: Path) -> None:
    need_root()
    need_tool("nft")
    need_tool("unshare")
    need_tool("nsenter")
    jdir = tmp_path / "journal"
    jdir.mkdir()
    state = tmp_path / "state"
    cfg = write_config(
        tmp_path / "c.yaml", state, journal_dir=jdir, jails={"sshd": {"maxretry": 2}}
    )
    with JournalWriter(jdir) as writer:
        writer.write([sshd_fields("Server listening on :: port 22.")])
        writer.wait_visible(1)
        with running(cfg, dry_run=False, wrapper=["unshare", "-n"]) as agent:
            pid = agent.proc.pid
            lines = [
                "Failed password for root from 203.0.113.5 port 1 ssh2",
                "Failed password for root from 2001:db8:5:6::77 port 1 ssh2",
            ]
            writer.write([sshd_fields(line) for line in lines * 2])
            _wait(lambda: "203.0.113.5" in set_elements(pid, "sshd-v4", missing_ok=True))
            _wait(lambda: "2001:db8:5:6::/64" in set_elements(pid, "sshd-net6", missing_ok=True))
            # Another tool flushes the whole ruleset: the agent notices and restores.
            _nft(pid, "flush", "ruleset")
            _wait(lambda: "203.0.113.5" in set_elements(pid, "sshd-v4", missing_ok=True))
            agent.wait_for_log("Restore ban of 203.0.113.5 in jail sshd")
    assert "Ban 203.0.113.5 in jail sshd for 10m" in agent.log
    assert "Ban 2001:db8:5:6::/64 in jail sshd" in agent.log


def test_a_subnet_ban_is_a_prefix_in_the_interval_set(tmp_path: Path) -> None:
    """Five addresses failing once each in one /24 (the packaged sshd jail's subnet detector)."""
    need_root()
    need_tool("nft")
    need_tool("unshare")
    need_tool("nsenter")
    jdir = tmp_path / "journal"
    jdir.mkdir()
    cfg = write_config(tmp_path / "c.yaml", tmp_path / "state", journal_dir=jdir)
    with JournalWriter(jdir) as writer:
        writer.write([sshd_fields("Server listening on :: port 22.")])
        writer.wait_visible(1)
        with running(cfg, dry_run=False, wrapper=["unshare", "-n"]) as agent:
            pid = agent.proc.pid
            writer.write(
                [
                    sshd_fields(
                        f"Failed password for invalid user u{i} from 198.51.100.{i} port 1 ssh2"
                    )
                    for i in (10, 20, 30, 40, 50)
                ]
            )
            _wait(lambda: "198.51.100.0/24" in set_elements(pid, "sshd-net4", missing_ok=True))
            assert not set_elements(pid, "sshd-v4", missing_ok=True), (
                "no address was banned on its own"
            )
    assert "Ban 198.51.100.0/24 in jail sshd for 1d (subnet)" in agent.log
