"""The fleet with real parts: a 3-node nats-server JetStream cluster, three agents
each in its own network namespace with real nftables and real journal files.
"""

from __future__ import annotations

import json
import random
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from nats.js.errors import NotFoundError

from journalban.addresses import parse_network
from journalban.fleet.messages import encode_ban, network_key
from support.bus import PrivateBus, run_client
from support.fleet import ADMIN_PASSWORD, STREAM, netns, wait_for
from support.fleet_hosts import HOSTS, Fleet, running_fleet
from support.real import REPO

pytestmark = [pytest.mark.real, pytest.mark.slow]
JOURNALBAN = [str(REPO / ".venv" / "bin" / "python"), "-m", "journalban"]


@pytest.fixture
def fleet(tmp_path: Path) -> Iterator[Fleet]:
    with running_fleet(tmp_path) as f:
        yield f


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


def _all_start(fleet: Fleet, **per_host: dict[str, object]) -> None:
    for name in HOSTS:
        fleet.add(name, fleet=per_host.get(name))
        fleet.start(name)


def test_kill_9_while_bans_flow_leaves_exactly_the_expected_bans(fleet: Fleet) -> None:
    _all_start(fleet)
    seed = random.randrange(1 << 30)  # printed below when the test fails, to replay it
    rng = random.Random(seed)
    expected: set[str] = set()
    for round_ in range(6):
        # Failures on a and b, while one of the three agents is killed at a random moment.
        chunk = [f"203.0.113.{round_ * 10 + i + 1}" for i in range(5)]
        chunk += [f"198.51.100.{round_ * 10 + i + 1}" for i in range(5)]
        victim = fleet.hosts[rng.choice(HOSTS)]
        for address in chunk:
            origin = fleet.hosts["a" if address.startswith("203.") else "b"]
            origin.fail(address)
        time.sleep(rng.uniform(0.0, 0.4))
        assert victim.agent is not None
        victim.agent.kill9()
        expected |= set(chunk)
        time.sleep(rng.uniform(0.0, 0.3))
        fleet.start(victim.name)
    for name in HOSTS:
        wait_for(
            lambda n=name: fleet.kernel(n) >= expected, timeout=60, what=f"every ban on {name}"
        )
    time.sleep(2)  # anything applied twice would show now
    for name in HOSTS:
        assert fleet.kernel(name) == expected, (name, seed)
        host = fleet.hosts[name]
        counts = {address: host.history(f"{address}/32") for address in expected}
        assert set(counts.values()) == {1}, (name, seed, counts)


def test_bans_wait_out_a_cluster_outage_and_survive_one_server_down(fleet: Fleet) -> None:
    _all_start(fleet)
    fleet.hosts["a"].fail("203.0.113.69")
    for name in ("b", "c"):
        wait_for(lambda n=name: "203.0.113.69" in fleet.kernel(n), what=f"a first ban on {name}")
    for i in range(3):
        fleet.net.stop_server(i)
    fleet.hosts["a"].fail("203.0.113.70")
    wait_for(lambda: "203.0.113.70" in fleet.kernel("a"), what="the local ban on a")
    time.sleep(1)
    assert "203.0.113.70" not in fleet.kernel("b")
    for i in range(3):
        fleet.net.start_server(i)
    fleet.net.wait_cluster()
    for name in ("b", "c"):
        wait_for(lambda n=name: "203.0.113.70" in fleet.kernel(n), timeout=60,
                 what=f"the ban on {name} after the outage")  # fmt: skip
    # One server of three stopped: bans still flow both ways.
    fleet.net.stop_server(0)
    fleet.hosts["a"].fail("203.0.113.71")
    fleet.hosts["c"].fail("203.0.113.72")
    for name in HOSTS:
        wait_for(lambda n=name: {"203.0.113.71", "203.0.113.72"} <= fleet.kernel(n), timeout=60,
                 what=f"bans on {name} with a server down")  # fmt: skip
    for name in HOSTS:
        agent = fleet.hosts[name].agent
        assert agent is not None
        assert agent.proc.poll() is None
        # The stream came back whole: nothing held before the outage was lifted.
        assert "203.0.113.69" in fleet.kernel(name)
        assert "left the stream" not in agent.log
        assert "reading it from the start" not in agent.log


