"""The fleet with real parts: a 3-node nats-server JetStream cluster, three agents
each in its own network namespace with real nftables and real journal files.
"""

from __future__ import annotations

import contextlib
import sqlite3
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from support.agent import AgentProcess, write_config
from support.fleet import FleetNet, fleet_net, wait_for
from support.journal import JournalWriter, sshd_fields

pytestmark = [pytest.mark.real, pytest.mark.slow]

HOSTS = ("a", "b", "c")


@dataclass
class Host:
    name: str
    config: Path
    state: Path
    writer: JournalWriter
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

    def add(self, name: str, **fleet: object) -> Host:
        if name not in self.net.ns:
            self.net.add_host(name)
        d = self.root / name
        (d / "journal").mkdir(parents=True, exist_ok=True)
        writer = self._stack.enter_context(JournalWriter(d / "journal"))
        writer.write([sshd_fields("Server listening on :: port 22.")])
        writer.wait_visible(1)
        cfg = write_config(
            d / "journalban.yaml", d / "state", journal_dir=d / "journal",
            jails={"sshd": {"maxretry": 2, "bantime": "1h", "ignoreip": ["198.51.100.250"]}},
            recidive={"enabled": False},
            fleet=self.net.fleet_config(name, **fleet),
        )  # fmt: skip
        host = Host(name, cfg, d / "state", writer)
        self.hosts[name] = host
        return host

    def start(self, name: str) -> AgentProcess:
        host = self.hosts[name]
        host.agent = AgentProcess(
            host.config, dry_run=False, wrapper=["ip", "netns", "exec", self.net.ns[name]]
        )
        host.agent.wait_for_log("running:")
        host.agent.wait_for_log("fleet prod: connected", timeout=30)
        return host.agent

    def close(self) -> None:
        for host in self.hosts.values():
            if host.agent is not None and host.agent.proc.poll() is None:
                host.agent.stop()
        self._stack.close()

    def kernel(self, name: str) -> set[str]:
        return self.net.set_elements(name)


@pytest.fixture
def fleet(tmp_path: Path) -> Iterator[Fleet]:
    with fleet_net(tmp_path / "net", HOSTS) as net:
        net.create_stream()
        f = Fleet(net, tmp_path)
        try:
            yield f
        finally:
            f.close()


def test_a_ban_on_one_host_is_in_the_other_hosts_kernel_sets(fleet: Fleet) -> None:
    for name in HOSTS:
        fleet.add(name)
        fleet.start(name)
    fleet.hosts["a"].fail("203.0.113.7")
    for name in HOSTS:
        wait_for(lambda n=name: "203.0.113.7" in fleet.kernel(n), what=f"the ban on {name}")
    b = fleet.hosts["b"].agent
    assert b is not None
    b.wait_for_log("Ban 203.0.113.7 in jail sshd for")
    assert "from fleet host a" in b.log
    # Applied once on each other host, and never sent back to a.
    assert fleet.hosts["b"].history("203.0.113.7/32") == 1
    assert fleet.hosts["c"].history("203.0.113.7/32") == 1
    assert fleet.hosts["a"].history("203.0.113.7/32") == 1
