"""Real OpenSMTPD: failures that name no address, counted for their session's client.

Debian 12's OpenSMTPD (unpacked by scripts/setup --test) listens on port 25
in the server namespace and logs through a real rsyslogd into mail.log. A
client in the other namespace tries AUTH where none is offered and probes for
a relay: smtpd logs those failures with its session id only; the address is
on the session's "smtp connected" line. The agent (a files jail on that
mail.log) counts them for the right client across a kill -9 in the middle of
the session, bans it, and leaves alone a client that sent mail properly.
`journalban replay` reaches the same decision from the same file.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

from support.agent import (
    JOURNALBAN,
    PER_ADDRESS_ONLY,
    StateReader,
    running,
    write_config,
)
from support.netpair import NetPair, net_pair
from support.opensmtpd import SMTP_SESSION, running_opensmtpd

AUTH = "AUTH PLAIN AGFsaWNlAHdyb25n"  # "\0alice\0wrong"
RELAY = ["MAIL FROM:<spam@client.test>", "RCPT TO:<victim@elsewhere.example>"]


def _session(pair: NetPair, source: str, *commands: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        ["ip", "netns", "exec", pair.client_ns, sys.executable, "-I", "-c", SMTP_SESSION,
         source, pair.server, *commands],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip


def _replies(proc: subprocess.Popen[str], until: str | None = None) -> list[str]:
    """The client's reply codes, up to ``until`` (or to its exit)."""
    assert proc.stdout is not None
    out: list[str] = []
    for line in proc.stdout:
        if line.strip() == until:
            return out
        out.append(line.strip())
    code = proc.wait(timeout=30)
    errors = proc.stderr.read() if proc.stderr else ""
    for pipe in (proc.stdin, proc.stdout, proc.stderr):
        if pipe is not None:
            pipe.close()
    assert code == 0, errors
    return out


def test_opensmtpd_failures_count_for_their_sessions_client_across_kill_9(tmp_path: Path) -> None:
    state = tmp_path / "state"
    with net_pair() as pair, running_opensmtpd(tmp_path / "opensmtpd", pair) as log:
        attacker, innocent = pair.clients
        cfg = write_config(
            tmp_path / "c.yaml", state, firewall={"backend": "dry-run"},
            jails={"sshd": {"enabled": False},
                   "opensmtpd": {"enabled": True, "source": "files", "files": [str(log)],
                                 "maxretry": 3, "bantime": "1h", "ignoreip": [],
                                 "ignore_local_networks": False, **PER_ADDRESS_ONLY}},
        )  # fmt: skip
        reader = StateReader(state)
        with running(cfg, kill9=True):
            # The innocent client delivers to a local user: no failure.
            ok = _session(
                pair, innocent, "MAIL FROM:<friend@client.test>", "RCPT TO:<root@mx.test>"
            )
            assert _replies(ok) == ["250", "250"]
            # One attacking session: AUTH on a port that offers none, twice, then
            # it holds the connection open while the agent is killed.
            held = _session(pair, attacker, AUTH, "AUTH LOGIN", "--hold", *RELAY)
            assert _replies(held, until="held") == ["503", "503"]
            reader.wait(lambda: reader.total_failed("opensmtpd") == 2)
        # smtpd logs the relay probe while no agent runs: the session's address
        # must come back from the state committed before the kill.
        assert held.stdin is not None
        held.stdin.write("go\n")
        held.stdin.flush()
        assert _replies(held) == ["250", "550"]
        with running(cfg):
            reader.wait(lambda: reader.bans() == {("opensmtpd", f"{attacker}/32")})
            assert reader.total_failed("opensmtpd") == 3
        text = log.read_text()
    # What the agent read is what smtpd wrote: the failures name no address.
    session = re.search(rf"(\w{{16}}) smtp connected address={re.escape(attacker)} ", text)
    assert session is not None, text
    failures = [line for line in text.splitlines() if f"{session[1]} smtp failed-command" in line]
    assert len(failures) == 3, text
    assert not any(attacker in line for line in failures)
    replay = subprocess.run(
        [JOURNALBAN, "replay", str(log), "--config", str(cfg), "--jail", "opensmtpd", "--json"],
        capture_output=True, text=True, timeout=120, check=True,
    )  # fmt: skip
    found = json.loads(replay.stdout)
    assert found["failures"] == 3
    assert [(b["address"], b["reason"]) for b in found["bans"]] == [(attacker, "failures")]
