"""stored_network remembers an IPv6 network's text only when it is what str() prints."""

from __future__ import annotations

import ipaddress
import random

import pytest

from journalban import addresses
from journalban.addresses import network_text, stored_network


def _sample_v6(rng: random.Random) -> ipaddress.IPv6Network:
    value = rng.getrandbits(128)
    shape = rng.randrange(5)
    if shape == 0:
        value &= (1 << 32) - 1  # ::a.b.c.d, printed dotted by inet_ntop
    elif shape == 1:
        value = (0xFFFF << 32) | (value & 0xFFFFFFFF)  # IPv4-mapped
    elif shape == 2:
        value &= ~(((1 << 48) - 1) << rng.randrange(81))  # runs of zero groups
    return ipaddress.IPv6Network((value, rng.choice((128, 64, 48, 127))), strict=False)


def test_any_spelling_of_an_ipv6_network_gives_the_network_and_str_as_its_text() -> None:
    rng = random.Random(19)
    for _ in range(3000):
        net = _sample_v6(rng)
        spellings = [
            str(net),
            net.exploded,
            str(net).upper(),
            net.compressed.replace("::", ":0::", 1),
        ]
        for text in spellings:
            try:
                expected = ipaddress.ip_network(text)
            except ValueError:
                continue  # the ":0::" spelling of a run that was one group long
            got = stored_network(text)
            assert got == expected == net
            assert network_text(got) == str(net)


@pytest.mark.parametrize(
    "text", ["::ffff:192.0.2.1/128", "::192.0.2.1/128", "2001:DB8::/64", "2001:db8:0:0::/64",
             "2001:db8::/064", "2001:0db8::/64"],
)  # fmt: skip
def test_a_text_that_is_not_str_of_its_network_is_not_remembered(text: str) -> None:
    net = stored_network(text)
    assert network_text(net) == str(net) != text


def test_the_agents_own_ipv6_keys_are_remembered_as_they_are() -> None:
    net = stored_network("2001:db8:1::/64")
    assert addresses.remembered_text(net) == "2001:db8:1::/64"
