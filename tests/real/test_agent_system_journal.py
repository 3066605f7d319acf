"""The agent on "the system journal": a test directory bind-mounted over the journal's places."""

from __future__ import annotations

from pathlib import Path

from support.agent import JOURNALBAN, AgentProcess, StateReader, write_config
from support.journal import JournalWriter, sshd_fields
from support.real import need_root, need_tool


def test_agent_reads_the_system_journal(tmp_path: Path) -> None:
    need_root()
    need_tool("unshare")
    machine_id = Path("/etc/machine-id").read_text().strip()
    run_log = tmp_path / "run-log"
    var_log = tmp_path / "var-log"
    var_log.mkdir()
    jdir = run_log / machine_id
    state = tmp_path / "state"
    cfg = write_config(
        tmp_path / "c.yaml", state, firewall={"backend": "dry-run"}, jails={"sshd": {"maxretry": 2}}
    )
    script = (
        # A tmpfs over /run keeps the host's /run untouched while /run/log/journal is made.
        "mount -t tmpfs tmpfs /run && mkdir -p /run/log/journal /var/log/journal"
        f" && mount --bind {run_log} /run/log/journal && mount --bind {var_log} /var/log/journal"
        f' && exec "$0" "$@"'
    )
    local = {"_MACHINE_ID": machine_id}
    with JournalWriter(jdir, "system.journal") as writer:
        writer.write([{**sshd_fields("Server listening on :: port 22."), **local}])
        writer.wait_visible(1)
        agent = AgentProcess(
            cfg, wrapper=["unshare", "-m", "--propagation", "private", "sh", "-c", script]
        )
        try:
            agent.wait_for_log("running:")
            line = "Failed password for root from 203.0.113.77 port 22 ssh2"
            forged = sshd_fields(line, unit="user@1000.service", uid=1000)
            writer.write([{**forged, **local}] * 3)
            writer.write([{**sshd_fields(line, unit="sshd.service"), **local}] * 2)
            agent.wait_for_log("Ban 203.0.113.77 in jail sshd")
            reader = StateReader(state)
            reader.wait(lambda: reader.total_failed("sshd") == 2)
        finally:
            agent.stop()
    assert JOURNALBAN in list(agent.proc.args)  # type: ignore[arg-type]
    assert "no systemd journal" not in agent.log
