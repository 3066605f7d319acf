"""A dry run leaves no trace: a real run after it restores nothing and counts no history.

The real run uses the nftables backend in a network namespace of the test's own.
"""

from __future__ import annotations

import time
from pathlib import Path

from test_agent_nftables import _wait

from journalban.state.files import STATE_FILE, state_path
from support.agent import AgentProcess, StateReader, running, write_config
from support.journal import JournalWriter, sshd_fields
from support.nftset import set_elements
from support.real import need_root, need_tool

ATTACKER = "203.0.113.5"
FAILED = f"Failed password for root from {ATTACKER} port 1 ssh2"


def test_real_run_after_a_dry_run_restores_nothing_and_counts_no_history(tmp_path: Path) -> None:
    need_root()
    need_tool("nft")
    need_tool("unshare")
    need_tool("nsenter")
    jdir = tmp_path / "journal"
    state = tmp_path / "state"
    # findtime 3s: the real run does not read the dry run's failures back.
    cfg = write_config(
        tmp_path / "c.yaml", state, journal_dir=jdir,
        jails={"sshd": {"maxretry": 2, "findtime": "3s", "bantime": "10m",
                        "bantime_increment": {"enabled": True}}},
        recidive={"maxretry": 2},  # a second ban anywhere: recidive
    )  # fmt: skip
    with JournalWriter(jdir) as writer:
        writer.write([sshd_fields("Server listening on :: port 22.")])
        writer.wait_visible(1)
        dry = AgentProcess(cfg, dry_run=True)
        try:
            dry.wait_for_log("running:")
            writer.write([sshd_fields(FAILED)] * 2)
            dry.wait_for_log(f"Ban {ATTACKER} in jail sshd for 10m")
        finally:
            assert dry.stop() == 0
        # Every line of a dry run says so.
        lines = [line for line in dry.log.splitlines() if line.strip()]
        assert lines
        assert all("[dry run] " in line for line in lines), dry.log
        assert "a dry run: no firewall is changed" in dry.log
        assert ("sshd", f"{ATTACKER}/32") in StateReader(state, dry_run=True).bans()
        assert not (state / STATE_FILE).exists()

        time.sleep(3.5)  # past findtime
        with running(cfg, dry_run=False, wrapper=["unshare", "-n"]) as real:
            pid = real.proc.pid
            assert "0 bans restored, backend nftables" in real.log
            assert "Restore ban" not in real.log
            assert set_elements(pid, "sshd-v4", missing_ok=True) == set()
            assert set_elements(pid, "recidive-v4", missing_ok=True) == set()
            reader = StateReader(state, dry_run=False)
            assert reader.bans() == set()
            assert reader.history() == []
            # A real failure now is a first offence: no longer ban, no recidive
            # (had the dry run's ban counted, this would be the second).
            writer.write([sshd_fields(FAILED)] * 2)
            _wait(lambda: ATTACKER in set_elements(pid, "sshd-v4", missing_ok=True))
            real.wait_for_log(f"Ban {ATTACKER} in jail sshd for 10m")
            assert set_elements(pid, "recidive-v4", missing_ok=True) == set()
            assert reader.history() == [(f"{ATTACKER}/32", "sshd")]
    assert "[dry run]" not in real.log
    assert state_path(state, dry_run=True).exists()
