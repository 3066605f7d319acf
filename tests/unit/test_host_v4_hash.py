"""The agent's own /32 networks (netobjects._HostV4) stand for ipaddress's in every way
a caller can see: equal both ways, same hash (dict keys mix), same text and repr, and
a copy or pickle of one is a plain IPv4Network."""

from __future__ import annotations

import copy
import ipaddress
import pickle
import random

from journalban.addresses import stored_network
from journalban.netobjects import host_v4_network


def test_a_host_network_is_the_ipv4network_it_stands_for() -> None:
    rng = random.Random(3)
    values = [0, 1, 0xFFFFFFFF, 0x7F000001, *(rng.getrandbits(32) for _ in range(2000))]
    plain_keys: dict[ipaddress.IPv4Network, int] = {}
    for value in values:
        ours, theirs = host_v4_network(value), ipaddress.IPv4Network(value)
        assert ours == theirs
        assert theirs == ours
        assert ours != ipaddress.IPv4Network(value ^ 1)
        assert hash(ours) == hash(theirs)
        assert str(ours) == str(theirs)
        assert repr(ours) == repr(theirs)
        assert ours.prefixlen == 32
        assert list(ours.hosts()) == list(theirs.hosts())
        assert ours.network_address == theirs.network_address
        assert ours.subnet_of(ipaddress.IPv4Network(0).supernet(new_prefix=0))
        assert stored_network(str(theirs)) == theirs
        plain_keys[theirs] = value
    for value in values:  # looked up in a dict of plain networks, and the other way
        assert plain_keys[host_v4_network(value)] == value
    mixed = {host_v4_network(v): v for v in values}
    assert all(mixed[ipaddress.IPv4Network(v)] == v for v in values)
    assert sorted(map(host_v4_network, values)) == sorted(map(ipaddress.IPv4Network, values))


def test_a_copy_or_a_pickle_is_a_plain_network() -> None:
    ours = host_v4_network(0xC0000207)
    for other in (copy.copy(ours), copy.deepcopy(ours), pickle.loads(pickle.dumps(ours))):  # noqa: S301 (our own bytes)
        assert type(other) is ipaddress.IPv4Network
        assert other == ours
        assert hash(other) == hash(ours)


def test_a_stored_ipv6_network_is_the_ipv6network_it_stands_for() -> None:
    rng = random.Random(4)
    for _ in range(1000):
        plen = rng.choice([48, 56, 64, 128])
        theirs = ipaddress.IPv6Network((rng.getrandbits(128) >> (128 - plen) << (128 - plen), plen))
        ours = stored_network(str(theirs))
        assert ours == theirs
        assert theirs == ours
        assert hash(ours) == hash(theirs)
        keyed: dict[object, int] = {theirs: 1}
        assert keyed[ours] == 1
        assert str(ours) == str(theirs)
        assert repr(ours) == repr(theirs)
        assert type(pickle.loads(pickle.dumps(ours))) is ipaddress.IPv6Network  # noqa: S301
        assert type(copy.copy(ours)) is ipaddress.IPv6Network
