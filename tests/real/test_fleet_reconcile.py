"""The fleet when the stream loses messages, and when the ``fleet:`` section changes.

Real parts as in test_fleet.py: a 3-node nats-server JetStream cluster, agents
in their own network namespaces with real nftables and journal files.
"""

from __future__ import annotations

import json
import signal
import sqlite3
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from nats.js.api import StorageType, StreamConfig
from nats.js.errors import NotFoundError

from journalban.addresses import parse_network
from journalban.fleet.messages import encode_ban, network_key
from support.bus import PrivateBus, run_client
from support.fleet import ADMIN_PASSWORD, STREAM, wait_for
from support.fleet_hosts import HOSTS, Fleet, running_fleet
from support.real import REPO

pytestmark = [pytest.mark.real, pytest.mark.slow]
JOURNALBAN = [str(REPO / ".venv" / "bin" / "python"), "-m", "journalban"]


@pytest.fixture
def fleet(tmp_path: Path) -> Iterator[Fleet]:
    with running_fleet(tmp_path) as f:
        yield f


def _seq_of(fleet: Fleet, origin: str, address: str) -> int:
    subject = f"journalban.prod.bans.{origin}.sshd.{network_key(parse_network(address))}"
    msg = fleet.net.admin(lambda js: js.get_msg(STREAM, subject=subject))
    return int(msg.seq)


def test_bans_whose_messages_left_the_stream_are_lifted_on_every_host(fleet: Fleet) -> None:
    for name in HOSTS:
        fleet.add(name)
        fleet.start(name)
    a, c = fleet.hosts["a"], fleet.hosts["c"]
    a.fail("203.0.113.160")
    wait_for(lambda: "203.0.113.160" in fleet.kernel("c"), what="the first ban on c")
    assert c.agent is not None
    c.agent.stop()
    a.fail("203.0.113.161")  # c misses it, and it leaves the stream before c is back
    a.fail("203.0.113.162")
    wait_for(lambda: {"203.0.113.161", "203.0.113.162"} <= fleet.kernel("b"),
             what="the later bans on b")  # fmt: skip
    # The stream loses everything before the last ban (as max_age or a limit
    # would trim it): the administrator purges up to that message.
    keep = _seq_of(fleet, "a", "203.0.113.162")
    assert fleet.net.admin(lambda js: js.purge_stream(STREAM, seq=keep))
    # b, up to date, lifts the two bans no message carries any longer.
    wait_for(lambda: not {"203.0.113.160", "203.0.113.161"} & fleet.kernel("b"), timeout=30,
             what="the bans that left the stream lifted on b")  # fmt: skip
    assert "203.0.113.162" in fleet.kernel("b")
    b = fleet.hosts["b"].agent
    assert b is not None
    b.wait_for_log("fleet prod: lifted 2 fleet ban(s) whose message left the stream")
    # a keeps its own bans: they are its decisions, not the stream's.
    assert {"203.0.113.160", "203.0.113.161", "203.0.113.162"} <= fleet.kernel("a")
    # c comes back behind the trimmed stream: it reads it from its oldest message
    # and ends with what a host joining now would hold.
    agent = fleet.start("c")
    agent.wait_for_log("the stream was trimmed past this host's position")
    wait_for(lambda: "203.0.113.162" in fleet.kernel("c"), what="the live ban on c")
    wait_for(lambda: "203.0.113.160" not in fleet.kernel("c"), timeout=30,
             what="the ban that left the stream lifted on c")  # fmt: skip
    assert "203.0.113.161" not in fleet.kernel("c")
    assert c.history("203.0.113.162/32") == 1
    assert c.history("203.0.113.161/32") == 0
    # The lifts are committed: a restart of c holds the same bans.
    agent.stop()
    fleet.start("c")
    time.sleep(2)
    assert fleet.kernel("c") == {"203.0.113.162"}


