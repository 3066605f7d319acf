"""Rootless: journalban as one unprivileged account runs it, with the shipped user unit's command.

The agent runs as ``nobody`` (setpriv: no capabilities, no groups), with
HOME and the XDG directories in a home of the test's own, started with the
ExecStart= of units/user/journalban.service (``%E`` expanded as the user
manager expands it). Its configuration: a file jail on a log the account
owns, the hosts-deny backend (a deny file, no firewall), an nginx deny
include and a Postfix policy service on a loopback port. Failures appended
to the log ban the address in the deny file, the include and the policy
answer; the state database lives in the account's XDG state directory; the
agent holds no capability and stops cleanly.
"""

from __future__ import annotations

import os
import pwd
import shlex
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from support.real import REPO, need_root, need_tool

pytestmark = pytest.mark.real

UNIT = REPO / "units" / "user" / "journalban.service"
BANNED = "203.0.113.77"


def _unit_exec_start(config_home: Path) -> list[str]:
    line = next(
        x for x in UNIT.read_text().splitlines() if x.startswith("ExecStart=")
    ).removeprefix("ExecStart=")
    argv = shlex.split(line.replace("%E", str(config_home)))
    assert argv[0] == "/usr/bin/journalban"
    return [str(REPO / ".venv/bin/journalban"), *argv[1:]]  # the checkout's, not a package's


def _wait(what: str, predicate: Callable[[], bool], log: Path, timeout: float = 30.0) -> None:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if predicate():
            return
        time.sleep(0.2)
    pytest.fail(f"timed out waiting for {what}; the agent's log:\n{log.read_text()[-3000:]}")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def _policy(port: int, address: str) -> str:
    with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
        s.sendall(f"request=smtpd_access_policy\nclient_address={address}\n\n".encode())
        return s.recv(4096).decode().strip()


@pytest.fixture
def home() -> Iterator[Path]:
    need_root()  # to become the unprivileged account
    need_tool("setpriv")
    where = Path(tempfile.mkdtemp(prefix="jb-rootless-", dir="/tmp"))
    try:
        yield where
    finally:
        shutil.rmtree(where, ignore_errors=True)


def test_user_unit_runs_as_the_account_with_deny_files_and_no_privileges(home: Path) -> None:
    nobody = pwd.getpwnam("nobody")
    config_home, state_home = home / ".config", home / ".local/state"
    state_dir, log_file = state_home / "journalban", home / "logs/auth.log"
    nginx, port = home / "nginx-deny.conf", _free_port()
    (config_home / "journalban").mkdir(parents=True)
    state_home.mkdir(parents=True)
    log_file.parent.mkdir()
    log_file.write_text("")
    (config_home / "journalban/journalban.yaml").write_text(f"""\
state_dir: {state_dir}
bus: false
firewall: {{backend: hosts-deny}}
jails:
  sshd: {{enabled: false}}
  app: {{enabled: true, filter: sshd, source: files, files: [{log_file}], maxretry: 2}}
enforcement:
  nginx: {{file: {nginx}, jails: [app]}}
  postfix: {{listen: "127.0.0.1:{port}", jails: [app]}}
""")  # fmt: skip
    for path in [home, *home.rglob("*")]:
        os.chown(path, nobody.pw_uid, nobody.pw_gid)
    home.chmod(0o755)
    env = {
        "PATH": "/usr/bin:/bin",
        "HOME": str(home),
        "XDG_CONFIG_HOME": str(config_home),
        "XDG_STATE_HOME": str(state_home),
        "LANG": "C.UTF-8",
    }
    agent_log = home / "agent.log"
    setpriv = ["setpriv", f"--reuid={nobody.pw_uid}", f"--regid={nobody.pw_gid}", "--clear-groups",
               "--inh-caps=-all", "--bounding-set=-all", "--no-new-privs"]  # fmt: skip
    with agent_log.open("w") as out:
        agent = subprocess.Popen(
            [*setpriv, *_unit_exec_start(config_home)],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            cwd=home,
        )
    try:
        _wait("the agent to start", lambda: "running: 1 jail (app)" in agent_log.read_text(),
              agent_log)  # fmt: skip
        # The enforcement points start once the agent runs (after READY), not before it.
        _wait("the policy service to listen",
              lambda: "enforcement point postfix started" in agent_log.read_text(),
              agent_log)  # fmt: skip
        status = Path(f"/proc/{agent.pid}/status").read_text()
        assert f"Uid:\t{nobody.pw_uid}\t{nobody.pw_uid}" in status
        assert "CapEff:\t0000000000000000" in status
        assert "backend hosts-deny" in agent_log.read_text()
        assert _policy(port, BANNED) == "action=DUNNO"
        with log_file.open("a") as f:  # as the account's own service logs
            stamp = time.strftime("%b %e %H:%M:%S")  # now: an old line is past findtime
            for n in range(3):
                f.write(f"{stamp} host sshd[12{n}]: Failed password for invalid user "
                        f"u{n} from {BANNED} port 400{n} ssh2\n")  # fmt: skip
        deny = state_dir / "hosts.deny"
        _wait("the deny file", lambda: deny.exists() and BANNED in deny.read_text(), agent_log)
        _wait("the nginx include", lambda: f"deny {BANNED};" in nginx.read_text(), agent_log)
        assert _policy(port, BANNED) == "action=REJECT Access denied"
        assert _policy(port, "198.51.100.1") == "action=DUNNO"
        database = state_dir / "state.sqlite"
        assert database.stat().st_uid == nobody.pw_uid
        assert oct(database.stat().st_mode & 0o777) == "0o600"
        warnings = [x for x in agent_log.read_text().splitlines() if "WARNING" in x]
        # the one warning: the hint for the administrator's own libwrap services
        assert all(f"/etc/hosts.deny lacks the line 'ALL: {deny}'" in x for x in warnings)
    finally:
        agent.send_signal(signal.SIGTERM)
        code = agent.wait(30)
    assert code == 0, agent_log.read_text()[-3000:]
