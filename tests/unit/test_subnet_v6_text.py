"""subnet's IPv6 prefix of a /64 key, cut from its text (jails.v6text), is the prefix
ipaddress computes, on random and zero-heavy networks and every group-aligned prefix6."""

from __future__ import annotations

import ipaddress
import random
import socket

import pytest

from journalban.config.detectors import SubnetConfig
from journalban.jails.subnet import SubnetCrowd
from journalban.jails.v6text import prefix_of_v6_64


def _keys(count: int) -> list[tuple[int, str]]:
    rng = random.Random(19)
    found: list[tuple[int, str]] = []
    while len(found) < count:
        groups = [rng.choice((0, 0, 1, rng.randrange(1, 16), rng.randrange(1, 0x10000)))
                  for _ in range(4)]  # fmt: skip
        value = 0
        for group in groups:
            value = (value << 16) | group
        if not value:
            continue  # (the agent never counts ::/64: ipv6_prefix_key leaves it out)
        value <<= 64
        found.append((value, socket.inet_ntop(socket.AF_INET6, value.to_bytes(16, "big")) + "/64"))
    return found


@pytest.mark.parametrize("prefix6", [16, 32, 48, 64])
def test_the_prefix_ipaddress_computes(prefix6: int) -> None:
    crowd = SubnetCrowd(SubnetConfig(prefix6=prefix6), 1000)
    for value, key in _keys(20_000):
        assert key == str(ipaddress.IPv6Network((value, 64)))  # the agent's key text
        want = str(ipaddress.IPv6Network((value, 64)).supernet(new_prefix=prefix6))
        assert crowd.prefix_of(key) == want, key


def test_other_prefix_lengths_and_shapes_take_the_general_path() -> None:
    crowd = SubnetCrowd(SubnetConfig(prefix6=40), 1000)
    assert crowd.prefix_of("2001:db8:abcd:12::/64") == "2001:db8:ab00::/40"
    assert prefix_of_v6_64("2001:db8:abcd:12::/64", 3) == "2001:db8:abcd"
    assert prefix_of_v6_64("2001:db8:0:12::/64", 3) == "2001:db8"
    for odd in ("2001:DB8:1:2::/64", "1:2:3:4:5::/64", "::1.2.3.4::/64", "2001::12::/64"):
        assert prefix_of_v6_64(odd, 3) is None, odd
    general = SubnetCrowd(SubnetConfig(prefix6=48), 1000)
    assert general.prefix_of("2001:db8:0:0:0:0:0:1/128") == "2001:db8::/48"
    assert general.prefix_of("192.0.2.7/32") == "192.0.2.0/24"
