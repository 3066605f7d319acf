"""The failure path's one-address verdict (decisions/pointverdict.py): the same reason as the
ranges walked in order, for any ignore list; the remembered IPv4 texts never outlive it."""

from __future__ import annotations

import ipaddress
import random
from pathlib import Path

from journalban.addresses import IPNetwork
from journalban.config.schema import JailConfig
from journalban.decisions.ignore import IgnoreList
from journalban.decisions.pointverdict import HOST_MEMO
from support.deciding import fail, sshd_engine


def _random_network(rng: random.Random, version: int) -> IPNetwork:
    bits = 32 if version == 4 else 128
    plen = rng.choice([bits, bits, rng.randrange(1, bits + 1)])
    value = rng.getrandbits(bits) if rng.random() < 0.5 else rng.getrandbits(16) << (bits - 16)
    return ipaddress.ip_network((value, plen), strict=False)


def _probes(rng: random.Random, ignore: IgnoreList, version: int) -> list[int]:
    """Random addresses and every range's edges and their neighbours."""
    bits = 32 if version == 4 else 128
    out = [rng.getrandbits(bits) for _ in range(300)]
    ranges = (ignore._protected_ranges, ignore._ignoreip_ranges, ignore._broadcast_ranges)
    for group in ranges:
        for v, first, last in group:
            if v == version:
                out += [first - 1, first, first + 1, last - 1, last, last + 1]
    out += [0, 1, (1 << bits) - 1, (1 << bits) - 2, 0xFF << (bits - 8), 0xE0 << (bits - 8)]
    return [x for x in out if 0 <= x < 1 << bits]


def test_one_address_gets_the_reason_the_ranges_give_in_order() -> None:
    rng = random.Random(19)
    for _ in range(200):
        interfaces = []
        for _ in range(rng.randrange(0, 4)):
            net = _random_network(rng, rng.choice([4, 6]))
            own = ipaddress.ip_network(net.network_address)
            interfaces.append((own, net))
        ignoreip = [str(_random_network(rng, rng.choice([4, 6]))) for _ in range(rng.randrange(6))]
        ignore = IgnoreList(
            [*ignoreip, "office.example.org"],
            ignore_local_networks=rng.random() < 0.5,
            interfaces=interfaces,
        )
        ignore.update_hostnames({"office.example.org": ["198.51.100.0/28", "2001:db8::/40"]})
        for version in (4, 6):
            for value in _probes(rng, ignore, version):
                expected = ignore.why_by_ranges(version, value, value)
                assert ignore.points.why(version, value) == expected, (version, value)
                assert ignore.why_ignored_range(version, value, value) == expected


def test_every_reason_is_kept() -> None:
    own = ipaddress.ip_network("192.168.1.10/32")
    ignore = IgnoreList(
        ["203.0.113.0/24"], interfaces=[(own, ipaddress.ip_network("192.168.1.0/24"))]
    )
    why = {a: ignore.hosts[a] for a in
           ("0.1.2.3", "192.168.1.255", "192.168.1.10", "127.0.0.1", "203.0.113.5", "198.51.100.1")}  # fmt: skip
    assert why["0.1.2.3"] == ("0.1.2.3/32", "never a peer: unspecified ('this network', 0.0.0.0/8)")
    assert why["192.168.1.255"] == (
        "192.168.1.255/32", "never a peer: the broadcast address of an on-link network"
    )  # fmt: skip
    assert why["192.168.1.10"] == ("192.168.1.10/32", "the host's own, loopback or a local network")
    assert why["127.0.0.1"] == ("127.0.0.1/32", "the host's own, loopback or a local network")
    assert why["203.0.113.5"] == ("203.0.113.5/32", "in ignoreip")
    assert why["198.51.100.1"] == ("198.51.100.1/32", None)
    assert ignore.hosts["2001:db8::1"] is None  # not IPv4: the general path
    assert ignore.hosts["010.1.2.3"] is None  # not canonical
    assert "2001:db8::1" not in ignore.hosts  # neither is kept
    assert "010.1.2.3" not in ignore.hosts


def test_the_remembered_texts_stay_bounded() -> None:
    ignore = IgnoreList(())
    for i in range(3 * HOST_MEMO + 7):
        assert ignore.hosts[f"198.{i >> 16 & 255}.{i >> 8 & 255}.{i & 255}"] is not None
        assert len(ignore.hosts) <= HOST_MEMO


def test_an_address_remembered_as_bannable_is_never_banned_once_it_is_the_hosts_own(
    tmp_path: Path,
) -> None:
    engine = sshd_engine(tmp_path, IgnoreList(()))
    jails = {"sshd": JailConfig(name="sshd", maxretry=2)}
    assert fail(engine, "203.0.113.7") == []  # counted: its verdict is remembered
    assert engine.jails["sshd"].network_of("203.0.113.7") == ("203.0.113.7/32", None)
    # The host takes the address (a reload builds the ignore lists from its addresses anew).
    own = ipaddress.ip_network("203.0.113.7/32")
    engine.configure(
        jails, {"sshd": IgnoreList((), interfaces=[(own, ipaddress.ip_network("203.0.113.0/24"))])}
    )
    assert engine.jails["sshd"].network_of("203.0.113.7") == (
        "203.0.113.7/32", "the host's own, loopback or a local network"
    )  # fmt: skip
    for _ in range(5):
        assert fail(engine, "203.0.113.7") == []
    assert engine.jails["sshd"].ignored_failures == 5
    assert engine.list_bans() == []


def test_a_host_name_resolved_later_is_ignored_though_remembered(tmp_path: Path) -> None:
    ignore = IgnoreList(["office.example.org"])
    engine = sshd_engine(tmp_path, ignore)
    assert fail(engine, "203.0.113.8") == []
    ignore.update_hostnames({"office.example.org": ["203.0.113.0/28"]})
    assert engine.jails["sshd"].network_of("203.0.113.8") == ("203.0.113.8/32", "in ignoreip")
    for _ in range(5):
        assert fail(engine, "203.0.113.8") == []
    assert engine.list_bans() == []


def test_a_range_clear_of_every_range_is_told_by_one_bisection() -> None:
    """``why_ignored_range`` of a prefix: the answer of the ranges walked in order, whether
    the segments show it clear (no walk) or not; clear exactly when the walk finds none."""
    rng = random.Random(1919)
    seen_clear = seen_held = 0
    for _ in range(200):
        interfaces = []
        for _ in range(rng.randrange(0, 4)):
            net = _random_network(rng, rng.choice([4, 6]))
            interfaces.append((ipaddress.ip_network(net.network_address), net))
        ignoreip = [str(_random_network(rng, rng.choice([4, 6]))) for _ in range(rng.randrange(6))]
        ignore = IgnoreList(
            ignoreip, ignore_local_networks=rng.random() < 0.5, interfaces=interfaces
        )
        for version in (4, 6):
            bits = 32 if version == 4 else 128
            for low in _probes(rng, ignore, version):
                for size in (1, 2, 8, 64, rng.randrange(1, bits)):
                    high = min(low | ((1 << size) - 1), (1 << bits) - 1)
                    expected = ignore.why_by_ranges(version, low, high)
                    assert ignore.why_ignored_range(version, low, high) == expected
                    assert ignore.points.clear(version, low, high) == (
                        expected is None
                        and not any(
                            v == version and low <= first <= high
                            for v, first, _ in ignore._broadcast_ranges
                        )
                    ), (version, low, high)
                    if expected is None:
                        seen_clear += 1
                    else:
                        seen_held += 1
    assert seen_clear > 1000
    assert seen_held > 100
