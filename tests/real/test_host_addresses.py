"""The host's own addresses from one rtnetlink dump, against pyroute2 and iproute2.

In a network namespace of the test's own: a veth pair whose one end holds
hundreds of IPv4 and IPv6 addresses (a dump of several datagrams) and a
point-to-point address with a peer (the local address is the host's, not the
peer's).
"""

from __future__ import annotations

import json
import tempfile
from collections.abc import Iterator

import pytest

from journalban.decisions.hostaddrs import interface_addresses
from journalban.decisions.ignore import host_interfaces
from support.real import need_tool
from support.threadns import ThreadNamespace, thread_namespace

pytestmark = pytest.mark.real


@pytest.fixture
def ns() -> Iterator[ThreadNamespace]:
    need_tool("ip")
    with thread_namespace() as namespace:
        yield namespace


def test_the_dump_finds_what_pyroute2_and_ip_find(ns: ThreadNamespace) -> None:
    ns.run("ip", "link", "set", "lo", "up")
    ns.run("ip", "link", "add", "d0", "type", "veth", "peer", "name", "d1")
    ns.run("ip", "link", "set", "d0", "up")
    batch = [f"address add 10.9.{i // 250}.{i % 250 + 1}/24 dev d0" for i in range(300)]
    batch += [f"address add 2001:db8:{i:x}::5/64 dev d0 nodad" for i in range(300)]
    batch += ["address add 192.0.2.1 peer 192.0.2.99/32 dev d0"]
    with tempfile.NamedTemporaryFile("w", suffix=".batch") as f:
        f.write("\n".join(batch) + "\n")
        f.flush()
        ns.run("ip", "-batch", f.name)

    ours = sorted(ns.call(interface_addresses))

    def with_pyroute2() -> list[tuple[str, int]]:
        from pyroute2 import IPRoute

        ipr = IPRoute()
        try:
            return sorted(
                (m.get_attr("IFA_LOCAL") or m.get_attr("IFA_ADDRESS"), m["prefixlen"])
                for m in ipr.get_addr()
            )
        finally:
            ipr.close()

    assert ours == ns.call(with_pyroute2)
    listed = json.loads(ns.run("ip", "-j", "address", "show").stdout)
    from_ip = sorted(
        (a["local"], a["prefixlen"]) for link in listed for a in link.get("addr_info", [])
    )
    assert ours == from_ip
    assert ("192.0.2.1", 32) in ours
    assert ("192.0.2.99", 32) not in ours
    assert len(ours) >= 602
    interfaces = ns.call(host_interfaces)
    assert len(interfaces) == len(ours)
    assert {str(own) for own, _ in interfaces} >= {"10.9.0.1/32", "2001:db8:12b::5/128"}
