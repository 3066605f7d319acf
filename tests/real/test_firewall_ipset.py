"""The iptables-ipset backend in a network namespace of the test's own.

Everything runs in a worker thread that left the machine's namespace
(support.threadns), and ``ipset``/``iptables`` are asked from there what the
kernel holds.
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Iterator

import pytest

from journalban.firewall.base import BanEntry, JailRules, PortRange
from journalban.firewall.ipset import IptablesIpsetBackend
from support.real import need_tool
from support.threadns import ThreadNamespace, thread_namespace

pytestmark = pytest.mark.real

NOW = 1_700_000_000.0
SSH = JailRules("sshd", ports=(PortRange(22, 22), PortRange(2222, 2222)))
WEB = JailRules("web", ports=(PortRange(80, 80),), protocols=("tcp", "udp"))


@pytest.fixture
def ns() -> Iterator[ThreadNamespace]:
    for tool in ("ipset", "iptables", "ip6tables", "ip"):
        need_tool(tool)
    with thread_namespace() as namespace:
        yield namespace


def entry(jail: str, net: str, expires: float | None) -> BanEntry:
    return BanEntry(jail, ipaddress.ip_network(net), expires)


def test_setup_creates_one_set_per_jail_and_family_and_rules(ns: ThreadNamespace) -> None:
    backend = IptablesIpsetBackend(verdict="reject")
    ns.call(lambda: backend.setup([SSH, WEB]))

    names = ns.run("ipset", "list", "-n").stdout.split()
    assert sorted(names) == ["jban-sshd-4", "jban-sshd-6", "jban-web-4", "jban-web-6"]
    assert "Type: hash:net" in ns.run("ipset", "list", "jban-sshd-6").stdout
    rules4 = ns.run("iptables", "-S").stdout
    assert "-A INPUT -j journalban" in rules4
    assert "--dports 22,2222 -m set --match-set jban-sshd-4 src" in rules4
    assert "-A journalban -p udp -m multiport --dports 80 -m set --match-set jban-web-4" in rules4
    assert "-j REJECT" in rules4
    assert "--match-set jban-sshd-6 src" in ns.run("ip6tables", "-S").stdout


def test_bans_become_set_members_with_kernel_timeouts(ns: ThreadNamespace) -> None:
    backend = IptablesIpsetBackend()
    ns.call(lambda: backend.setup([SSH]))
    ns.call(
        lambda: backend.apply(
            [
                entry("sshd", "192.0.2.7/32", NOW + 600),
                entry("sshd", "2001:db8:1::/64", NOW + 60),
                entry("sshd", "198.51.100.0/24", None),
                entry("sshd", "203.0.113.9/32", NOW - 1),
            ],
            [],
            NOW,
        )
    )
    members4 = ns.run("ipset", "list", "jban-sshd-4").stdout
    assert "192.0.2.7 timeout 59" in members4 or "192.0.2.7 timeout 60" in members4
    assert "198.51.100.0/24 timeout 0" in members4
    assert "203.0.113.9" not in members4
    assert "2001:db8:1::/64 timeout" in ns.run("ipset", "list", "jban-sshd-6").stdout

    listed = {(e.network, e.expires_at) for e in ns.call(lambda: backend.list(NOW))}
    expiries = {str(net): exp for net, exp in listed}
    assert set(expiries) == {"192.0.2.7/32", "2001:db8:1::/64", "198.51.100.0/24"}
    assert expiries["198.51.100.0/24"] is None
    assert NOW + 595 <= (expiries["192.0.2.7/32"] or 0) <= NOW + 600


def test_removing_and_reconciling_leave_exactly_the_wanted_bans(ns: ThreadNamespace) -> None:
    backend = IptablesIpsetBackend()
    ns.call(lambda: backend.setup([SSH]))
    old = entry("sshd", "192.0.2.1/32", NOW + 600)
    ns.call(lambda: backend.apply([old, entry("sshd", "192.0.2.2/32", NOW + 600)], [], NOW))
    ns.call(lambda: backend.apply([], [old, entry("sshd", "192.0.2.99/32", None)], NOW))
    assert [str(e.network) for e in ns.call(lambda: backend.list(NOW))] == ["192.0.2.2/32"]

    wanted = [entry("sshd", "2001:db8::5/128", NOW + 100)]
    report = ns.call(lambda: backend.reconcile(wanted, NOW))
    assert [str(e.network) for e in report.removed] == ["192.0.2.2/32"]
    assert [str(e.network) for e in ns.call(lambda: backend.list(NOW))] == ["2001:db8::5/128"]


def test_flushed_rules_are_noticed_and_setup_restores_them_keeping_bans(
    ns: ThreadNamespace,
) -> None:
    backend = IptablesIpsetBackend()
    ns.call(lambda: backend.setup([SSH]))
    ns.call(lambda: backend.apply([entry("sshd", "192.0.2.1/32", NOW + 600)], [], NOW))
    assert ns.call(backend.intact)

    ns.run("iptables", "-F")
    assert not ns.call(backend.intact)
    ns.call(lambda: backend.setup([SSH]))
    assert ns.call(backend.intact)
    assert len(ns.call(lambda: backend.list(NOW))) == 1


def test_reload_without_a_jail_drops_its_set(ns: ThreadNamespace) -> None:
    backend = IptablesIpsetBackend()
    ns.call(lambda: backend.setup([SSH, WEB]))
    ns.call(lambda: backend.setup([SSH]))
    assert sorted(ns.run("ipset", "list", "-n").stdout.split()) == ["jban-sshd-4", "jban-sshd-6"]
    assert "jban-web" not in ns.run("iptables", "-S").stdout


def test_teardown_leaves_nothing_behind(ns: ThreadNamespace) -> None:
    backend = IptablesIpsetBackend()
    ns.call(lambda: backend.setup([SSH, WEB]))
    ns.call(backend.teardown)
    assert ns.run("ipset", "list", "-n").stdout.strip() == ""
    assert "journalban" not in ns.run("iptables", "-S").stdout
    assert "journalban" not in ns.run("ip6tables", "-S").stdout


def _connect(source: str, port: int) -> str:
    with socket.socket() as client:
        client.settimeout(2)
        client.bind((source, 0))
        try:
            client.connect(("127.0.0.1", port))
        except ConnectionRefusedError:
            return "refused"
        except TimeoutError:
            return "timeout"
        return "connected"


def _traffic(backend: IptablesIpsetBackend) -> dict[str, str]:
    jail = JailRules("sshd", ports=(PortRange(2222, 2222),))
    backend.setup([jail])
    backend.apply([entry("sshd", "127.0.0.2/32", NOW + 600)], [], NOW)
    with socket.socket() as jailed, socket.socket() as other:
        for listener, port in ((jailed, 2222), (other, 8080)):
            listener.bind(("127.0.0.1", port))
            listener.listen()
        result = {
            "banned": _connect("127.0.0.2", 2222),
            "unbanned": _connect("127.0.0.3", 2222),
            "other port": _connect("127.0.0.2", 8080),
        }
    backend.apply([], [entry("sshd", "127.0.0.2/32", None)], NOW)
    with socket.socket() as jailed:
        jailed.bind(("127.0.0.1", 2222))
        jailed.listen()
        result["after unban"] = _connect("127.0.0.2", 2222)
    return result


def test_a_banned_source_cannot_reach_the_jail_port_only(ns: ThreadNamespace) -> None:
    backend = IptablesIpsetBackend(verdict="reject")
    result = ns.call(lambda: _traffic(backend))
    assert result == {
        "banned": "refused",
        "unbanned": "connected",
        "other port": "connected",
        "after unban": "connected",
    }
    packets = ns.call(backend.counters)["sshd"].packets
    assert packets >= 1
