"""A fleet for tests: a 3-node nats-server JetStream cluster in a hub network
namespace, and one network namespace per host joined to the hub by a veth pair.

Each host may publish only under its own name (server permissions, as
docs/fleet.md gives them); an ``admin`` user creates the stream. Nothing here
touches the machine's own network: every address lives inside the test's
namespaces.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import json
import os
import signal
import subprocess
import time
import uuid
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from support.real import need_root, need_tool

FLEET = "prod"
STREAM = f"JOURNALBAN_{FLEET}"
CLIENT_PORTS = (4222, 4223, 4224)
CLUSTER_PORTS = (6222, 6223, 6224)
CLONE_NEWNET = 0x40000000
ADMIN_PASSWORD = "admin-secret"  # noqa: S105 - a throwaway test server


def host_permissions(host: str, fleet: str = FLEET) -> dict[str, Any]:
    """What one fleet host may do: publish its own bans, read the stream, nothing else."""
    stream = f"JOURNALBAN_{fleet}"
    return {
        "publish": {
            "allow": [
                f"journalban.{fleet}.bans.{host}.>",
                f"journalban.{fleet}.members.{host}",
                "$JS.API.INFO",
                f"$JS.API.STREAM.INFO.{stream}",
                f"$JS.API.STREAM.MSG.GET.{stream}",
                f"$JS.API.CONSUMER.CREATE.{stream}",
                f"$JS.API.CONSUMER.CREATE.{stream}.>",
                f"$JS.API.CONSUMER.DELETE.{stream}.>",
                f"$JS.FC.{stream}.>",
            ]
        },
        "subscribe": {"allow": [f"_INBOX_{host}.>"]},
    }


def server_config(index: int, store: Path, hosts: Sequence[str], *, cluster: bool = True) -> str:
    users: list[dict[str, Any]] = [{"user": "admin", "password": ADMIN_PASSWORD}]
    for host in hosts:
        users.append(
            {"user": host, "password": f"pw-{host}", "permissions": host_permissions(host)}
        )
    routes = [f"nats://127.0.0.1:{p}" for i, p in enumerate(CLUSTER_PORTS) if i != index]
    conf: dict[str, Any] = {
        "server_name": f"n{index + 1}",
        "listen": f"0.0.0.0:{CLIENT_PORTS[index]}",
        "jetstream": {"store_dir": str(store)},
        "accounts": {"FLEET": {"jetstream": "enabled", "users": users}},
    }
    if cluster:
        conf["cluster"] = {
            "name": "jb",
            "listen": f"127.0.0.1:{CLUSTER_PORTS[index]}",
            "routes": routes,
        }
    # nats-server's configuration format accepts JSON.
    return json.dumps(conf, indent=1)


# The sshd jail's detectors beyond the per-address count (subnet, account, ...)
# off: the fleet tests and benchmark fail many addresses of one /24 as root,
# and expect exactly one ban per address.
PER_ADDRESS_ONLY: dict[str, object] = {
    name: {"enabled": False} for name in ("slow", "subnet", "account", "attack_mode")
}


def netns(name: str, *argv: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["ip", "netns", "exec", name, *argv], check=check, capture_output=True, text=True
    )


class FleetNet:
    """The hub namespace with the NATS servers and one namespace per host."""

    def __init__(
        self, root: Path, hosts: Sequence[str], *, servers: int = 3, later: Sequence[str] = ()
    ) -> None:
        """``later``: hosts with a user on the servers whose namespace ``add_host`` makes."""
        need_root()
        for tool in ("ip", "nft", "nats-server"):
            need_tool(tool)
        self.root = root
        self.hosts = list(hosts)
        tag = uuid.uuid4().hex[:6]
        self.hub = f"jbf-{tag}-hub"
        self.ns = {h: f"jbf-{tag}-{h}" for h in hosts}
        self.server_count = servers
        self.servers: list[subprocess.Popen[bytes] | None] = [None] * servers
        self._made: list[str] = []
        self.subnet = {h: i + 1 for i, h in enumerate(hosts)}
        self.users = [*hosts, *later]

    def hub_address(self, host: str) -> str:
        return f"10.99.{self.subnet[host]}.1"

    def host_address(self, host: str) -> str:
        return f"10.99.{self.subnet[host]}.2"

    def urls(self, host: str) -> list[str]:
        return [f"nats://{self.hub_address(host)}:{p}" for p in CLIENT_PORTS[: self.server_count]]

    def up(self) -> FleetNet:
        subprocess.run(["ip", "netns", "add", self.hub], check=True)
        self._made.append(self.hub)
        netns(self.hub, "ip", "link", "set", "lo", "up")
        for host in self.hosts:
            self.add_host(host)
        for i in range(self.server_count):
            self.start_server(i)
        self.wait_cluster()
        return self

    def add_host(self, host: str) -> None:
        if host not in self.subnet:
            self.subnet[host] = len(self.subnet) + 1
            self.ns[host] = self.hub.replace("-hub", f"-{host}")
            self.hosts.append(host)
        ns = self.ns[host]
        subprocess.run(["ip", "netns", "add", ns], check=True)
        self._made.append(ns)
        n = self.subnet[host]
        subprocess.run(
            ["ip", "link", "add", f"h{n}", "netns", self.hub, "type", "veth",
             "peer", "name", "up0", "netns", ns],
            check=True,
        )  # fmt: skip
        netns(self.hub, "ip", "addr", "add", f"{self.hub_address(host)}/24", "dev", f"h{n}")
        netns(self.hub, "ip", "link", "set", f"h{n}", "up")
        netns(ns, "ip", "link", "set", "lo", "up")
        netns(ns, "ip", "addr", "add", f"{self.host_address(host)}/24", "dev", "up0")
        netns(ns, "ip", "link", "set", "up0", "up")

    def start_server(self, index: int) -> None:
        store = self.root / f"nats{index + 1}"
        store.mkdir(parents=True, exist_ok=True)
        conf = self.root / f"nats{index + 1}.conf"
        conf.write_text(server_config(index, store, self.users, cluster=self.server_count > 1))
        with (self.root / f"nats{index + 1}.log").open("ab") as log:
            self.servers[index] = subprocess.Popen(
                ["ip", "netns", "exec", self.hub, "nats-server", "-c", str(conf)],
                stdout=log,
                stderr=subprocess.STDOUT,
            )

    def stop_server(self, index: int, sig: int = signal.SIGTERM) -> None:
        proc = self.servers[index]
        if proc is None:
            return
        proc.send_signal(sig)
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        self.servers[index] = None

    def wait_cluster(self, timeout: float = 30.0) -> None:
        """Until JetStream answers (a meta leader is elected) through the admin user."""
        deadline = time.monotonic() + timeout
        last: Exception | None = None
        while time.monotonic() < deadline:
            try:
                self.admin(lambda js: js.account_info())
                return
            except Exception as exc:
                last = exc
                time.sleep(0.5)
        raise AssertionError(f"the NATS cluster did not come up: {last!r}")

    def admin(self, action: Any, user: str = "admin", password: str = ADMIN_PASSWORD) -> Any:
        """Run ``action(js)`` (a coroutine) as a client inside the hub namespace."""
        return run_in_netns(self.hub, _admin_call, action, user, password,
                            [f"nats://127.0.0.1:{p}" for p in CLIENT_PORTS[: self.server_count]])  # fmt: skip

    def create_stream(self, replicas: int = 3, duplicate_window: float = 120) -> None:
        from nats.js.api import StorageType, StreamConfig

        config = StreamConfig(
            name=STREAM, subjects=[f"journalban.{FLEET}.>"], max_msgs_per_subject=1,
            max_age=30 * 86400, storage=StorageType.FILE,
            num_replicas=min(replicas, self.server_count), duplicate_window=duplicate_window,
        )  # fmt: skip
        # Right after start the cluster may not know all its JetStream peers yet
        # ("no suitable peers for placement"): try again for a while.
        deadline = time.monotonic() + 30
        while True:
            try:
                self.admin(lambda js: js.add_stream(config))
                return
            except Exception as exc:
                if "no suitable peers" not in str(exc) or time.monotonic() > deadline:
                    raise
                time.sleep(0.5)

    def down(self) -> None:
        for i in range(self.server_count):
            with contextlib.suppress(Exception):
                self.stop_server(i, signal.SIGKILL)
        for ns in reversed(self._made):
            subprocess.run(["ip", "netns", "del", ns], check=False)
        self._made.clear()

    def fleet_config(self, host: str, **extra: object) -> dict[str, object]:
        data: dict[str, object] = {
            "servers": self.urls(host),
            "name": FLEET,
            "host": host,
            "user": host,
            "password_file": str(self._password_file(host)),
        }
        data.update(extra)
        return data

    def _password_file(self, host: str) -> Path:
        path = self.root / f"{host}.password"
        path.write_text(f"pw-{host}\n")
        path.chmod(0o600)
        return path

    def set_elements(self, host: str, name: str = "sshd-v4") -> set[str]:
        done = netns(self.ns[host], "nft", "-j", "list", "set", "inet", "journalban", name,
                     check=False)  # fmt: skip
        if done.returncode != 0:
            return set()
        out = set()
        for item in json.loads(done.stdout)["nftables"]:
            for elem in item.get("set", {}).get("elem", []):
                value = elem["elem"]["val"] if isinstance(elem, dict) and "elem" in elem else elem
                if isinstance(value, dict) and "prefix" in value:
                    value = f"{value['prefix']['addr']}/{value['prefix']['len']}"
                out.add(str(value))
        return out


async def _admin_call(action: Any, user: str, password: str, servers: list[str]) -> Any:
    import nats

    # A host's user may use only its own inbox prefix (see host_permissions).
    inbox = "_INBOX" if user == "admin" else f"_INBOX_{user}"
    nc = await nats.connect(servers=servers, user=user, password=password, connect_timeout=2,
                            inbox_prefix=inbox, max_reconnect_attempts=1)  # fmt: skip
    try:
        return await action(nc.jetstream(timeout=5))
    finally:
        await nc.close()


def run_in_netns(ns: str, fn: Any, *args: Any) -> Any:
    """Run the coroutine function ``fn(*args)`` in a thread that entered namespace ``ns``.

    setns applies to the calling thread only: the test's own thread stays where it is.
    """
    import threading

    result: dict[str, Any] = {}

    def body() -> None:
        fd = os.open(f"/run/netns/{ns}", os.O_RDONLY)
        try:
            libc = ctypes.CDLL(None, use_errno=True)
            if libc.setns(fd, CLONE_NEWNET) != 0:
                result["error"] = OSError(ctypes.get_errno(), f"setns {ns}")
                return
        finally:
            os.close(fd)
        try:
            result["value"] = asyncio.run(fn(*args))
        except BaseException as exc:
            result["error"] = exc

    thread = threading.Thread(target=body)
    thread.start()
    thread.join()
    if "error" in result:
        raise result["error"]
    return result.get("value")


@contextlib.contextmanager
def fleet_net(
    root: Path, hosts: Sequence[str], servers: int = 3, later: Sequence[str] = ()
) -> Iterator[FleetNet]:
    net = FleetNet(root, hosts, servers=servers, later=later)
    try:
        yield net.up()
    finally:
        net.down()


def wait_for(predicate: Any, timeout: float = 20.0, what: str = "condition") -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.1)
    raise AssertionError(f"{what} not reached in {timeout}s")
