"""Real Postfix asks the real agent (check_policy_service): a banned client is refused.

The agent bans from a log file (a file jail, no firewall touched); Postfix
in a network namespace of the test's own consults journalban's socket in its
chrooted private/ directory; an SMTP client in another namespace is refused
at RCPT with journalban's fixed text while a second address is accepted.
"""

from __future__ import annotations

import shutil
import socket
import time
from pathlib import Path

import pytest

from support.agent import AgentProcess, write_config
from support.netpair import net_pair
from support.postfix import running_postfix, smtp_rcpt
from support.real import need_tool

pytestmark = pytest.mark.real
MESSAGE = "Service unavailable, try later"


def failure(addr: str, n: int) -> str:
    stamp = time.strftime("%b %e %H:%M:%S")
    return (
        f"{stamp} mx postfix/smtpd[{100 + n}]: NOQUEUE: reject: RCPT from unknown[{addr}]: 554 "
        f"5.7.1 <x@example.org>: Relay access denied; from=<a@b.c> to=<x@example.org> "
        f"proto=ESMTP helo=<pc>\n"
    )


def ask(sock_path: Path) -> bytes:
    with socket.socket(socket.AF_UNIX) as s:
        s.connect(str(sock_path))
        s.settimeout(5)
        try:
            s.sendall(b"request=smtpd_access_policy\nclient_address=192.0.2.1\n\n")
            return s.recv(100)
        except ConnectionError:
            return b""


def agent_config(tmp_path: Path, log: Path, socket_path: Path) -> Path:
    return write_config(
        tmp_path / "journalban.yaml", tmp_path / "state",
        firewall={"backend": "hosts-deny"},
        jails={
            "sshd": {"enabled": False},
            "postfix": {"enabled": True, "source": "files", "files": [str(log)], "maxretry": 2,
                        "ignoreip": [], "ignore_local_networks": False},
        },
        enforcement={"postfix": {"listen": f"unix:{socket_path}", "jails": ["postfix"],
                                 "message": MESSAGE}},
    )  # fmt: skip


def test_banned_client_is_refused_at_rcpt_and_another_accepted(tmp_path: Path) -> None:
    log = tmp_path / "mail.log"
    log.write_text("")
    with (
        net_pair() as pair,
        running_postfix(
            tmp_path / "postfix", pair, "check_policy_service unix:private/journalban"
        ) as spool,
    ):
        banned, innocent = pair.clients
        agent = AgentProcess(agent_config(tmp_path, log, spool / "private" / "journalban"),
                             dry_run=False)  # fmt: skip
        try:
            agent.wait_for_log("enforcement point postfix started")
            assert smtp_rcpt(pair, banned).startswith("250"), "not banned yet: accepted"
            with log.open("a") as f:
                f.writelines(failure(banned, n) for n in range(3))
            agent.wait_for_log(f"{banned}")
            deadline = time.monotonic() + 10
            reply = smtp_rcpt(pair, banned)
            while reply.startswith("250") and time.monotonic() < deadline:
                time.sleep(0.2)
                reply = smtp_rcpt(pair, banned)
            assert reply.startswith("554"), reply
            assert MESSAGE in reply
            assert smtp_rcpt(pair, innocent).startswith("250")
        finally:
            agent.stop()
    postfix_log = (tmp_path / "postfix" / "postfix.log").read_text(errors="replace")
    assert f"reject: RCPT from unknown[{banned}]" in postfix_log
    assert "warning" not in postfix_log.replace("warning: hostname", ""), postfix_log


def test_bad_clients_on_the_socket_leave_the_service_answering(tmp_path: Path) -> None:
    sock_path = tmp_path / "policy.sock"
    log = tmp_path / "mail.log"
    log.write_text("")
    agent = AgentProcess(agent_config(tmp_path, log, sock_path), dry_run=False)
    try:
        agent.wait_for_log("enforcement point postfix started")
        # Malformed, oversized, half-sent then closed, and a flood of idle connections.
        for data in (b"junk\n\n", b"a=" + b"x" * 100_000 + b"\n", b"request=smtpd_access_policy\n"):
            with socket.socket(socket.AF_UNIX) as s:
                s.connect(str(sock_path))
                s.sendall(data)
                s.shutdown(socket.SHUT_WR)
                s.settimeout(5)
                assert s.recv(100) == b""  # closed without an answer
        idle = []
        for _ in range(300):
            s = socket.socket(socket.AF_UNIX)
            s.connect(str(sock_path))
            idle.append(s)
        assert ask(sock_path) == b"", "over max_connections: refused"
        for s in idle:
            s.close()
        deadline = time.monotonic() + 10
        while (answer := ask(sock_path)) == b"" and time.monotonic() < deadline:
            time.sleep(0.1)  # the service sees the flood's connections close
        assert answer == b"action=DUNNO\n\n"
        assert agent.proc.poll() is None
        assert "postfix policy service" in agent.log
        assert "bad request" in agent.log
    finally:
        agent.stop()


@pytest.mark.parametrize(
    ("capabilities", "starts"), [("+net_admin", False), ("+net_admin,+dac_override", True)]
)
def test_the_socket_in_postfix_private_dir_needs_the_dropins_capability(
    tmp_path: Path, capabilities: str, starts: bool
) -> None:
    """Postfix's private/ is the postfix user's, mode 0700: the unit's CAP_NET_ADMIN alone
    cannot make the socket there; postfix-policy.conf's CAP_DAC_OVERRIDE can."""
    setpriv = need_tool("setpriv")
    private = tmp_path / "spool" / "private"
    private.mkdir(parents=True)
    shutil.chown(private, "postfix")
    private.chmod(0o700)
    log = tmp_path / "mail.log"
    log.write_text("")
    wrapper = [setpriv, "--bounding-set", f"-all,{capabilities}", "--inh-caps", "-all", "--"]
    agent = AgentProcess(agent_config(tmp_path, log, private / "journalban"), dry_run=False,
                         wrapper=wrapper)  # fmt: skip
    try:
        agent.wait_for_log("running:")
        if starts:
            agent.wait_for_log("enforcement point postfix started")
            assert ask(private / "journalban") == b"action=DUNNO\n\n"
        else:
            agent.wait_for_log("enforcement point postfix cannot start")
            assert "Permission denied" in agent.log
            assert agent.proc.poll() is None, "the agent runs on without the point"
    finally:
        agent.stop()
