"""The split rule: a prefix holding a protected address is narrowed, never exempted."""

from __future__ import annotations

import ipaddress
import random
from pathlib import Path

import pytest

from journalban.addresses import IPNetwork, parse_address
from journalban.clock import FakeClock
from journalban.config.schema import JailConfig, RecidiveConfig
from journalban.decisions.engine import DecisionEngine
from journalban.decisions.ignore import IgnoreList
from journalban.decisions.split import widest_clear_network, widest_clear_prefixlen
from journalban.events import LineBatch
from journalban.firewall.nftables.prefixes import check_prefix
from journalban.matching.engine import MATCHED, Outcome
from journalban.state.store import StateStore

NOW = 1_800_000_000.0
OWN6 = ipaddress.ip_network("2001:db8:1::1/128")
SEGMENT6 = ipaddress.ip_network("2001:db8:1::/64")  # a hoster's shared public /64


def _net(text: str) -> IPNetwork:
    return ipaddress.ip_network(text)


@pytest.mark.parametrize(
    ("address", "protected", "prefixlen", "expected"),
    [
        ("2001:db8:1::8000:0:0:5", ["2001:db8:1::1/128"], 64, "2001:db8:1:0:8000::/65"),
        ("2001:db8:1::2:0:0:9", ["2001:db8:1::1/128"], 64, "2001:db8:1:0:2::/79"),
        ("2001:db8:1::2", ["2001:db8:1::1/128"], 64, "2001:db8:1::2/127"),
        ("2001:db8:2::5", ["2001:db8:1::1/128"], 64, "2001:db8:2::/64"),
        ("2001:db8:1::7", [], 64, "2001:db8:1::/64"),
        ("2001:db8:1::7", ["2001:db8:1::1/128"], 128, "2001:db8:1::7/128"),
        # IPv4 the same way: a /24 holding the host's own address.
        ("198.51.100.200", ["198.51.100.7/32"], 24, "198.51.100.128/25"),
        ("198.51.100.6", ["198.51.100.7/32"], 24, "198.51.100.6/32"),
        # Several protected networks: the narrowest need wins.
        (
            "2001:db8:1::8000:0:0:5",
            ["2001:db8:1::1/128", "2001:db8:1:0:c000::/66"],
            64,
            "2001:db8:1:0:8000::/66",
        ),
        # Other family's protected networks do not narrow.
        ("198.51.100.200", ["2001:db8:1::1/128"], 24, "198.51.100.0/24"),
    ],
)
def test_widest_clear_network(
    address: str, protected: list[str], prefixlen: int, expected: str
) -> None:
    addr = ipaddress.ip_address(address)
    assert widest_clear_network(addr, prefixlen, [_net(p) for p in protected]) == _net(expected)


@pytest.mark.parametrize(
    ("address", "protected"),
    [("2001:db8:1::1", "2001:db8:1::1/128"), ("2001:db8:1::9", "2001:db8:1::/120")],
)
def test_a_protected_address_gets_no_network(address: str, protected: str) -> None:
    assert widest_clear_network(ipaddress.ip_address(address), 64, [_net(protected)]) is None


def test_unaligned_ranges_are_split_too() -> None:
    # first..last need not be a prefix: 10..20 inside a /24 of 0..255.
    assert widest_clear_prefixlen(4, 9, 24, [(4, 10, 20)]) == 31  # 8..9
    assert widest_clear_prefixlen(4, 21, 24, [(4, 10, 20)]) == 32
    assert widest_clear_prefixlen(4, 200, 24, [(4, 10, 20)]) == 25
    assert widest_clear_prefixlen(4, 15, 24, [(4, 10, 20)]) is None
    with pytest.raises(ValueError, match="out of range"):
        widest_clear_prefixlen(4, 15, 33, [])


def test_the_network_is_the_widest_clear_one_for_random_addresses() -> None:
    rng = random.Random(13)
    protected = [_net("2001:db8:1::1/128"), _net("2001:db8:1:0:1234::/80")]
    for _ in range(2000):
        addr = ipaddress.IPv6Address(int(SEGMENT6.network_address) | rng.getrandbits(64))
        net = widest_clear_network(addr, 64, protected)
        if any(addr in p for p in protected):
            assert net is None
            continue
        assert net is not None
        assert addr in net
        assert not any(net.overlaps(p) for p in protected)
        assert net.prefixlen >= 64
        if net.prefixlen > 64:
            wider = net.supernet()
            assert any(wider.overlaps(p) for p in protected)


def _engine(tmp_path: Path, **jail: object) -> DecisionEngine:
    engine = DecisionEngine(
        StateStore(tmp_path / "state.sqlite"), FakeClock(NOW), RecidiveConfig(enabled=False)
    )
    cfg = JailConfig(name="sshd", **jail)  # type: ignore[arg-type]
    ignore = IgnoreList(cfg.ignoreip, interfaces=[(OWN6, SEGMENT6)])
    engine.configure({"sshd": cfg}, {"sshd": ignore})
    return engine


def _feed(engine: DecisionEngine, addresses: list[str]) -> list[str]:
    lines = [f"fail from {a}" for a in addresses]
    outcomes = [
        Outcome(MATCHED, i, parse_address(a), a, None, NOW, 0) for i, a in enumerate(addresses)
    ]
    changes = engine.process("sshd", LineBatch("journal", lines, "c1", prefixed=False), outcomes)
    engine.store.commit(changes.commits)
    return [b.address for b in changes.bans]


def test_a_neighbour_rotating_inside_the_hosts_own_64_is_still_banned(tmp_path: Path) -> None:
    engine = _engine(tmp_path, maxretry=3)
    rng = random.Random(7)
    banned: list[str] = []
    for _ in range(12):
        neighbour = ipaddress.IPv6Address(int(SEGMENT6.network_address) | rng.getrandbits(64))
        banned += _feed(engine, [str(neighbour)])
    assert banned, "a neighbour rotating through the host's /64 was never banned"
    for ban in engine.list_bans():
        assert ban.network.subnet_of(SEGMENT6)  # type: ignore[arg-type]
        assert not ban.network.overlaps(OWN6)
        check_prefix(ban.network, protected_networks=[OWN6])  # the backend accepts it


def test_the_hosts_own_address_is_never_banned_nor_covered(tmp_path: Path) -> None:
    engine = _engine(tmp_path, maxretry=1)
    assert _feed(engine, [str(OWN6.network_address)] * 5) == []
    assert _feed(engine, ["2001:db8:1::2"]) == ["2001:db8:1::2/127"]
    assert _feed(engine, ["2001:db8:1:0:8000::1"]) == ["2001:db8:1:0:8000::/65"]
    assert all(not b.network.overlaps(OWN6) for b in engine.list_bans())


def test_ignoreip_inside_the_prefix_splits_it_too(tmp_path: Path) -> None:
    engine = _engine(tmp_path, maxretry=1, ignoreip=("2001:db8:5::5",))
    assert _feed(engine, ["2001:db8:5::5"]) == []
    assert _feed(engine, ["2001:db8:5::ffff:0:0:1"]) == ["2001:db8:5:0:8000::/65"]
    assert _feed(engine, ["2001:db8:6::1"]) == ["2001:db8:6::/64"]  # unaffected
