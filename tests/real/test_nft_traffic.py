"""Bans against real traffic: two namespaces joined by a veth pair.

The server namespace runs the nftables backend and listens on the jail's port
2222 and on 8080; the client namespace holds two addresses per family, one to
ban and one to stay free. Addresses are from 10.200.0.0/24 and fd00:6a62::/64,
inside the test's namespaces only; the namespaces are deleted afterwards.
"""

from __future__ import annotations

import ctypes
import ipaddress
import os
import socket
import subprocess
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import TypeVar

import pytest

from journalban.firewall.base import BanEntry, JailRules, PortRange
from journalban.firewall.nftables import NftablesBackend
from support.real import need_root, need_tool

pytestmark = [pytest.mark.real, pytest.mark.slow]

CLONE_NEWNET = 0x40000000
JAIL = JailRules("sshd", (PortRange(2222, 2222),), ("tcp",))
SERVER = {4: "10.200.0.1", 6: "fd00:6a62::1"}
BANNED = {4: "10.200.0.2", 6: "fd00:6a62::2"}
FREE = {4: "10.200.0.3", 6: "fd00:6a62::3"}
T = TypeVar("T")


def _enter(path: str) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        if ctypes.CDLL(None, use_errno=True).setns(fd, CLONE_NEWNET) != 0:
            raise OSError(ctypes.get_errno(), f"setns({path})")
    finally:
        os.close(fd)
    if os.readlink("/proc/thread-self/ns/net") == os.readlink("/proc/self/ns/net"):
        raise RuntimeError("worker thread is still in the process's network namespace")


class Host:
    """A worker thread inside one named namespace."""

    def __init__(self, name: str) -> None:
        self.name = name
        self._pool = ThreadPoolExecutor(1, initializer=_enter, initargs=(f"/run/netns/{name}",))

    def call(self, fn: Callable[[], T]) -> T:
        return self._pool.submit(fn).result(timeout=60)

    def close(self) -> None:
        self._pool.shutdown(wait=True)


@dataclass
class Topology:
    server: Host
    client: Host
    listeners: list[socket.socket]


def _ip(*args: str) -> None:
    subprocess.run(["ip", *args], check=True, capture_output=True, timeout=10)


def _listen(family: int, port: int) -> socket.socket:
    sock = socket.socket(family, socket.SOCK_STREAM)
    if family == socket.AF_INET6:
        sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
    sock.bind(("::" if family == socket.AF_INET6 else "0.0.0.0", port))
    sock.listen(64)
    return sock


@pytest.fixture(scope="module")
def topology() -> Iterator[Topology]:
    need_root()
    need_tool("ip")
    tag = f"jbt{os.getpid()}"
    srv, cli = f"{tag}-srv", f"{tag}-cli"
    made: list[str] = []
    hosts: list[Host] = []
    try:
        for name in (srv, cli):
            _ip("netns", "add", name)
            made.append(name)
        _ip("link", "add", "va", "netns", srv, "type", "veth", "peer", "name", "vb", "netns", cli)
        for ns, dev, addrs in ((srv, "va", [SERVER]), (cli, "vb", [BANNED, FREE])):
            for family_addrs in addrs:
                _ip("-n", ns, "addr", "add", f"{family_addrs[4]}/24", "dev", dev)
                _ip("-n", ns, "addr", "add", f"{family_addrs[6]}/64", "dev", dev, "nodad")
            _ip("-n", ns, "link", "set", dev, "up")
            _ip("-n", ns, "link", "set", "lo", "up")
        server, client = Host(srv), Host(cli)
        hosts += [server, client]
        listeners = server.call(
            lambda: [_listen(f, p) for f in (socket.AF_INET, socket.AF_INET6) for p in (2222, 8080)]
        )
        yield Topology(server, client, listeners)
        for sock in listeners:
            sock.close()
    finally:
        for host in hosts:
            host.close()
        for name in made:
            subprocess.run(["ip", "netns", "del", name], check=False, timeout=10)


@pytest.fixture
def backend(topology: Topology) -> Iterator[NftablesBackend]:
    be = NftablesBackend(verdict="drop")
    topology.server.call(lambda: be.setup([JAIL]))
    yield be
    topology.server.call(be.teardown)
    topology.server.call(be.close)


def connects(topology: Topology, source: str, port: int, version: int) -> bool:
    def attempt() -> bool:
        family = socket.AF_INET if version == 4 else socket.AF_INET6
        with socket.socket(family, socket.SOCK_STREAM) as sock:
            sock.settimeout(1.0)
            sock.bind((source, 0))
            try:
                sock.connect((SERVER[version], port))
            except (TimeoutError, ConnectionRefusedError):
                return False
            return True

    return topology.client.call(attempt)


def ban(topology: Topology, be: NftablesBackend, address: str, seconds: float | None) -> None:
    now = time.time()
    entry = BanEntry(
        "sshd", ipaddress.ip_network(address), None if seconds is None else now + seconds
    )
    topology.server.call(lambda: be.apply([entry], [], now))


@pytest.mark.parametrize("version", [4, 6])
def test_banned_source_cannot_connect_and_an_unbanned_one_can(
    topology: Topology, backend: NftablesBackend, version: int
) -> None:
    assert connects(topology, BANNED[version], 2222, version)
    ban(topology, backend, BANNED[version], 600)
    assert not connects(topology, BANNED[version], 2222, version)
    assert connects(topology, FREE[version], 2222, version)


@pytest.mark.parametrize("version", [4, 6])
def test_another_port_stays_open_for_a_port_selective_jail(
    topology: Topology, backend: NftablesBackend, version: int
) -> None:
    ban(topology, backend, BANNED[version], 600)
    assert connects(topology, BANNED[version], 8080, version)


@pytest.mark.parametrize("version", [4, 6])
def test_ban_lifts_on_time_in_the_kernel(
    topology: Topology, backend: NftablesBackend, version: int
) -> None:
    ban(topology, backend, BANNED[version], 2)
    assert not connects(topology, BANNED[version], 2222, version)
    time.sleep(2.2)
    assert connects(topology, BANNED[version], 2222, version)


def test_prefix_ban_blocks_every_address_inside_it(
    topology: Topology, backend: NftablesBackend
) -> None:
    ban(topology, backend, "fd00:6a62::/120", 600)
    assert not connects(topology, BANNED[6], 2222, 6)
    assert not connects(topology, FREE[6], 2222, 6)
    assert connects(topology, FREE[4], 2222, 4)


def test_dropped_packets_are_counted_for_the_jail(
    topology: Topology, backend: NftablesBackend
) -> None:
    ban(topology, backend, BANNED[4], 600)
    ban(topology, backend, BANNED[6], 600)
    connects(topology, BANNED[4], 2222, 4)
    connects(topology, BANNED[6], 2222, 6)
    counted = topology.server.call(backend.counters)["sshd"]
    assert counted.packets >= 2  # at least one SYN per family, summed
    assert counted.bytes >= 60 + 80


def test_reject_verdict_refuses_the_connection_at_once(topology: Topology) -> None:
    be = NftablesBackend(verdict="reject")
    topology.server.call(lambda: be.setup([JAIL]))
    try:
        ban(topology, be, BANNED[4], 600)
        started = time.monotonic()
        assert not connects(topology, BANNED[4], 2222, 4)
        assert time.monotonic() - started < 0.5  # refused, not timed out
    finally:
        topology.server.call(be.teardown)
        topology.server.call(be.close)