def test_a_stream_made_anew_keeps_only_the_bans_it_carries(fleet: Fleet) -> None:
    for name in ("a", "b"):
        fleet.add(name)
        fleet.start(name)
    fleet.hosts["a"].fail("203.0.113.170")
    wait_for(lambda: "203.0.113.170" in fleet.kernel("b"), what="the first ban on b")
    fleet.net.admin(lambda js: js.delete_stream(STREAM))
    fleet.net.create_stream()
    b = fleet.hosts["b"].agent
    assert b is not None
    b.wait_for_log("reading it from the start", timeout=30)
    fleet.hosts["a"].fail("203.0.113.171")
    wait_for(lambda: "203.0.113.171" in fleet.kernel("b"), what="a ban in the new stream on b")
    wait_for(lambda: "203.0.113.170" not in fleet.kernel("b"), timeout=30,
             what="the ban the new stream lacks lifted on b")  # fmt: skip
    assert "203.0.113.170" in fleet.kernel("a")


def test_a_reload_joins_leaves_and_keeps_the_fleet_as_configured(fleet: Fleet) -> None:
    with PrivateBus() as bus:
        fleet.add("a")
        fleet.start("a")
        b = fleet.add("b", bus=bus.address, join=False)
        agent = fleet.start("b")
        assert bus.wait_for_name("org.jailban")
        fleet.hosts["a"].fail("203.0.113.180")
        wait_for(lambda: "203.0.113.180" in fleet.kernel("a"), what="the ban on a")
        time.sleep(1)
        assert "203.0.113.180" not in fleet.kernel("b")

        def reload() -> None:
            done = run_client(bus, [*JOURNALBAN, "reload"])
            assert done.returncode == 0, done.stderr

        def fleet_status() -> dict[str, object]:
            out = run_client(bus, [*JOURNALBAN, "fleet", "--json"]).stdout
            status: dict[str, object] = json.loads(out)
            return status

        # Joining by a reload: b catches up on a's ban and publishes its own.
        fleet.configure("b", fleet.net.fleet_config("b"))
        reload()
        agent.wait_for_log("fleet prod: connected", timeout=30)
        wait_for(lambda: "203.0.113.180" in fleet.kernel("b"), what="a's ban on b after joining")
        b.fail("203.0.113.181")
        wait_for(lambda: "203.0.113.181" in fleet.kernel("a"), what="b's ban on a")
        assert fleet_status()["Connected"] is True
        # A broken fleet: section is refused by the reload, and the fleet goes on.
        fleet.configure("b", fleet.net.fleet_config("b", name="not a name"))
        refused = run_client(bus, [*JOURNALBAN, "reload"])
        assert refused.returncode != 0
        assert "fleet.name" in refused.stderr + refused.stdout
        fleet.hosts["a"].fail("203.0.113.182")
        wait_for(lambda: "203.0.113.182" in fleet.kernel("b"), what="a ban after a bad reload")
        # A changed section reconnects; nothing is applied twice.
        fleet.configure("b", fleet.net.fleet_config("b", ban_rate=100))
        reload()
        agent.wait_for_log("configuration changed, joining again")
        wait_for(lambda: "connected" in agent.log.rsplit("joining again", 1)[-1],
                 what="the new connection")  # fmt: skip
        fleet.hosts["a"].fail("203.0.113.183")
        wait_for(lambda: "203.0.113.183" in fleet.kernel("b"), what="a ban after the change")
        assert b.history("203.0.113.180/32") == 1
        assert b.history("203.0.113.182/32") == 1
        # Leaving by a reload: no more bans from a; those held stay until they expire.
        fleet.configure("b", None)
        reload()
        agent.wait_for_log("fleet: left")
        left = run_client(bus, [*JOURNALBAN, "fleet"])
        assert "no fleet is configured" in left.stderr
        fleet.hosts["a"].fail("203.0.113.184")
        wait_for(lambda: "203.0.113.184" in fleet.kernel("a"), what="the ban on a")
        time.sleep(2)
        assert "203.0.113.184" not in fleet.kernel("b")
        assert {"203.0.113.180", "203.0.113.183"} <= fleet.kernel("b")
        assert agent.proc.poll() is None
        agent.stop()


