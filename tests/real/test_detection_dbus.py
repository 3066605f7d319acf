"""Known-good pairs and accounts under attack over the real bus: managers see and reset them.

The real agent on journal files written by journal-remote, on a private
system bus with polkitd: root (a manager) lists known-good pairs and accounts
under attack with the CLI, forgets a pair and ends an attack (both persisted
across a restart); an unprivileged caller sees only how many accounts are
under attack, never their names.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

import pytest

from support.agent import AgentProcess, StateReader, write_config
from support.bus import PrivateBus, run_client
from support.busagent import bus_with_journal
from support.journal import sshd_fields
from support.real import REPO

pytestmark = pytest.mark.real
JOURNALBAN = [str(REPO / ".venv" / "bin" / "python"), "-m", "journalban"]
MANAGER = ["org.jailban", "/org/jailban", "org.jailban.Manager1"]


def _cli(bus: PrivateBus, *args: str, user: str | None = None) -> tuple[int, Any, str]:
    done = run_client(bus, [*JOURNALBAN, *args, "--json"], user=user)
    return done.returncode, json.loads(done.stdout) if done.stdout.strip() else None, done.stderr


def _agent(cfg: Path, bus: PrivateBus) -> AgentProcess:
    agent = AgentProcess(cfg, bus_address=bus.address)
    agent.wait_serving(bus)
    return agent


def test_managers_see_and_reset_known_good_pairs_and_attacks(tmp_path: Path) -> None:
    tmp = Path(tempfile.mkdtemp(prefix="jb-detect-dbus-"))
    os.chmod(tmp, 0o755)  # noqa: S103
    jdir = tmp / "journal"
    state = tmp / "state"
    jail = {"account": {"addresses": 4, "findtime": "1h", "hold": "1h"},
            "subnet": {"enabled": False}, "attack_mode": {"enabled": False}}  # fmt: skip
    cfg = write_config(tmp / "journalban.yaml", state, journal_dir=jdir, bus=True,
                       firewall={"backend": "dry-run"}, jails={"sshd": jail})  # fmt: skip
    try:
        first = ["Accepted password for erin from 198.51.100.20 port 1 ssh2"] + [
            f"Failed password for erin from 203.0.113.{i} port 2 ssh2" for i in range(1, 5)
        ]
        with bus_with_journal(jdir, first=first, readable=True) as (bus, writer):
            agent = _agent(cfg, bus)
            try:
                reader = StateReader(state)
                reader.wait(lambda: len(reader.bans()) == 4)
                code, pairs, err = _cli(bus, "known-good")
                assert code == 0, err
                assert pairs == [{"jail": "sshd", "account": "erin", "network": "198.51.100.20/32",
                                  "last_login_usec": pairs[0]["last_login_usec"]}]  # fmt: skip
                code, attacked, err = _cli(bus, "under-attack")
                assert code == 0, err
                assert [(a["jail"], a["account"]) for a in attacked] == [("sshd", "erin")]
                # Everyone sees how many; account names need org.jailban.manage.
                code, status, _ = _cli(bus, "status", user="nobody")
                assert code == 0
                assert status["AccountsUnderAttack"] == 1
                assert "erin" not in json.dumps(status)
                text = run_client(bus, [*JOURNALBAN, "status"], user="nobody").stdout
                assert "Accounts under attack:\t1" in text
                assert "erin" not in text
                text = run_client(bus, [*JOURNALBAN, "status"]).stdout
                assert "sshd: 'erin'" in text, "a manager's status names them"
                code, _, err = _cli(bus, "under-attack", user="nobody")
                assert code != 0
                code, _, err = _cli(bus, "known-good", user="nobody")
                assert code != 0
                # Reset both.
                assert _cli(bus, "known-good", "forget", "erin")[1] == {"forgotten": 1}
                assert _cli(bus, "under-attack", "end", "erin")[1] == {"ended": 1}
                assert _cli(bus, "under-attack")[1] == []
            finally:
                agent.kill9()
            again = _agent(cfg, bus)
            try:
                assert _cli(bus, "known-good")[1] == [], "forgetting was committed"
                assert _cli(bus, "under-attack")[1] == [], "ending was committed"
                # The attack is over: erin's next failure from a new address is only counted.
                writer.write([sshd_fields("Failed password for erin from 192.0.2.77 port 3 ssh2")])
                reader.wait(lambda: reader.total_failed("sshd") == 5)
                assert ("sshd", "192.0.2.77/32") not in reader.bans()
            finally:
                again.stop()
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
