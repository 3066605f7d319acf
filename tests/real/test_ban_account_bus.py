"""The account behind a ban, over the real bus (GetBanDetails, a manager's call), read
from the ban's own row (state format 1): for a ban migrated from a format 0 state
file, for a ban the agent decides, and for both after a restart; and gone from
the state with its ban when the ban is lifted. A real agent on a private system
bus with polkitd, reading journal files a real journald writer made."""

from __future__ import annotations

import json
import sqlite3
import time
from pathlib import Path

import pytest

from support.agent import AgentProcess, write_config
from support.bus import PrivateBus, run_client
from support.busagent import bus_with_journal
from support.journal import sshd_fields
from support.state_v0 import write_v0

pytestmark = pytest.mark.real
MANAGER = ["org.jailban", "/org/jailban", "org.jailban.Manager1"]


def _account(bus: PrivateBus, address: str) -> str:
    done = run_client(
        bus, ["busctl", f"--address={bus.address}", "--json=short", "call", *MANAGER,
              "GetBanDetails", "ss", address, "sshd"],
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    return str(json.loads(done.stdout)["data"][0]["account"]["data"])


def _accounts(state: Path) -> dict[str, str | None]:
    db = sqlite3.connect(state / "state.dry-run.sqlite")
    try:
        return {str(n): a for n, a in db.execute("SELECT network, account FROM bans")}
    finally:
        db.close()


def test_a_bans_account_comes_from_its_row_before_and_after_a_restart(tmp_path: Path) -> None:
    jdir, state = tmp_path / "journal", tmp_path / "state"
    jdir.mkdir()
    state.mkdir()
    write_v0(state / "state.dry-run.sqlite", time.time())
    cfg = write_config(
        tmp_path / "journalban.yaml", state, journal_dir=jdir, bus=True,
        firewall={"backend": "dry-run"}, recidive={"enabled": False},
        jails={"sshd": {"deny_users": ["oracle", "root"]}},
    )  # fmt: skip
    with bus_with_journal(jdir) as (bus, writer):
        agent = AgentProcess(cfg, bus_address=bus.address)
        try:
            agent.wait_serving(bus)
            assert _account(bus, "203.0.113.9") == "oracle", "migrated from ban_accounts"
            assert _account(bus, "192.0.2.1") == ""
            writer.write([sshd_fields("Failed password for root from 203.0.113.95 port 22 ssh2")])
            agent.wait_for_log("Ban 203.0.113.95 in jail sshd for")
            assert _account(bus, "203.0.113.95") == "root"
        finally:
            assert agent.stop() == 0
        again = AgentProcess(cfg, bus_address=bus.address)
        try:
            again.wait_serving(bus)
            assert _account(bus, "203.0.113.95") == "root", "restored: read from its row"
            assert _account(bus, "203.0.113.9") == "oracle"
            unban = run_client(bus, ["busctl", f"--address={bus.address}", "call", *MANAGER,
                                     "Unban", "ss", "203.0.113.95", "sshd"])  # fmt: skip
            assert unban.returncode == 0, unban.stderr
            again.wait_for_log("Unban 203.0.113.95 in jail sshd")
            deadline = time.monotonic() + 20
            while "203.0.113.95/32" in _accounts(state) and time.monotonic() < deadline:
                time.sleep(0.05)
            assert "203.0.113.95/32" not in _accounts(state), "the account went with its ban"
            assert _accounts(state)["203.0.113.9/32"] == "oracle"
        finally:
            assert again.stop() == 0
