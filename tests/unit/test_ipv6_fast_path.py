"""The failure path's IPv6 shortcut agrees with ipaddress on every address it takes.

``ipv6_prefix_key`` parses and prints with inet_pton/inet_ntop; whatever it
returns must be exactly what ``parse_address`` + ``ban_network`` + ``str``
give, and what it declines goes the general way. Checked on seeded random
addresses shaped to hit the printing rules (runs of zero groups of every
length and place, ties between runs, single zero groups), on edge forms, and
on junk. The subnet detector's prefix texts are checked the same way.
"""

from __future__ import annotations

import ipaddress
import random

import pytest

from journalban.addresses import ban_network, ipv6_prefix_key, parse_address
from journalban.config.detectors import SubnetConfig
from journalban.jails.subnet import SubnetCrowd


def _shaped(rng: random.Random) -> str:
    groups = [
        rng.choice([0, 0, 0, rng.randrange(1, 0x10), rng.randrange(0x10000)]) for _ in range(8)
    ]
    groups[0] = rng.choice([groups[0], 0x2001, 0x2A00, 0xFE80, 0x64, 0])
    addr = ipaddress.IPv6Address(":".join(f"{g:x}" for g in groups))
    style = rng.randrange(3)
    if style == 0:
        return str(addr)
    if style == 1:
        return addr.exploded
    return addr.exploded.upper().replace(":0", ":")


EDGE = [
    "::",
    "::1",
    "::ffff:192.0.2.1",
    "::192.0.2.1",
    "64:ff9b::192.0.2.1",
    "64:ff9b::c000:201",
    "64:ff9b:1::1",
    "2001::1",
    "2001:0:1::1",
    "2001:db8::",
    "2001:db8::1",
    "2001:db8:0:0:1:0:0:1",
    "2001:db8:0:1:0:0:0:1",
    "1:0:0:2:0:0:0:3",
    "1::",
    "1:2:3:4:5:6:7::",
    "::2:3:4:5:6:7:8",
    "0:0:0:1::",
    "fe80::1%eth0",
    "[2001:db8::1]",
    "2001:db8::1::2",
    "2001:db8:::1",
    "2001:db8::g",
    "12345::",
    "1:2:3:4:5:6:7:8:9",
    "",
    ":",
    "2001:db8::/64",
    " 2001:db8::1",
    "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff",
    "0:0:0:0:1:0:0:0",
    "0:0:0:1:0:0:0:0",
]


@pytest.mark.parametrize("prefix", [128, 64, 56, 48, 1])
def test_the_shortcut_gives_what_ipaddress_gives(prefix: int) -> None:
    rng = random.Random(prefix)
    texts = EDGE + [_shaped(rng) for _ in range(6000)]
    taken = 0
    for text in texts:
        fast = ipv6_prefix_key(text, prefix)
        if fast is None:
            continue
        taken += 1
        address = parse_address(text)
        assert isinstance(address, ipaddress.IPv6Address), text
        network = ban_network(address, prefix)
        assert fast == (
            int(network.network_address),
            int(network.broadcast_address),
            str(network),
        ), text
    if prefix >= 48:
        assert taken > 4000, "the shortcut takes the ordinary addresses"


def test_embedded_ipv4_low_and_per_address_blocks_go_the_general_way() -> None:
    for text in ("::ffff:192.0.2.1", "::192.0.2.1", "::1", "::", "64:ff9b::c000:201",
                 "2001::1", "[2001:db8::1]", "fe80::1%eth0", "0:0:0:0:1::"):  # fmt: skip
        assert ipv6_prefix_key(text, 64) is None, text


def test_the_subnet_detectors_prefix_texts_are_unchanged() -> None:
    rng = random.Random(3)
    for prefix6 in (48, 56, 64):
        crowd = SubnetCrowd(SubnetConfig(prefix6=prefix6), 1000)
        for _ in range(3000):
            text = _shaped(rng)
            address = parse_address(text)
            if not isinstance(address, ipaddress.IPv6Address):
                continue
            key = str(ban_network(address, 64))
            expected = ipaddress.ip_network(key, strict=False)
            if expected.prefixlen > prefix6:
                expected = expected.supernet(new_prefix=prefix6)
            assert crowd.prefix_of(key) == str(expected), key


def test_restored_ipv4_hosts_are_networks_like_any_other() -> None:
    """stored_network builds /32 networks without ipaddress's parsing: every
    observable property must be the constructor's (seeded random values and edges)."""
    import pickle

    from journalban.addresses import stored_network
    from journalban.netobjects import host_v4_network as _host_v4

    rng = random.Random(11)
    values = [0, 1, 0xFFFFFFFF, 0x7F000001, *(rng.randrange(1 << 32) for _ in range(20_000))]
    for value in values:
        ours, theirs = _host_v4(value), ipaddress.IPv4Network(value)
        # A subclass that knows its hash (netobjects._HostV4, test_host_v4_hash).
        assert isinstance(ours, ipaddress.IPv4Network)
        assert ours == theirs
        assert hash(ours) == hash(theirs)
        assert str(ours) == str(theirs)
        assert repr(ours) == repr(theirs)
        # (its hosts() a method, not a closure in each one's dict)
        assert vars(ours).keys() | {"hosts"} == vars(theirs).keys() | {"_hash"}
        assert list(ours.hosts()) == list(theirs.hosts())
        assert ours.supernet(new_prefix=24) == theirs.supernet(new_prefix=24)
        assert ours.subnet_of(theirs.supernet(new_prefix=8))
        assert pickle.loads(pickle.dumps(ours)) == theirs  # noqa: S301 (our own bytes)
        assert stored_network(str(theirs), remember=False) == theirs
        assert {ours: 1}[theirs] == 1


def test_the_subnet_detectors_ipv4_prefix_texts_are_unchanged() -> None:
    """Octet-aligned prefixes are cut from the key's text; others computed; all as ipaddress."""
    rng = random.Random(12)
    keys = ["0.0.0.0/32", "255.255.255.255/32", "10.0.0.1/32", "192.0.2.200/32"]
    keys += [f"{ipaddress.IPv4Address(rng.getrandbits(32))}/32" for _ in range(3000)]
    for prefix4 in (8, 12, 16, 20, 24, 30, 32):
        crowd = SubnetCrowd(SubnetConfig(prefix4=prefix4), 1000)
        for key in keys:
            expected = ipaddress.ip_network(key).supernet(new_prefix=prefix4)
            assert crowd.prefix_of(key) == str(expected), (prefix4, key)
