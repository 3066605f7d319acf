"""The PAM check: its config point, its decision, and the server with the real client process.

The server listens on a real unix socket in a thread's event loop; the
client is ``journalban pam-check`` started as pam_exec starts it (a process
with PAM_* in its environment). A caller that is not root is made with
setpriv.
"""

from __future__ import annotations

import asyncio
import os
import resource
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from journalban.config.enforcement import Listen, PamPoint
from journalban.config.loader import load_config
from journalban.enforce.bantable import BanTable
from journalban.enforce.pam import PamPolicyServer, PamRequest, decide, parse
from journalban.errors import ConfigErrors
from journalban.firewall.base import BanEntry
from journalban.matching.library import FilterLibrary
from journalban.pamcheck import fail_mode, request_of
from support.fake_control import FakeDetectionView
from support.real import need_root, need_tool

CHECK = FilterLibrary(override_dir=None).check
NOW = 1_000_000.0
JAILS = "jails:\n  sshd: {enabled: true}\n"
BANNED = "203.0.113.9"
GOOD = "198.51.100.7"
NEW = "198.51.100.99"


def table() -> BanTable:
    t = BanTable()
    t.apply([BanEntry("sshd", __import__("ipaddress").ip_network(f"{BANNED}/32"), None)], ())
    return t


def view(attacked: bool = True) -> FakeDetectionView:
    v = FakeDetectionView()
    v.pairs.append(("sshd", "alice", GOOD, NOW - 60))
    if attacked:
        v.attacked.append(("sshd", "alice", NOW - 60, NOW + 3600))
    return v


# --- configuration ------------------------------------------------------------


def test_pam_point_is_read_with_its_defaults(tmp_path: Path) -> None:
    path = tmp_path / "journalban.yaml"
    path.write_text(JAILS + "enforcement:\n  pam: {jails: [sshd], fail: closed}\n")
    point = load_config(path, check_filter=CHECK).enforcement.pam
    assert point == PamPoint(Listen(path="/run/journalban/pam.sock"), ("sshd",), "closed")


def test_pam_point_errors_name_their_lines(tmp_path: Path) -> None:
    path = tmp_path / "journalban.yaml"
    path.write_text(
        JAILS + "enforcement:\n  pam:\n    listen: 127.0.0.1:9000\n    jails: [sshd, nope]\n"
        "    fail: maybe\n"
    )
    with pytest.raises(ConfigErrors) as caught:
        load_config(path, check_filter=CHECK)
    text = "\n".join(str(e) for e in caught.value.errors)
    assert "journalban.yaml:5" in text
    assert "unix socket only" in text
    assert "journalban.yaml:6" in text
    assert "'nope'" in text
    assert "journalban.yaml:7" in text
    assert "maybe" in text


# --- the decision ---------------------------------------------------------------


def req(rhost: str, user: str = "alice", type_: str = "auth") -> PamRequest:
    return parse(request_of({"PAM_TYPE": type_, "PAM_SERVICE": "sshd", "PAM_USER": user,
                             "PAM_RHOST": rhost}).rstrip(b"\n"))  # type: ignore[union-attr]  # fmt: skip


def test_banned_address_is_refused_at_every_step() -> None:
    for step in ("auth", "account"):
        assert decide(req(BANNED, "bob", step), table(), None, {"sshd"}, NOW) == "banned in sshd"
    assert decide(req(f"::ffff:{BANNED}"), table(), None, {"sshd"}, NOW) == "banned in sshd"
    assert decide(req(BANNED), table(), None, {"other"}, NOW) is None


def test_attacked_account_takes_passwords_from_known_good_networks_only() -> None:
    assert decide(req(GOOD), table(), view(), {"sshd"}, NOW) is None
    assert "under attack" in str(decide(req(NEW), table(), view(), {"sshd"}, NOW))
    assert "under attack" in str(decide(req("host.example"), table(), view(), {"sshd"}, NOW))
    # not a password step, another account, no attack: no opinion
    assert decide(req(NEW, type_="account"), table(), view(), {"sshd"}, NOW) is None
    assert decide(req(NEW, user="bob"), table(), view(), {"sshd"}, NOW) is None
    assert decide(req(NEW), table(), view(attacked=False), {"sshd"}, NOW) is None


def test_local_logins_are_never_asked_about() -> None:
    assert request_of({"PAM_TYPE": "auth", "PAM_USER": "root", "PAM_TTY": "tty1"}) is None
    assert request_of({"PAM_RHOST": "  ", "PAM_USER": "root"}) is None


# --- the server on a real socket, the client as a process -----------------------


class Running:
    def __init__(self, tmp_path: Path, fail: str = "open", limit: int = 64) -> None:
        self.path = str(tmp_path / "pam.sock")
        point = PamPoint(Listen(path=self.path), ("sshd",), fail, limit)
        self.server = PamPolicyServer(point, table(), lambda: NOW, view)
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)

    def __enter__(self) -> Running:
        self.thread.start()
        asyncio.run_coroutine_threadsafe(self.server.start(), self.loop).result(5)
        return self

    def __exit__(self, *exc: object) -> None:
        asyncio.run_coroutine_threadsafe(self.server.close(), self.loop).result(5)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(5)
        self.loop.close()


@pytest.fixture
def running(tmp_path: Path) -> Iterator[Running]:
    with Running(tmp_path) as r:
        yield r


