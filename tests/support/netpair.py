"""Two network namespaces of the test's own joined by a veth pair: a server and its clients.

The server side holds ``server`` (10.7x.y.1) and ``server6``; the client side
holds two addresses of each family, so one test has a banned client and an
innocent one.
Nothing here touches the machine's own namespace but the names under
/run/netns, removed at the end.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass

from support.real import need_root, need_tool


@dataclass(frozen=True)
class NetPair:
    server_ns: str
    client_ns: str
    server: str
    clients: tuple[str, str]
    # IPv6 on the same link: the clients in two different /64s of one /32.
    server6: str = "fd00:77::1"
    clients6: tuple[str, str] = ("fd00:77:1::2", "fd00:77:2::2")

    def server_argv(self, argv: Sequence[str]) -> list[str]:
        return ["ip", "netns", "exec", self.server_ns, *argv]

    def client_python(self, code: str, *args: str, timeout: float = 30) -> str:
        """Run Python ``code`` (argv: ``args``) in the client namespace; its stdout."""
        done = subprocess.run(
            ["ip", "netns", "exec", self.client_ns, sys.executable, "-I", "-c", code, *args],
            capture_output=True, text=True, timeout=timeout, check=False,
        )  # fmt: skip
        if done.returncode != 0:
            raise AssertionError(f"client failed: {done.stderr}")
        return done.stdout


def _ip(*args: str) -> None:
    subprocess.run(["ip", *args], check=True, capture_output=True, timeout=30)


@contextmanager
def net_pair() -> Iterator[NetPair]:
    need_root()
    need_tool("ip")
    tag = f"{os.getpid() % 10000}{id(object()) % 97}"
    octet = 70 + os.getpid() % 20
    third = os.getpid() % 250 + 1
    pair = NetPair(
        f"jbsrv{tag}", f"jbcli{tag}", f"10.{octet}.{third}.1",
        (f"10.{octet}.{third}.2", f"10.{octet}.{third}.3"),
    )  # fmt: skip
    _ip("netns", "add", pair.server_ns)
    try:
        _ip("netns", "add", pair.client_ns)
        _ip("link", "add", "jbv0", "netns", pair.server_ns, "type", "veth",
            "peer", "name", "jbv1", "netns", pair.client_ns)  # fmt: skip
        for ns, dev, addrs in (
            (pair.server_ns, "jbv0", [pair.server]),
            (pair.client_ns, "jbv1", list(pair.clients)),
        ):
            for addr in addrs:
                _ip("-n", ns, "addr", "add", f"{addr}/24", "dev", dev)
            for addr6 in [pair.server6] if ns == pair.server_ns else list(pair.clients6):
                _ip("-n", ns, "addr", "add", f"{addr6}/32", "dev", dev, "nodad")
            _ip("-n", ns, "link", "set", dev, "up")
            _ip("-n", ns, "link", "set", "lo", "up")
        yield pair
    finally:
        for ns in (pair.client_ns, pair.server_ns):
            subprocess.run(["ip", "netns", "del", ns], capture_output=True, timeout=30, check=False)
