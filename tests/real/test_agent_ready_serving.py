"""READY=1 reaches systemd once the agent can be reached: ``org.jailban`` owned on the
system bus, the enforcement points listening (agent/readiness.py).

``systemctl start journalban`` returns at READY; a script's next ``journalban
status`` found "journalban is not running" while the bus connection was still
being made, and Postfix a refused policy service. Real parts: a private
dbus-daemon (with polkitd), the agent as a process with a NOTIFY_SOCKET of the
test's, Postfix's policy protocol on a real TCP socket on loopback.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import json
import socket
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from dbus_fast import Message, MessageType
from dbus_fast.aio import MessageBus

from journalban.bus import contract
from journalban.events import Ban
from journalban.state.store import BatchCommit, StateStore
from support.agent import AgentProcess, write_config
from support.bus import PrivateBus
from support.real import need_tool

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


MANY = 100_000


def _many_bans(state: Path) -> None:
    """``MANY`` running bans of single IPv4 addresses in the state (a large attack's)."""
    store = StateStore(state / "state.sqlite")
    now = time.time()
    base = int(ipaddress.IPv4Address("11.0.0.0"))
    store.commit([BatchCommit(jail="sshd", bans=[
        Ban("sshd", ipaddress.ip_network(ipaddress.IPv4Address(base + i)), now, now + 3600, 1,
            "failures", 5, "journal")
        for i in range(MANY)
    ])])  # fmt: skip
    store.close()


async def _asked_at_ready(bus: PrivateBus, notify: socket.socket) -> dict[str, Any]:
    """Waits for READY=1 on ``notify``, then asks the agent at once (a connection made
    before): GetBans's total, GetStatus's BannedCount, and a page of every ban."""
    client = await MessageBus(bus_address=bus.address).connect()
    try:
        loop = asyncio.get_running_loop()
        notify.setblocking(False)
        while "READY=1" not in (await loop.sock_recv(notify, 4096)).decode().split("\n"):
            pass

        async def call(member: str, signature: str = "", body: list[Any] | None = None) -> Any:
            reply = await client.call(Message(
                destination=contract.BUS_NAME, path=contract.MANAGER_PATH,
                interface=contract.MANAGER_INTERFACE, member=member,
                signature=signature, body=body or [],
            ))  # fmt: skip
            assert reply is not None
            assert reply.message_type == MessageType.METHOD_RETURN, reply.body
            return reply.body

        first, status, whole = await asyncio.gather(
            call("GetBans", "suu", ["", 0, 1]),
            call("GetStatus"),
            call("GetBans", "suu", ["", 0, 10_000]),
        )
        return {"total": first[0], "count": status[0]["BannedCount"].value,
                "state": status[0]["State"].value, "page": len(whole[2])}  # fmt: skip
    finally:
        client.disconnect()


def test_at_ready_the_api_answers_with_every_ban_and_the_kernel_holds_them(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A start restoring 100,000 bans (nftables, in a network namespace of its own): the
    ban table is built while the kernel takes them, the bus connected meanwhile. A
    ``journalban status`` or a console's GetBans sent the moment systemd hears READY
    must see every ban, not the part of a table being built, and the kernel hold them."""
    need_tool("nft")
    jdir = tmp_path / "journal"
    jdir.mkdir()
    _many_bans(tmp_path / "state")
    cfg = write_config(tmp_path / "journalban.yaml", tmp_path / "state", journal_dir=jdir,
                       bus=True, recidive={"enabled": False})  # fmt: skip
    with PrivateBus(polkit=False) as bus:
        sock = _notify_socket(tmp_path, monkeypatch)
        agent = AgentProcess(cfg, bus_address=bus.address, dry_run=False,
                             wrapper=["unshare", "-n"])  # fmt: skip
        try:
            asked = asyncio.run(asyncio.wait_for(_asked_at_ready(bus, sock), 60))
            assert asked == {"total": MANY, "count": MANY, "state": "running",
                             "page": 10_000}, agent.log  # fmt: skip
            listed = subprocess.run(
                ["nsenter", f"--net=/proc/{agent.proc.pid}/ns/net",
                 "nft", "-j", "list", "set", "inet", "journalban", "sshd-v4"],
                capture_output=True, text=True, check=True,
            ).stdout  # fmt: skip
            sets = [item["set"] for item in json.loads(listed)["nftables"] if "set" in item]
            assert len(sets[0]["elem"]) == MANY
        finally:
            agent.stop()
            sock.close()
