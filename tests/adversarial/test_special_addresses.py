"""Special addresses: every block of IANA's IPv4 and IPv6 special-purpose registries
(and the multicast blocks), with what journalban does with an address in it.

Verdicts (the table in docs/special-addresses.md is checked against this one):

- ``refused``: never the peer of a connection; a log line naming it counts
  nothing, a ban of it (D-Bus, CLI, fleet) fails with ``AddressNotPeer``,
  ``force`` or not.
- ``ignored``: the host talking to itself; never counted or banned, ``force``
  or not.
- ``ignored by default``: ``ignore_local_networks`` (default true) ignores it;
  bannable when that is false.
- ``ignored when on-link``: ignored when one of the host's interfaces is on
  that network (``ignore_local_networks``), bannable otherwise.
- ``bannable /N``: counted and banned as its /N prefix by default.
- ``as IPv4``: IPv4-mapped IPv6, read as its IPv4 address.
"""

from __future__ import annotations

import ipaddress
import re
from pathlib import Path

import pytest

from journalban.addresses import IPNetwork, never_peer, parse_address
from journalban.clock import FakeClock
from journalban.config.loader import load_config
from journalban.config.schema import JailConfig, RecidiveConfig
from journalban.decisions.engine import DecisionEngine
from journalban.decisions.ignore import IgnoreList
from journalban.decisions.remote import RemoteOrder, decide_remote
from journalban.errors import AddressIgnored, AddressNotPeer, ConfigError
from journalban.events import LineBatch
from journalban.matching.engine import MATCHED, MISSED, CompiledFilter, LineMatcher
from journalban.matching.library import FilterLibrary
from journalban.state.store import StateStore

NOW = 1_800_000_000.0
DOC = Path(__file__).resolve().parents[2] / "docs" / "special-addresses.md"

