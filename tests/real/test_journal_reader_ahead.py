"""The journal reader child started ahead by `journalban run` (sources.journal.start_ahead).

It starts before the agent is ready (its interpreter and imports overlap the
agent's) and becomes the journal jail's reader: one child, every entry read,
forged lines of another uid never counted. A configuration without a journal
jail ends it before READY: no child is left waiting.
"""

from __future__ import annotations

import os
import time
from datetime import datetime
from pathlib import Path

from support.agent import AgentProcess, StateReader, last_cursor, write_config
from support.journal import JournalWriter, sshd_fields

READER = "journalban.agent.readerchild\x00journal"
TICK = os.sysconf("SC_CLK_TCK")


def _journal_readers(pid: int) -> list[int]:
    path = Path(f"/proc/{pid}/task/{pid}/children")
    children = [int(p) for p in path.read_text().split()] if path.exists() else []
    found = []
    for child in children:
        try:
            cmdline = Path(f"/proc/{child}/cmdline").read_bytes().decode()
        except FileNotFoundError:
            continue
        if READER in cmdline:
            found.append(child)
    return found


def _started_ticks(pid: int) -> int:
    """When a process started, in clock ticks since boot."""
    return int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[19])


def _logged_at(log: str, text: str) -> float:
    line = next(line for line in log.splitlines() if text in line)
    return datetime.strptime(line[:23], "%Y-%m-%d %H:%M:%S,%f").timestamp()


def test_the_child_started_ahead_is_the_journal_jails_reader(tmp_path: Path) -> None:
    jdir = tmp_path / "journal"
    state = tmp_path / "state"
    cfg = write_config(tmp_path / "c.yaml", state, journal_dir=jdir,
                       firewall={"backend": "dry-run"}, jails={"sshd": {"maxretry": 1000}})  # fmt: skip
    failures = [sshd_fields(f"Failed password for root from 203.0.113.{n} port 22 ssh2")
                for n in range(1, 41)]  # fmt: skip
    forged = sshd_fields("Failed password for root from 192.0.2.66 port 22 ssh2", uid=1000)
    with JournalWriter(jdir) as writer:
        writer.write([*failures[:20], forged, *failures[20:]])
        writer.wait_visible(41)
        end = last_cursor(jdir)
        agent = AgentProcess(cfg)
        spawned = time.time()  # after the agent's process started
        try:
            agent.wait_for_log("running:")
            running = _logged_at(agent.log, "running:")
            reader = StateReader(state)
            reader.wait(lambda: reader.position("sshd") == end)
            assert reader.total_failed("sshd") == 40  # not the forged line
            (child,) = _journal_readers(agent.proc.pid)
            # Started early in the agent's start-up: its start after the agent's (exact to
            # a clock tick) is well inside the agent's time to READY (at least running -
            # spawned): the command line starts it before it imports the agent (a child
            # started at READY would come after all of it).
            after = (_started_ticks(child) - _started_ticks(agent.proc.pid)) / TICK
            assert after < 0.7 * (running - spawned), (after, running - spawned)
        finally:
            assert agent.stop() == 0


def test_without_a_journal_jail_no_reader_child_is_left(tmp_path: Path) -> None:
    log = tmp_path / "auth.log"
    log.write_text("")
    cfg = write_config(
        tmp_path / "c.yaml", tmp_path / "state", firewall={"backend": "dry-run"},
        jails={"sshd": {"enabled": False},
               "ssh-files": {"filter": "sshd", "source": "files", "files": [str(log)]}},
    )  # fmt: skip
    agent = AgentProcess(cfg)
    try:
        agent.wait_for_log("running:")
        assert _journal_readers(agent.proc.pid) == []  # ended before READY
        time.sleep(0.3)
        assert _journal_readers(agent.proc.pid) == []
    finally:
        assert agent.stop() == 0