async def _publish(js: Any, subject: str, body: bytes) -> Any:
    return await js.publish(subject, body, timeout=2)


def test_trust_impersonation_refused_forged_and_bad_messages_not_applied(fleet: Fleet) -> None:
    _all_start(fleet)
    net = fleet.net
    body = encode_ban("ban", time.time(), time.time() + 3600, "forged")
    password = "pw-a"  # noqa: S105 - the test servers' (support.fleet)

    def as_a(subject: str, data: bytes) -> Any:
        return net.admin(lambda js: _publish(js, subject, data), user="a", password=password)

    # a publishing as b: the server refuses it, nothing is stored.
    forged_b = f"journalban.prod.bans.b.sshd.{network_key(parse_network('203.0.113.80'))}"
    with pytest.raises(Exception):  # noqa: B017, PT011 - a permissions violation: no ack
        as_a(forged_b, body)
    with pytest.raises(NotFoundError):
        net.admin(lambda js: js.get_msg(STREAM, subject=forged_b))
    # Nor may a purge or delete the stream.
    with pytest.raises(Exception):  # noqa: B017, PT011
        net.admin(lambda js: js.purge_stream(STREAM), user="a", password=password)
    # a's own subjects, but addresses b must never ban: loopback, b's own, b's
    # ignoreip, c's announced member address; and garbage.
    refused = ["127.0.0.1", net.host_address("b"), "198.51.100.250", net.host_address("c")]
    for address in refused:
        as_a(f"journalban.prod.bans.a.sshd.{network_key(parse_network(address))}", body)
    as_a("journalban.prod.bans.a.sshd.203-0-113-81_32", b"{not json")
    as_a(
        "journalban.prod.bans.a.sshd.203-0-113-82_32",
        b'{"v":1,"op":"ban","at":1e9' + b" " * 2000 + b"}",
    )
    as_a(f"journalban.prod.bans.a.sshd.{network_key(parse_network('203.0.113.83'))}", body)
    wait_for(lambda: "203.0.113.83" in fleet.kernel("b"), what="the valid ban after the bad ones")
    kernel = fleet.kernel("b")
    assert not kernel & {*refused, "203.0.113.80", "203.0.113.81", "203.0.113.82"}
    b = fleet.hosts["b"].agent
    assert b is not None
    assert b.proc.poll() is None


def test_quorum_2_needs_two_hosts(fleet: Fleet) -> None:
    # c also waits for two: a host that applied a's ban would not see the
    # failures it blocks, and would never report the address itself.
    _all_start(fleet, b={"quorum": 2}, c={"quorum": 2})
    fleet.hosts["a"].fail("203.0.113.90")
    fleet.hosts["a"].fail("203.0.113.91")
    wait_for(lambda: "203.0.113.91" in fleet.kernel("a"), what="the bans on a")
    time.sleep(2)
    assert not {"203.0.113.90", "203.0.113.91"} & (fleet.kernel("b") | fleet.kernel("c"))
    fleet.hosts["c"].fail("203.0.113.90")
    wait_for(lambda: "203.0.113.90" in fleet.kernel("b"), what="the ban on b after two hosts")
    assert "203.0.113.91" not in fleet.kernel("b")


def test_a_joining_host_catches_up_on_the_live_bans(fleet: Fleet) -> None:
    _all_start(fleet)
    addresses = [f"203.0.113.{i}" for i in range(100, 130)]
    for address in addresses:
        fleet.hosts["a"].fail(address)
    wait_for(lambda: set(addresses) <= fleet.kernel("b"), what="the bans on b")
    fleet.add("d")
    fleet.start("d")
    wait_for(lambda: set(addresses) <= fleet.kernel("d"), what="the live bans on the new host")