# (block, IANA name, an address in it, verdict)
TABLE: list[tuple[str, str, str, str]] = [
    ("0.0.0.0/8", "This network", "0.1.2.3", "refused"),
    ("0.0.0.0/32", "This host on this network", "0.0.0.0", "refused"),
    ("10.0.0.0/8", "Private-Use", "10.9.9.9", "ignored when on-link"),
    ("100.64.0.0/10", "Shared Address Space", "100.64.1.2", "bannable /32"),
    ("127.0.0.0/8", "Loopback", "127.0.0.53", "ignored"),
    ("169.254.0.0/16", "Link Local", "169.254.7.7", "ignored by default"),
    ("172.16.0.0/12", "Private-Use", "172.20.1.1", "ignored when on-link"),
    ("192.0.0.0/24", "IETF Protocol Assignments", "192.0.0.100", "bannable /32"),
    ("192.0.0.0/29", "IPv4 Service Continuity Prefix", "192.0.0.2", "bannable /32"),
    ("192.0.0.8/32", "IPv4 dummy address", "192.0.0.8", "bannable /32"),
    ("192.0.0.9/32", "Port Control Protocol Anycast", "192.0.0.9", "bannable /32"),
    ("192.0.0.10/32", "Traversal Using Relays around NAT Anycast", "192.0.0.10", "bannable /32"),
    ("192.0.0.170/32", "NAT64/DNS64 Discovery", "192.0.0.170", "bannable /32"),
    ("192.0.0.171/32", "NAT64/DNS64 Discovery", "192.0.0.171", "bannable /32"),
    ("192.0.2.0/24", "Documentation (TEST-NET-1)", "192.0.2.44", "bannable /32"),
    ("192.31.196.0/24", "AS112-v4", "192.31.196.1", "bannable /32"),
    ("192.52.193.0/24", "AMT", "192.52.193.1", "bannable /32"),
    ("192.88.99.0/24", "Deprecated (6to4 Relay Anycast)", "192.88.99.1", "bannable /32"),
    ("192.168.0.0/16", "Private-Use", "192.168.77.1", "ignored when on-link"),
    ("192.175.48.0/24", "Direct Delegation AS112 Service", "192.175.48.1", "bannable /32"),
    ("198.18.0.0/15", "Benchmarking", "198.19.0.1", "bannable /32"),
    ("198.51.100.0/24", "Documentation (TEST-NET-2)", "198.51.100.44", "bannable /32"),
    ("203.0.113.0/24", "Documentation (TEST-NET-3)", "203.0.113.44", "bannable /32"),
    ("224.0.0.0/4", "Multicast", "224.0.0.1", "refused"),
    ("239.0.0.0/8", "Administratively Scoped Multicast", "239.255.255.250", "refused"),
    ("240.0.0.0/4", "Reserved", "240.0.0.1", "bannable /32"),
    ("255.255.255.255/32", "Limited Broadcast", "255.255.255.255", "refused"),
    ("::1/128", "Loopback Address", "::1", "ignored"),
    ("::/128", "Unspecified Address", "::", "refused"),
    ("::ffff:0:0/96", "IPv4-mapped Address", "::ffff:203.0.113.45", "as IPv4"),
    ("64:ff9b::/96", "IPv4-IPv6 Translat.", "64:ff9b::cb00:712d", "bannable /128"),
    ("64:ff9b:1::/48", "IPv4-IPv6 Translat.", "64:ff9b:1::cb00:712e", "bannable /128"),
    ("100::/64", "Discard-Only Address Block", "100::1", "refused"),
    ("100:0:0:1::/64", "Dummy IPv6 Prefix", "100:0:0:1::1", "bannable /64"),
    ("2001::/23", "IETF Protocol Assignments", "2001:1::9", "bannable /64"),
    ("2001::/32", "TEREDO", "2001:0:4136:e378:8000:63bf:3fff:fdd2", "bannable /128"),
    ("2001:1::1/128", "Port Control Protocol Anycast", "2001:1::1", "bannable /64"),
    ("2001:1::2/128", "Traversal Using Relays around NAT Anycast", "2001:1::2", "bannable /64"),
    ("2001:1::3/128", "DNS-SD Service Registration Protocol Anycast", "2001:1::3", "bannable /64"),
    ("2001:2::/48", "Benchmarking", "2001:2::5", "bannable /64"),
    ("2001:3::/32", "AMT", "2001:3::5", "bannable /64"),
    ("2001:4:112::/48", "AS112-v6", "2001:4:112::5", "bannable /64"),
    ("2001:10::/28", "Deprecated (previously ORCHID)", "2001:10::5", "bannable /64"),
    ("2001:20::/28", "ORCHIDv2", "2001:20::5", "bannable /64"),
    ("2001:30::/28", "Drone Remote ID Protocol Entity Tags (DETs) Prefix", "2001:30::5",
     "bannable /64"),
    ("2001:db8::/32", "Documentation", "2001:db8:4::5", "bannable /64"),
    ("2002::/16", "6to4", "2002:cb00:712f::1", "bannable /64"),
    ("2620:4f:8000::/48", "Direct Delegation AS112 Service", "2620:4f:8000::5", "bannable /64"),
    ("3fff::/20", "Documentation", "3fff:1::5", "bannable /64"),
    ("5f00::/16", "Segment Routing (SRv6) SIDs", "5f00:1::5", "bannable /64"),
    ("fc00::/7", "Unique-Local", "fd77::5", "ignored when on-link"),
    ("fe80::/10", "Link-Local Unicast", "fe80::5", "ignored by default"),
    ("ff00::/8", "Multicast", "ff02::1", "refused"),
]  # fmt: skip

# The host: one public address, and one on-link network inside each private block.
INTERFACES: list[tuple[IPNetwork, IPNetwork]] = [
    (ipaddress.ip_network(own), ipaddress.ip_network(net))
    for own, net in [
        ("198.51.100.7/32", "198.51.100.0/24"),
        ("10.1.2.3/32", "10.1.2.0/24"),
        ("172.16.5.3/32", "172.16.5.0/24"),
        ("192.168.1.3/32", "192.168.1.0/24"),
        ("fd00:1::3/128", "fd00:1::/64"),
    ]
]
# For "ignored when on-link": an address on the host's network in that block.
ON_LINK = {"10.0.0.0/8": "10.1.2.9", "172.16.0.0/12": "172.16.5.9",
           "192.168.0.0/16": "192.168.1.9", "fc00::/7": "fd00:1::9"}  # fmt: skip
