"""format_network from the remembered network text says what str() of the address says."""

from __future__ import annotations

import ipaddress
import random

from journalban.addresses import format_network, stored_network


def test_format_network_is_the_address_or_the_prefix_as_before() -> None:
    rng = random.Random(9)
    nets: list[ipaddress.IPv4Network | ipaddress.IPv6Network] = []
    for _ in range(500):
        v4 = ipaddress.IPv4Address(rng.getrandbits(32))
        v6 = ipaddress.IPv6Address(rng.getrandbits(128))
        nets += [
            ipaddress.ip_network(v4),
            ipaddress.ip_network(v6),
            ipaddress.ip_network(f"{v4}/24", strict=False),
            ipaddress.ip_network(f"{v6}/64", strict=False),
            # (an IPv6 prefix whose text ends as an IPv4 /32's, and one ending in 128's digits)
            ipaddress.ip_network(f"{v6}/32", strict=False),
            ipaddress.ip_network(f"{v6}/28", strict=False),
            stored_network(f"{v4}/32"),  # the agent's own /32 objects, text remembered
        ]
    nets += [ipaddress.ip_network("::ffff:192.0.2.1"), ipaddress.ip_network("::1"),
             ipaddress.ip_network("0.0.0.0/0"), ipaddress.ip_network("::/0")]  # fmt: skip
    for net in nets:
        old = str(net.network_address) if net.prefixlen == net.max_prefixlen else str(net)
        assert format_network(net) == old
        assert format_network(net) == old  # and from the memo
