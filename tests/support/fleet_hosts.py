"""Fleet hosts for the real tests: an agent per network namespace, each with its
own journal files and configuration, on a ``FleetNet`` (support.fleet).
"""

from __future__ import annotations

import contextlib
import sqlite3
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from support.agent import AgentProcess, write_config
from support.fleet import PER_ADDRESS_ONLY, FleetNet, fleet_net
from support.journal import JournalWriter, sshd_fields

HOSTS = ("a", "b", "c")
# d has a user on the servers from the start and joins later.
NET_HOSTS = (*HOSTS, "d")


@dataclass
class Host:
    name: str
    config: Path
    state: Path
    writer: JournalWriter
    bus: str | None = None
    agent: AgentProcess | None = None

    def history(self, network: str) -> int:
        """How many times a ban of ``network`` was committed here (one row per apply)."""
        db = sqlite3.connect(f"file:{self.state / 'state.sqlite'}?mode=ro", uri=True, timeout=5)
        try:
            return int(
                db.execute("SELECT count(*) FROM history WHERE network = ?", (network,)).fetchone()[
                    0
                ]
            )
        finally:
            db.close()

    def fail(self, address: str, times: int = 2) -> None:
        line = f"Failed password for root from {address} port 22 ssh2"
        self.writer.write([sshd_fields(line)] * times)


class Fleet:
    def __init__(self, net: FleetNet, root: Path) -> None:
        self.net = net
        self.root = root
        self.hosts: dict[str, Host] = {}
        self._stack = contextlib.ExitStack()

    def add(
        self,
        name: str,
        bus: str | None = None,
        fleet: dict[str, object] | None = None,
        *,
        join: bool = True,
    ) -> Host:
        """A host (its namespace, journal, configuration); ``join=False``: no fleet: section."""
        if name not in self.net.ns:
            self.net.add_host(name)
        d = self.root / name
        (d / "journal").mkdir(parents=True, exist_ok=True)
        writer = self._stack.enter_context(JournalWriter(d / "journal"))
        writer.write([sshd_fields("Server listening on :: port 22.")])
        writer.wait_visible(1)
        host = Host(name, d / "journalban.yaml", d / "state", writer, bus=bus)
        self.hosts[name] = host
        self.configure(name, self.net.fleet_config(name, **(fleet or {})) if join else None)
        return host

    def configure(self, name: str, fleet: dict[str, object] | None) -> None:
        """(Re)write a host's configuration with this ``fleet:`` section (None: none)."""
        host = self.hosts[name]
        extra: dict[str, object] = {} if fleet is None else {"fleet": fleet}
        write_config(
            host.config, host.state, journal_dir=host.config.parent / "journal",
            jails={"sshd": {"maxretry": 2, "bantime": "1h", "ignoreip": ["198.51.100.250"],
                            **PER_ADDRESS_ONLY}},
            recidive={"enabled": False}, bus=host.bus is not None, **extra,
        )  # fmt: skip

    def start(self, name: str) -> AgentProcess:
        host = self.hosts[name]
        host.agent = AgentProcess(
            host.config,
            dry_run=False,
            wrapper=["ip", "netns", "exec", self.net.ns[name]],
            bus_address=host.bus,
        )
        host.agent.wait_for_log("running:")
        if "fleet:" in host.config.read_text():
            host.agent.wait_for_log("fleet prod: connected", timeout=30)
        return host.agent

    def close(self) -> None:
        for host in self.hosts.values():
            if host.agent is not None and host.agent.proc.poll() is None:
                host.agent.stop()
        self._stack.close()

    def kernel(self, name: str) -> set[str]:
        return self.net.set_elements(name)

    def digest(self, lines: int = 80) -> str:
        """The last lines of every agent's and server's log: what a failed wait needs."""
        out = []
        logs = sorted(self.root.glob("*/journalban.*.log")) + sorted(
            self.net.root.glob("nats*.log")
        )
        for path in logs:
            tail = path.read_text(errors="replace").splitlines()[-lines:]
            out.append(f"--- {path.relative_to(self.root)}\n" + "\n".join(tail))
        return "\n".join(out)


@contextlib.contextmanager
def running_fleet(
    root: Path, hosts: tuple[str, ...] = NET_HOSTS, duplicate_window: float = 120
) -> Iterator[Fleet]:
    """The servers up with the stream made; hosts are added and started by the test."""
    with fleet_net(root / "net", hosts) as net:
        net.create_stream(duplicate_window=duplicate_window)
        f = Fleet(net, root)
        try:
            yield f
        finally:
            # Shown by pytest only when the test failed (its captured teardown output).
            print(f.digest())
            f.close()