IDS = [f"{block} {address}" for block, _, address, _ in TABLE]


def _engine(tmp_path: Path, **jail: object) -> DecisionEngine:
    engine = DecisionEngine(
        StateStore(tmp_path / "state.sqlite"), FakeClock(NOW), RecidiveConfig(enabled=False)
    )
    cfg = JailConfig(name="sshd", maxretry=1, **jail)  # type: ignore[arg-type]
    ignore = IgnoreList(
        cfg.ignoreip, ignore_local_networks=cfg.ignore_local_networks, interfaces=INTERFACES
    )
    engine.configure({"sshd": cfg}, {"sshd": ignore})
    return engine


def _fail(engine: DecisionEngine, host: str) -> list[str]:
    """One failure from ``host`` (as a filter's text), the networks it banned."""
    batch = LineBatch("journal", [f"fail from {host}"], "c1", prefixed=False)
    changes = engine.process_hits("sshd", batch, [(batch.lines[0], host, NOW, None, 0)])
    engine.store.commit(changes.commits)
    return [str(b.network) for b in changes.bans]


@pytest.mark.parametrize(("block", "name", "address", "verdict"), TABLE, ids=IDS)
def test_the_table_holds_for_a_failure_from_a_log_line(
    tmp_path: Path, block: str, name: str, address: str, verdict: str
) -> None:
    assert ipaddress.ip_address(address) in ipaddress.ip_network(block), name
    engine = _engine(tmp_path)
    banned = _fail(engine, address)
    if verdict.startswith("bannable /"):
        plen = int(verdict.split("/")[1])
        assert banned == [str(ipaddress.ip_network(f"{address}/{plen}", strict=False))]
    elif verdict == "as IPv4":
        assert banned == [f"{parse_address(address)}/32"]
    elif verdict == "ignored when on-link":
        assert len(banned) == 1  # off-link: a neighbour like any other
        assert _fail(engine, ON_LINK[block]) == []
    else:
        assert banned == []
        assert engine.jails["sshd"].ignored_failures == 1


@pytest.mark.parametrize(("block", "name", "address", "verdict"), TABLE, ids=IDS)
def test_the_table_holds_for_a_ban_by_hand(
    tmp_path: Path, block: str, name: str, address: str, verdict: str
) -> None:
    engine = _engine(tmp_path)
    network = ipaddress.ip_network(parse_address(address))  # type: ignore[arg-type]
    if verdict == "refused":
        for force in (False, True):
            with pytest.raises(AddressNotPeer, match="never a peer"):
                engine.manual_ban("sshd", network, None, permanent=False, comment="", force=force)
        with pytest.raises(AddressNotPeer):  # nor any prefix holding it
            engine.manual_ban("sshd", network.supernet(8), None, permanent=True, comment="",
                              force=True)  # fmt: skip
    elif verdict == "ignored":
        with pytest.raises(AddressIgnored):
            engine.manual_ban("sshd", network, None, permanent=False, comment="", force=True)
    elif verdict == "ignored by default":
        with pytest.raises(AddressIgnored):
            engine.manual_ban("sshd", network, None, permanent=False, comment="", force=False)
    else:
        ban, _ = engine.manual_ban("sshd", network, None, permanent=False, comment="", force=False)
        assert ban.network == network


@pytest.mark.parametrize(("block", "name", "address", "verdict"), TABLE, ids=IDS)
def test_ignored_by_default_is_bannable_without_ignore_local_networks(
    tmp_path: Path, block: str, name: str, address: str, verdict: str
) -> None:
    engine = _engine(tmp_path, ignore_local_networks=False)
    banned = _fail(engine, ON_LINK.get(block, address))
    if verdict in ("ignored by default", "ignored when on-link"):
        assert len(banned) == 1
    elif verdict in ("refused", "ignored"):
        assert banned == []