def test_unban_fleet_lifts_fleet_bans_everywhere_and_fleet_shows_the_counts(
    fleet: Fleet,
) -> None:
    with PrivateBus() as bus:
        fleet.add("a", bus=bus.address)
        fleet.start("a")
        assert bus.wait_for_name("org.jailban")
        for name in ("b", "c"):
            fleet.add(name)
            fleet.start(name)
        fleet.hosts["a"].fail("203.0.113.60")
        fleet.hosts["c"].fail("203.0.113.61")
        for name in HOSTS:
            wait_for(lambda n=name: {"203.0.113.60", "203.0.113.61"} <= fleet.kernel(n),
                     what=f"the bans on {name}")  # fmt: skip
        # A remote ban shows its origin (the CLI and ListBans over D-Bus).
        (shown,) = json.loads(
            run_client(bus, [*JOURNALBAN, "banned", "203.0.113.61", "--json"]).stdout
        )
        assert shown["reason"].startswith("fleet c: ")
        refused = run_client(bus, [*JOURNALBAN, "unban", "203.0.113.60", "--fleet"], user="nobody")
        assert refused.returncode == 1
        assert "203.0.113.60" in fleet.kernel("b")
        done = run_client(bus, [*JOURNALBAN, "unban", "203.0.113.60", "--fleet"])
        assert done.returncode == 0, done.stderr
        assert "lifted 1 ban(s) of 203.0.113.60 here" in done.stdout
        for name in HOSTS:
            wait_for(lambda n=name: "203.0.113.60" not in fleet.kernel(n),
                     what=f"the fleet unban on {name}")  # fmt: skip
        # c banned .61 itself: a fleet unban lifts it on a and b, never c's own ban.
        run_client(bus, [*JOURNALBAN, "unban", "203.0.113.61", "--fleet"])
        wait_for(lambda: "203.0.113.61" not in fleet.kernel("b"), what="the unban on b")
        time.sleep(1)
        assert "203.0.113.61" in fleet.kernel("c")
        assert "203.0.113.61" not in fleet.kernel("a")
        status = json.loads(run_client(bus, [*JOURNALBAN, "fleet", "--json"]).stdout)
        assert status["Connected"] is True
        assert status["Host"] == "a"
        assert status["Published"] >= 3  # a ban, two unbans
        assert status["Applied"] >= 1
        assert status["Outbox"] == 0
        text = run_client(bus, [*JOURNALBAN, "fleet"]).stdout
        assert text.startswith("Fleet prod, this host a: connected to ")
        a = fleet.hosts["a"].agent
        assert a is not None
        a.stop()


def test_the_administrator_purges_expired_bans_and_hosts_cannot(fleet: Fleet) -> None:
    host = fleet.add("a")
    net = fleet.net
    now = time.time()
    password = "pw-a"  # noqa: S105 - the test servers' (support.fleet)
    subjects = {}
    for name, exp in (("gone", now - 60), ("live", now + 3600)):
        address = "203.0.113.150" if name == "gone" else "203.0.113.151"
        subjects[name] = f"journalban.prod.bans.a.sshd.{network_key(parse_network(address))}"
        body = encode_ban("ban", now - 120, exp, "test")
        net.admin(
            lambda js, s=subjects[name], b=body: _publish(js, s, b), user="a", password=password
        )
    with pytest.raises(Exception):  # noqa: B017, PT011 - a host may not delete a message
        net.admin(lambda js: js.delete_msg(STREAM, 1), user="a", password=password)
    admin_password = fleet.root / "admin.password"
    admin_password.write_text(ADMIN_PASSWORD + "\n")
    done = netns(net.ns["a"], *JOURNALBAN, "fleet-purge", "--config", str(host.config),
                 "--user", "admin", "--password-file", str(admin_password), check=False)  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("deleted 1 expired ban(s)")
    with pytest.raises(NotFoundError):
        net.admin(lambda js: js.get_msg(STREAM, subject=subjects["gone"]))
    assert net.admin(lambda js: js.get_msg(STREAM, subject=subjects["live"])).data
