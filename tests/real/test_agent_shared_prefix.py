"""The host's own public IPv6 /64 shared with neighbours (issue 13, finding 8), for real:
the agent in a network namespace whose interface holds 2001:db8:1::1/64, nftables
as the backend. Neighbours rotating inside the /64 are banned by the widest prefix
that holds none of the host's addresses; the host's own address never is."""

from __future__ import annotations

import ipaddress
import time
from pathlib import Path

from support.agent import AgentProcess, write_config
from support.journal import JournalWriter, sshd_fields
from support.nftset import set_elements
from support.real import need_root, need_tool

OWN = "2001:db8:1::1"
# Set up the namespace's interface, then run the agent (its argv follows "sh").
SETUP = (
    "ip link set lo up && ip link add d0 type veth peer name d1 && "
    f'ip -6 addr add {OWN}/64 dev d0 nodad && ip link set d0 up && ip link set d1 up && exec "$@"'
)


def test_neighbours_in_the_hosts_own_64_are_banned_and_the_host_never(tmp_path: Path) -> None:
    need_root()
    for tool in ("nft", "unshare", "nsenter", "ip"):
        need_tool(tool)
    jdir = tmp_path / "journal"
    jdir.mkdir()
    cfg = write_config(
        tmp_path / "c.yaml", tmp_path / "state", journal_dir=jdir, jails={"sshd": {"maxretry": 2}}
    )
    own = [f"Failed password for root from {OWN} port 1 ssh2"] * 4
    # A neighbour rotating through addresses of the upper half of the /64.
    neighbour = [
        f"Failed password for root from 2001:db8:1::{word}:0:0:{n} port 1 ssh2"
        for n, word in enumerate(("8000", "a1b2", "ffff", "c3d4"), start=5)
    ]
    with JournalWriter(jdir) as writer:
        writer.write([sshd_fields("Server listening on :: port 22.")])
        writer.wait_visible(1)
        agent = AgentProcess(cfg, dry_run=False, wrapper=["unshare", "-n", "sh", "-c", SETUP, "sh"])
        try:
            agent.wait_for_log("running:")
            writer.write([sshd_fields(line) for line in own + neighbour])
            agent.wait_for_log("Ban 2001:db8:1:0:8000::/65 in jail sshd")
            deadline = time.monotonic() + 15
            while "2001:db8:1:0:8000::/65" not in set_elements(
                agent.proc.pid, "sshd-net6", missing_ok=True
            ):
                assert time.monotonic() < deadline, agent.log
                time.sleep(0.1)
            banned = set_elements(agent.proc.pid, "sshd-net6", missing_ok=True) | set_elements(
                agent.proc.pid, "sshd-v6", missing_ok=True
            )
        finally:
            agent.stop()
    host = ipaddress.ip_network(OWN)
    assert all(not ipaddress.ip_network(b).overlaps(host) for b in banned), banned
    assert f"Ban {OWN}" not in agent.log
    assert "2001:db8:1::/64" not in agent.log