def pam_check(path: str, rhost: str | None, user: str = "alice", *pre: str, extra: tuple[str, ...] = ()
              ) -> subprocess.CompletedProcess[str]:  # fmt: skip
    env = {"PATH": os.environ["PATH"], "PAM_TYPE": "auth", "PAM_SERVICE": "sshd", "PAM_USER": user}
    if rhost is not None:
        env["PAM_RHOST"] = rhost
    argv = [*pre, sys.executable, "-m", "journalban.cli.main", "pam-check", "--socket", path]
    return subprocess.run([*argv, *extra], env=env, capture_output=True, text=True, timeout=30)


def test_client_process_gets_yes_and_no(running: Running) -> None:
    need_root()
    assert pam_check(running.path, GOOD).returncode == 0
    assert pam_check(running.path, NEW).returncode == 1
    assert pam_check(running.path, BANNED, "bob").returncode == 1
    assert pam_check(running.path, "198.51.100.5", "bob").returncode == 0
    assert running.server.answered == 4
    assert running.server.refused == 2
    assert oct(os.stat(running.path).st_mode & 0o777) == "0o600"


def test_unreachable_agent_fails_as_configured_but_never_for_local_logins(tmp_path: Path) -> None:
    need_root()
    with Running(tmp_path, fail="closed") as running:
        assert fail_mode(running.path, "open") == "closed"
    # the agent is gone; the fail mode it wrote stays
    gone = pam_check(running.path, GOOD)
    assert gone.returncode == 1
    assert "failing closed" in gone.stderr
    assert pam_check(running.path, None).returncode == 0, "a console login always goes on"
    Path(f"{running.path}.fail").unlink()
    assert pam_check(running.path, GOOD).returncode == 0, "--fail defaults to open"
    assert pam_check(running.path, GOOD, extra=("--fail", "closed")).returncode == 1
    bad = pam_check(running.path, GOOD, extra=("--fail", "sometimes"))
    assert bad.returncode == 2
    assert "--fail takes open or closed" in bad.stderr


def test_a_fail_file_others_could_write_is_not_trusted(tmp_path: Path) -> None:
    fail = tmp_path / "pam.sock.fail"
    fail.write_text("open\n")
    fail.chmod(0o666)
    assert fail_mode(str(tmp_path / "pam.sock"), "closed") == "closed"
    fail.chmod(0o644)
    tmp_path.chmod(0o755)
    assert fail_mode(str(tmp_path / "pam.sock"), "closed") == "open"


def test_callers_not_root_are_not_answered() -> None:
    need_root()
    setpriv = need_tool("setpriv")
    with tempfile.TemporaryDirectory() as where, Running(Path(where)) as running:
        os.chmod(where, 0o755)  # noqa: S103
        # /tmp/pytest-of-root is root's alone
        os.chmod(running.path, 0o666)  # noqa: S103
        # past the file mode: the peer credentials still refuse
        _refused_as_nobody(running, setpriv)


def _refused_as_nobody(running: Running, setpriv: str) -> None:
    nobody = pam_check(running.path, NEW, "alice", setpriv, "--reuid=65534", "--regid=65534",
                       "--clear-groups", extra=("--fail", "open"))  # fmt: skip
    assert nobody.returncode == 0
    assert "failing open" in nobody.stderr
    assert "cannot ask the agent" in nobody.stderr or "answered 'nothing" in nobody.stderr
    assert running.server.answered == 0
    assert running.server.complain.total == 1


def raw(path: str, data: bytes, wait: float = 5.0) -> bytes:
    with socket.socket(socket.AF_UNIX) as s:
        s.settimeout(wait)
        s.connect(path)
        s.sendall(data)
        out = b""
        while chunk := s.recv(4096):
            out += chunk
        return out


def test_malformed_requests_get_a_named_error(running: Running) -> None:
    need_root()
    assert raw(running.path, b"hello\n") == b"error: not a JSON line\n"
    assert raw(running.path, b'{"v":2}\n') == b"error: not a version 1 request object\n"
    assert raw(running.path, b'{"v":1,"user":7}\n') == b"error: user must be a string\n"
    assert raw(running.path, b"\xff\xfe\n") == b"error: not a JSON line\n"
    assert raw(running.path, b"x" * 10_000) == b"error: a request over 4096 bytes\n"
    assert raw(running.path, b'{"v":1,"rhost":"' + BANNED.encode() + b'"}\n') == b"no\n"
    assert running.server.answered == 1


def test_slow_and_closed_callers_and_a_flood_leave_it_answering(tmp_path: Path) -> None:
    need_root()
    with Running(tmp_path, limit=16) as running:
        start = time.monotonic()
        assert raw(running.path, b'{"v":1,', wait=10) == b"", "a half request is closed"
        assert 1.5 < time.monotonic() - start < 5
        with socket.socket(socket.AF_UNIX) as s:  # connects and goes away
            s.connect(running.path)
        held = []
        for _ in range(200):  # a flood: more connections than allowed, all idle
            s = socket.socket(socket.AF_UNIX)
            s.connect(running.path)
            held.append(s)
        time.sleep(0.3)
        assert running.server.open <= 16
        rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        for s in held:
            s.close()
        time.sleep(0.2)
        assert raw(running.path, request_of({"PAM_TYPE": "auth", "PAM_USER": "alice",
                                             "PAM_RHOST": GOOD}) or b"") == b"yes\n"  # fmt: skip
        assert resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - rss < 50_000  # KiB
        assert running.server.open == 0
        assert running.server.complain.total >= 2
