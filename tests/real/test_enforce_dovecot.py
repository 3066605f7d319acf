"""Real Dovecot asks the real agent's auth policy server; its reports are the jail's failures.

Dovecot (imap) and the agent run in a server namespace of the test's own;
IMAP clients log in from another. Wrong passwords from one address, reported
by Dovecot after authentication (no log read), ban it; Dovecot then refuses
that address before authentication even with the right password, while a
second address logs in. A report without the shared secret counts nothing.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import pytest

from support.agent import AgentProcess, StateReader, write_config
from support.dovecot import imap_login, running_dovecot
from support.netpair import NetPair, net_pair

pytestmark = pytest.mark.real
PORT = 10032
SECRET = "s3cret-for-the-test"  # noqa: S105 - the test's own shared secret
MESSAGE = "Too many failures, try later"


def agent_config(tmp_path: Path) -> Path:
    secret = tmp_path / "dovecot.secret"
    secret.write_text(SECRET + "\n")
    secret.chmod(0o600)
    return write_config(
        tmp_path / "journalban.yaml", tmp_path / "state",
        firewall={"backend": "hosts-deny"},
        jails={
            "sshd": {"enabled": False},
            "dovecot": {"enabled": True, "maxretry": 3, "ignoreip": [],
                        "ignore_local_networks": False},
        },
        enforcement={"dovecot": {"listen": f"127.0.0.1:{PORT}", "secret_file": str(secret),
                                 "jails": ["dovecot"], "reports": "dovecot", "message": MESSAGE}},
    )  # fmt: skip


def forged_report(pair: NetPair, header: str) -> str:
    """A report posted from inside the server namespace, as another local program would."""
    code = (
        "import sys, urllib.request, urllib.error\n"
        f"req = urllib.request.Request('http://127.0.0.1:{PORT}/?command=report', data=sys.argv[1]"
        ".encode(), headers={'X-API-Key': sys.argv[2]}, method='POST')\n"
        "try:\n    print(urllib.request.urlopen(req, timeout=5).status)\n"
        "except urllib.error.HTTPError as e:\n    print(e.code)\n"
    )
    body = json.dumps({"login": "x", "remote": "192.0.2.99", "success": False,
                       "policy_reject": False})  # fmt: skip
    done = subprocess.run(
        pair.server_argv([sys.executable, "-I", "-c", code, body, header]),
        capture_output=True, text=True, timeout=30, check=True,
    )  # fmt: skip
    return done.stdout.strip()


def test_reports_ban_and_dovecot_refuses_the_banned_client_only(tmp_path: Path) -> None:
    with net_pair() as pair:
        attacker, innocent = pair.clients
        agent = AgentProcess(agent_config(tmp_path), dry_run=False,
                             wrapper=["ip", "netns", "exec", pair.server_ns])  # fmt: skip
        state = StateReader(tmp_path / "state")
        try:
            agent.wait_for_log("enforcement point dovecot started")
            with running_dovecot(tmp_path / "dovecot", pair, PORT, SECRET,
                                 {"alice": "right-pw"}) as dovecot_log:  # fmt: skip
                assert imap_login(pair, innocent, "alice", "right-pw").startswith("a OK")
                assert forged_report(pair, "wrong-secret") == "401"
                for _ in range(3):
                    assert imap_login(pair, attacker, "alice", "guess").startswith("a NO")
                state.wait(lambda: ("dovecot", f"{attacker}/32") in state.bans())
                refused = imap_login(pair, attacker, "alice", "right-pw")
                assert refused.startswith("a NO"), refused
                assert imap_login(pair, innocent, "alice", "right-pw").startswith("a OK")
                time.sleep(0.5)  # the refused attempt's report has arrived
                assert state.total_failed("dovecot") == 3, "the policy refusal did not count"
                text = dovecot_log.read_text(errors="replace")
                assert "Authentication failure due to policy server refusal" in text
                assert "policy_reject" in text, "Dovecot sent its reports"
        finally:
            agent.stop()
    assert "401" in agent.log or "secret" in agent.log


def test_a_backend_outage_reported_by_dovecot_counts_no_failure(tmp_path: Path) -> None:
    with net_pair() as pair:
        _, user_address = pair.clients
        agent = AgentProcess(agent_config(tmp_path), dry_run=False,
                             wrapper=["ip", "netns", "exec", pair.server_ns])  # fmt: skip
        state = StateReader(tmp_path / "state")
        try:
            agent.wait_for_log("enforcement point dovecot started")
            root = tmp_path / "dovecot"
            with running_dovecot(root, pair, PORT, SECRET, {"alice": "right-pw"}):
                assert imap_login(pair, user_address, "alice", "right-pw").startswith("a OK")
                (root / "etc" / "backend-down").write_text("")
                for _ in range(4):  # above maxretry: a ban, were they counted
                    reply = imap_login(pair, user_address, "alice", "right-pw")
                    assert "[UNAVAILABLE]" in reply, reply
                (root / "etc" / "backend-down").unlink()
                time.sleep(1)  # the reports have arrived and been decided
                assert state.total_failed("dovecot") == 0
                assert not state.bans()
                assert imap_login(pair, user_address, "alice", "right-pw").startswith("a OK")
                assert imap_login(pair, user_address, "alice", "wrong").startswith("a NO")
                state.wait(lambda: state.total_failed("dovecot") == 1)
        finally:
            agent.stop()