LIBRARY = FilterLibrary(override_dir=None)


@pytest.mark.parametrize(("block", "name", "address", "verdict"), TABLE, ids=IDS)
def test_a_matched_line_naming_a_refused_address_is_a_miss(
    block: str, name: str, address: str, verdict: str
) -> None:
    matcher = LineMatcher(CompiledFilter(LIBRARY.load("sshd")), lambda: NOW)
    line = f"Nov 21 10:00:01 host sshd[1]: Failed password for root from {address} port 22 ssh2"
    (out,) = matcher.match_lines([line])
    if verdict == "refused":
        assert out.kind == MISSED
        assert out.reason.startswith("never a peer")
    else:
        assert out.kind == MATCHED
        assert never_peer(out.address) is None  # type: ignore[arg-type]


def test_every_block_is_in_the_docs_with_the_same_verdict() -> None:
    rows: dict[str, set[str]] = {}
    for match in re.finditer(r"^\| `([^`]+)` \| ([^|]+) \| ([^|]+) \|$", DOC.read_text(), re.M):
        rows.setdefault(match[1], set()).add(match[3].strip())
    for block, name, _, verdict in TABLE:
        assert verdict in rows.get(block, set()), f"{DOC.name}: {block} ({name}) -> {verdict}"
    assert sum(len(v) for v in rows.values()) == len(TABLE), "the docs list other blocks"


def _config(tmp_path: Path, sshd: str) -> Path:
    path = tmp_path / "journalban.yaml"
    path.write_text(f"jails:\n  sshd:\n{sshd}")
    return path


@pytest.mark.parametrize("proxies", ["0.0.0.0/0", "::/0", "224.0.0.0/4", "ff02::/16"])
def test_trusted_proxies_may_not_hold_addresses_that_are_never_a_peer(
    tmp_path: Path, proxies: str
) -> None:
    path = _config(tmp_path, f"    trusted_proxies: ['{proxies}']\n")
    with pytest.raises(ConfigError, match=r"trusted_proxies.*never a peer") as info:
        load_config(path, check_filter=None)
    assert str(path) in str(info.value)


def test_ignore_lists_may_name_them(tmp_path: Path) -> None:
    path = _config(tmp_path, "    ignoreip: ['0.0.0.0/8', 'ff00::/8', '224.0.0.1']\n")
    config = load_config(path, check_filter=None)
    assert "ff00::/8" in config.jails["sshd"].ignoreip


@pytest.mark.parametrize("network", ["224.0.0.1/32", "ff02::/64", "0.0.0.0/32", "::/128"])
def test_a_fleet_order_for_an_address_never_a_peer_is_refused(tmp_path: Path, network: str) -> None:
    engine = _engine(tmp_path)
    order = RemoteOrder("ban", "sshd", ipaddress.ip_network(network), NOW, NOW + 600, "peer1")
    changes, outcome = decide_remote(engine, [order], "S", 1)
    assert changes.bans == []
    assert outcome.applied == 0
    assert sum(outcome.refused.values()) == 1


def test_the_broadcast_address_of_an_on_link_network_is_never_a_peer(tmp_path: Path) -> None:
    engine = _engine(tmp_path)
    assert _fail(engine, "198.51.100.255") == []  # the host's public /24
    assert _fail(engine, "198.51.100.254") == ["198.51.100.254/32"]  # a neighbour
    with pytest.raises(AddressNotPeer, match="broadcast address of an on-link network"):
        engine.manual_ban(
            "sshd", ipaddress.ip_network("198.51.100.255"), None, permanent=False, comment="",
            force=True,
        )  # fmt: skip
    # A prefix around it (not holding the host's own .7) holds real neighbours.
    ban, _ = engine.manual_ban(
        "sshd", ipaddress.ip_network("198.51.100.128/25"), None, permanent=False, comment="",
        force=False,
    )  # fmt: skip
    assert str(ban.network) == "198.51.100.128/25"