def test_a_host_given_the_admin_user_purges_expired_bans_by_itself(fleet: Fleet) -> None:
    admin_password = fleet.root / "admin.password"
    admin_password.write_text(ADMIN_PASSWORD + "\n")
    purge = {"user": "admin", "password_file": str(admin_password), "every": "2s"}
    fleet.add("a", fleet={"purge": purge})
    agent = fleet.start("a")
    now = time.time()
    subjects = {}
    for name, exp in (("gone", now - 60), ("live", now + 3600)):
        address = "203.0.113.190" if name == "gone" else "203.0.113.191"
        subjects[name] = f"journalban.prod.bans.b.sshd.{network_key(parse_network(address))}"
        body = encode_ban("ban", now - 120, exp, "test")

        async def publish(js: object, s: str = subjects[name], b: bytes = body) -> object:
            return await js.publish(s, b, timeout=2)  # type: ignore[attr-defined]

        fleet.net.admin(publish, user="b", password="pw-b")  # noqa: S106 - support.fleet's

    def gone() -> bool:
        try:
            fleet.net.admin(lambda js: js.get_msg(STREAM, subject=subjects["gone"]))
        except NotFoundError:
            return True
        return False

    wait_for(gone, timeout=30, what="the expired ban deleted from the stream")
    agent.wait_for_log("fleet prod: deleted 1 expired ban(s) from the stream")
    assert fleet.net.admin(lambda js: js.get_msg(STREAM, subject=subjects["live"])).data
    assert "203.0.113.191" in fleet.kernel("a")
    assert "203.0.113.190" not in fleet.kernel("a")


def test_bans_aged_out_of_the_stream_by_max_age_are_lifted(fleet: Fleet) -> None:
    for name in ("a", "b"):
        fleet.add(name)
        fleet.start(name)
    fleet.hosts["a"].fail("203.0.113.200")
    wait_for(lambda: "203.0.113.200" in fleet.kernel("b"), what="the ban on b")
    # The administrator shortens the stream's max_age: the ban's message ages out.
    config = StreamConfig(
        name=STREAM, subjects=["journalban.prod.>"], max_msgs_per_subject=1, max_age=3,
        storage=StorageType.FILE, num_replicas=3, duplicate_window=1,
    )  # fmt: skip
    fleet.net.admin(lambda js: js.update_stream(config))
    wait_for(lambda: "203.0.113.200" not in fleet.kernel("b"), timeout=30,
             what="the aged-out ban lifted on b")  # fmt: skip
    assert "203.0.113.200" in fleet.kernel("a")
    b = fleet.hosts["b"].agent
    assert b is not None
    b.wait_for_log("fleet ban(s) whose message left the stream")
    assert b.proc.poll() is None


def test_a_reload_dropping_remote_all_ports_lifts_the_all_ports_bans(fleet: Fleet) -> None:
    fleet.add("a")
    fleet.start("a")
    b = fleet.add("b", fleet={"remote_all_ports": True})
    agent = fleet.start("b")
    # A ban of a's in a jail b lacks: b holds it in its all-ports jail "fleet".
    subject = f"journalban.prod.bans.a.dovecot.{network_key(parse_network('203.0.113.220'))}"
    body = encode_ban("ban", time.time(), time.time() + 3600, "test")

    async def publish(js: Any) -> Any:
        return await js.publish(subject, body, timeout=2)

    fleet.net.admin(publish, user="a", password="pw-a")  # noqa: S106 - support.fleet's
    wait_for(lambda: "203.0.113.220" in fleet.net.set_elements("b", "fleet-v4"),
             what="the all-ports ban on b")  # fmt: skip
    fleet.configure("b", fleet.net.fleet_config("b"))  # remote_all_ports off
    agent.proc.send_signal(signal.SIGHUP)
    agent.wait_for_log("configuration changed, joining again")
    wait_for(lambda: not _bans(b.state, "fleet"), what="the all-ports ban lifted from the state")
    assert fleet.net.set_elements("b", "fleet-v4") == set()
    assert "Unban 203.0.113.220 in jail fleet" in agent.log
    assert agent.proc.poll() is None


def _bans(state: Path, jail: str) -> list[str]:
    db = sqlite3.connect(f"file:{state / 'state.sqlite'}?mode=ro", uri=True, timeout=5)
    try:
        rows = db.execute("SELECT network FROM bans WHERE jail = ?", (jail,)).fetchall()
    finally:
        db.close()
    return [str(r[0]) for r in rows]
