"""No bus, or an agent started --no-bus: the client says so and reads the state database.

The agent is real (a dry run on real journal files); the client commands run
as processes with DBUS_SYSTEM_BUS_ADDRESS pointing at a socket that is not there.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import time
from pathlib import Path

from support.agent import JOURNALBAN, AgentProcess, StateReader, write_config
from support.journal import JournalWriter, sshd_fields

ATTACKER = "203.0.113.5"


def _client(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, DBUS_SYSTEM_BUS_ADDRESS=f"unix:path={tmp_path}/no-bus-here")
    return subprocess.run(
        [JOURNALBAN, *args], capture_output=True, text=True, env=env, timeout=60, check=False
    )


def _digest(state: Path) -> str:
    """The databases' content (a reader may touch SQLite's -shm index; that holds no data)."""
    files = sorted(p for p in state.iterdir() if not p.name.endswith("-shm"))
    return hashlib.sha256(b"".join(p.read_bytes() for p in files)).hexdigest()


def test_status_banned_and_stats_read_the_state_of_a_no_bus_agent(tmp_path: Path) -> None:
    jdir = tmp_path / "journal"
    state = tmp_path / "state"
    cfg = write_config(
        tmp_path / "c.yaml", state, journal_dir=jdir, jails={"sshd": {"maxretry": 2}}
    )
    with JournalWriter(jdir) as writer:
        writer.write([sshd_fields("Server listening on :: port 22.")])
        writer.wait_visible(1)
        agent = AgentProcess(cfg)  # --no-bus --dry-run
        try:
            agent.wait_for_log("running:")
            writer.write([sshd_fields(f"Failed password for root from {ATTACKER} port 1 ssh2")] * 2)
            agent.wait_for_log(f"Ban {ATTACKER} in jail sshd")
            StateReader(state).wait(lambda: ("sshd", f"{ATTACKER}/32") in StateReader(state).bans())
            running = _client(tmp_path, "status", "--config", str(cfg))
            assert (
                f"journalban runs with this configuration (pid {agent.proc.pid}) but not on the bus"
                in running.stderr
            )
            assert "|- Currently banned:\t1" in running.stdout
        finally:
            agent.stop()
    before = _digest(state)

    status = _client(tmp_path, "status", "--config", str(cfg))
    assert status.returncode == 3, status
    assert "no answer over D-Bus" in status.stderr
    assert "a dry run's state" in status.stderr
    assert "state.dry-run.sqlite" in status.stderr
    assert "|- State:\tnot on the bus" in status.stdout
    assert "|- Currently banned:\t1" in status.stdout

    jail = _client(tmp_path, "status", "sshd", "--config", str(cfg))
    assert "|  |- Total failed:\t2" in jail.stdout
    assert f"`- Banned IP list:\t{ATTACKER}" in jail.stdout

    banned = _client(tmp_path, "banned", "--json", "--config", str(cfg))
    assert banned.returncode == 3
    assert [b["address"] for b in json.loads(banned.stdout)] == [ATTACKER]
    notice = json.loads(banned.stderr)
    assert notice["error"] == "unreachable"
    assert notice["state_database"] == str(state / "state.dry-run.sqlite")

    one = _client(tmp_path, "banned", ATTACKER, "--config", str(cfg))
    assert one.stdout.splitlines()[1].split()[:2] == [ATTACKER, "sshd"]
    other = _client(tmp_path, "banned", "198.51.100.9", "--config", str(cfg))
    assert other.stdout.strip() == "198.51.100.9 is not banned"

    stats = _client(tmp_path, "stats", "--config", str(cfg))
    assert stats.stdout.splitlines()[1].split()[:4] == ["sshd", "journal", "0/2", "1/1"]
    assert _digest(state) == before  # read-only


def test_commands_that_change_things_say_plainly_there_is_no_bus(tmp_path: Path) -> None:
    out = _client(tmp_path, "ban", "sshd", ATTACKER, "--json")
    assert out.returncode == 3
    error = json.loads(out.stderr)
    assert error["error"] == "unreachable"
    assert "cannot connect to" in error["message"]
    missing = _client(
        tmp_path, "status", "--config", str(write_config(tmp_path / "c.yaml", tmp_path / "empty"))
    )
    assert missing.returncode == 3
    assert "no state database in" in missing.stderr


def test_an_agent_without_its_bus_says_so_once(tmp_path: Path) -> None:
    cfg = write_config(
        tmp_path / "c.yaml", tmp_path / "state", journal_dir=tmp_path / "j", bus=True
    )
    (tmp_path / "j").mkdir()
    agent = AgentProcess(cfg, bus_address=f"unix:path={tmp_path}/no-bus-here")
    try:
        agent.wait_for_log("running:")
        agent.wait_for_log("the system bus is not reachable")
        time.sleep(3.5)  # the service retries every second
    finally:
        agent.stop()
    assert agent.log.count("the system bus is not reachable") == 1, agent.log


def test_a_second_agent_on_the_bus_says_once_that_it_cannot_own_the_name(tmp_path: Path) -> None:
    from support.bus import PrivateBus

    with PrivateBus(polkit=False) as bus:
        agents = []
        for name in ("first", "second"):
            jdir = tmp_path / name / "j"
            jdir.mkdir(parents=True)
            cfg = write_config(tmp_path / name / "c.yaml", tmp_path / name / "state",
                               journal_dir=jdir, bus=True)  # fmt: skip
            agents.append(AgentProcess(cfg, bus_address=bus.address))
            if name == "first":
                agents[0].wait_for_log("serving org.jailban")
        try:
            agents[1].wait_for_log("cannot own org.jailban")
            time.sleep(3.5)  # the service retries every second
        finally:
            for agent in agents:
                agent.stop()
    assert agents[1].log.count("cannot own org.jailban") == 1, agents[1].log
