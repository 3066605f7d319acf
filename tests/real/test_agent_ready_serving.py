"""READY=1 reaches systemd once the agent can be reached: ``org.jailban`` owned on the
system bus, the enforcement points listening (agent/readiness.py).

``systemctl start journalban`` returns at READY; a script's next ``journalban
status`` found "journalban is not running" while the bus connection was still
being made, and Postfix a refused policy service. Real parts: a private
dbus-daemon (with polkitd), the agent as a process with a NOTIFY_SOCKET of the
test's, Postfix's policy protocol on a real TCP socket on loopback.
"""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from support.agent import AgentProcess, write_config
from support.bus import PrivateBus

pytestmark = pytest.mark.real


def _notify_socket(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> socket.socket:
    path = tmp_path / "notify.sock"
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(str(path))
    sock.settimeout(0.1)
    monkeypatch.setenv("NOTIFY_SOCKET", str(path))
    return sock


def _wait_ready(sock: socket.socket, agent: AgentProcess, timeout: float = 30.0) -> float:
    """Until READY=1 arrives; the monotonic time it did."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            message = sock.recv(4096).decode()
        except TimeoutError:
            assert agent.proc.poll() is None, agent.log
            continue
        if "READY=1" in message.split("\n"):
            return time.monotonic()
    raise AssertionError(f"READY=1 never sent:\n{agent.log}")


def _pipe(src: socket.socket, dst: socket.socket) -> None:
    with contextlib.suppress(OSError):
        while data := src.recv(65536):
            dst.sendall(data)
    with contextlib.suppress(OSError):
        dst.shutdown(socket.SHUT_WR)


@contextlib.contextmanager
def _slow_bus(bus: PrivateBus, path: Path, delay: float) -> Iterator[str]:
    """A bus address whose connections reach ``bus`` only after ``delay`` (a busy
    dbus-daemon, as at boot): the agent's bus connection takes that long. Every socket
    it made is closed at the end, its threads joined."""
    real = bus.address.removeprefix("unix:path=").split(",")[0]
    server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    server.bind(str(path))
    server.listen()
    made: list[socket.socket] = []
    threads: list[threading.Thread] = []

    def serve() -> None:
        with contextlib.suppress(OSError):
            while True:
                client, _ = server.accept()
                made.append(client)
                time.sleep(delay)
                upstream = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
                made.append(upstream)
                upstream.connect(real)
                for a, b in ((client, upstream), (upstream, client)):
                    thread = threading.Thread(target=_pipe, args=(a, b), daemon=True)
                    threads.append(thread)
                    thread.start()

    accepting = threading.Thread(target=serve, daemon=True)
    accepting.start()
    try:
        yield f"unix:path={path}"
    finally:
        server.shutdown(socket.SHUT_RDWR)
        server.close()
        accepting.join(5)
        for sock in made:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
        for thread in threads:
            thread.join(5)
        for sock in made:
            sock.close()


def test_ready_comes_once_org_jailban_is_owned(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    jdir = tmp_path / "journal"
    jdir.mkdir()
    cfg = write_config(tmp_path / "journalban.yaml", tmp_path / "state", journal_dir=jdir,
                       bus=True, firewall={"backend": "dry-run"})  # fmt: skip
    with PrivateBus() as bus, _slow_bus(bus, tmp_path / "slow-bus", 1.0) as address:
        sock = _notify_socket(tmp_path, monkeypatch)
        agent = AgentProcess(cfg, bus_address=address)
        try:
            _wait_ready(sock, agent)
            # At READY, not some time after it: what `journalban status` asks first.
            assert bus.has_name("org.jailban"), agent.log
            assert "serving org.jailban on the system bus" in agent.log
        finally:
            agent.stop()
            sock.close()


def test_ready_does_not_wait_for_a_bus_that_is_not_there(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """No system bus: READY at once (the agent runs without its API and says so), not
    after agent.readiness.READY_WAIT."""
    jdir = tmp_path / "journal"
    jdir.mkdir()
    cfg = write_config(tmp_path / "journalban.yaml", tmp_path / "state", journal_dir=jdir,
                       bus=True, firewall={"backend": "dry-run"})  # fmt: skip
    sock = _notify_socket(tmp_path, monkeypatch)
    missing = f"unix:path={tmp_path / 'no-bus-here'}"
    agent = AgentProcess(cfg, bus_address=missing)
    try:
        agent.wait_for_log("running:")
        running = time.monotonic()
        ready = _wait_ready(sock, agent)
        assert ready - running < 3.0, agent.log
        assert "the system bus is not reachable" in agent.log
    finally:
        agent.stop()
        sock.close()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_ready_comes_once_the_policy_service_listens(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    log = tmp_path / "auth.log"
    log.write_text("")
    port = _free_port()
    state = tmp_path / "state"
    cfg = write_config(
        tmp_path / "journalban.yaml", state,
        firewall={"backend": "hosts-deny"},  # (its pattern file in the state directory)
        recidive={"enabled": False},
        jails={"sshd": {"enabled": False},
               "app": {"filter": "sshd", "source": "files", "files": [str(log)]}},
        enforcement={"postfix": {"listen": f"127.0.0.1:{port}", "jails": ["app"]}},
    )  # fmt: skip
    sock = _notify_socket(tmp_path, monkeypatch)
    agent = AgentProcess(cfg, dry_run=False)
    try:
        _wait_ready(sock, agent)
        with socket.create_connection(("127.0.0.1", port), timeout=5) as client:
            # Postfix's policy delegation: attributes, an empty line; one action back.
            client.sendall(b"request=smtpd_access_policy\nprotocol_state=RCPT\n"
                           b"client_address=192.0.2.10\n\n")  # fmt: skip
            reply = client.recv(4096).decode()
        assert reply.startswith("action="), reply
        assert reply.endswith("\n\n"), reply
        assert "enforcement point postfix started" in agent.log
    finally:
        agent.stop()
        sock.close()
