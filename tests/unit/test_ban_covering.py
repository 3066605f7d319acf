"""QueryBan and the ban counts: answers from lookups, without scanning or sorting every ban."""

from __future__ import annotations

import collections
import math
import random
from pathlib import Path

import pytest

from journalban.addresses import IPNetwork, is_prefix, parse_network
from journalban.clock import FakeClock
from journalban.config.schema import JailConfig, RecidiveConfig
from journalban.decisions.engine import DecisionEngine
from journalban.decisions.ignore import IgnoreList
from journalban.decisions.runtime import BanTable
from journalban.events import Ban
from journalban.state.store import StateStore

NOW = 1_800_000_000.0
BANS = [
    ("sshd", "203.0.113.7", 3600.0),
    ("sshd", "203.0.113.0/24", 3600.0),
    ("sshd", "203.0.0.0/16", 10.0),  # runs out before the queries
    ("web", "203.0.113.0/25", 3600.0),
    ("web", "198.51.100.9", 3600.0),
    ("sshd", "2001:db8:1:2::/64", 3600.0),
    ("web", "2001:db8::/32", 3600.0),
]
QUERIES = [
    "203.0.113.7",
    "203.0.113.200",
    "203.0.113.0/26",
    "203.0.112.1",
    "198.51.100.9",
    "198.51.100.0/24",
    "2001:db8:1:2::5",
    "2001:db8:ffff::1",
    "::ffff:203.0.113.7",
]


@pytest.fixture
def engine(tmp_path: Path) -> DecisionEngine:
    clock = FakeClock(NOW)
    engine = DecisionEngine(StateStore(tmp_path / "state.sqlite"), clock, RecidiveConfig())
    configs = {name: JailConfig(name=name) for name in ("sshd", "web")}
    engine.configure(configs, {name: IgnoreList(()) for name in configs})
    for jail, network, duration in BANS:
        engine.manual_ban(
            jail, parse_network(network), duration, permanent=False, comment="", force=False
        )
        clock.advance(1.0)
    clock.advance(60.0)
    return engine


def scanned(engine: DecisionEngine, network: IPNetwork) -> list[Ban]:
    """The obvious answer: every active ban whose network holds ``network``."""
    return [
        b
        for b in engine.list_bans()
        if b.network.version == network.version and network.subnet_of(b.network)  # type: ignore[arg-type]
    ]


@pytest.mark.parametrize("query", QUERIES)
def test_covering_finds_what_a_scan_of_every_ban_finds(engine: DecisionEngine, query: str) -> None:
    network = parse_network(query)
    assert engine.covering(network) == scanned(engine, network)


def test_an_address_inside_banned_prefixes_of_two_jails(engine: DecisionEngine) -> None:
    found = engine.covering(parse_network("203.0.113.7"))
    assert [(b.jail, str(b.network)) for b in found] == [
        ("sshd", "203.0.113.7/32"),
        ("sshd", "203.0.113.0/24"),
        ("web", "203.0.113.0/25"),
    ]


@pytest.mark.parametrize("jail", [None, "sshd", "web", "nope"])
def test_count_bans_counts_what_list_bans_lists(engine: DecisionEngine, jail: str | None) -> None:
    assert engine.count_bans(jail) == len([b for b in engine.list_bans() if jail in (None, b.jail)])


def test_cached_count_follows_changes_and_expiry(engine: DecisionEngine) -> None:
    clock = engine.clock
    assert isinstance(clock, FakeClock)
    before = engine.count_bans("sshd")
    assert engine.count_bans("sshd") == before  # answered from the cache
    engine.manual_ban(
        "sshd", parse_network("192.0.2.1"), 30.0, permanent=False, comment="", force=False
    )
    assert engine.count_bans("sshd") == before + 1  # the table changed
    clock.advance(31.0)  # the new ban runs out, nothing else changes the table
    assert engine.count_bans("sshd") == before
    clock.advance(3600.0)  # and so do the others
    assert engine.count_bans("sshd") == 0
    assert engine.count_bans() == len(engine.list_bans())


def test_per_jail_counts_follow_the_table(engine: DecisionEngine) -> None:
    def by_jail() -> dict[str, int]:
        counts: dict[str, int] = {}
        for jail, _ in engine.bans:
            counts[jail] = counts.get(jail, 0) + 1
        return counts

    assert dict(engine.bans.per_jail) == by_jail()
    engine.unban(parse_network("198.51.100.9"), None, "manual")
    assert dict(engine.bans.per_jail) == by_jail()
    engine.unban_all("web")
    assert "web" not in engine.bans.per_jail
    assert dict(engine.bans.per_jail) == by_jail()


def test_next_expiry_skips_lifted_and_extended_bans(engine: DecisionEngine) -> None:
    active = [b.expires_at for b in engine.bans.values() if b.expires_at is not None]
    assert engine.bans.next_expiry() == min(active)
    first = min(engine.bans.values(), key=lambda b: b.expires_at or math.inf)
    engine.unban(first.network, first.jail, "manual")
    rest = [b.expires_at for b in engine.bans.values() if b.expires_at is not None]
    assert engine.bans.next_expiry() == min(rest)


def test_bans_of_both_versions_may_run_out_at_the_same_time() -> None:
    table = BanTable()
    for text in ("192.0.2.1", "2001:db8::/64", "192.0.2.2", "2001:db8:1::/64"):
        table[("sshd", parse_network(text))] = Ban("sshd", parse_network(text), NOW, NOW + 60)
    assert table.next_expiry() == NOW + 60
    assert table.per_jail["sshd"] == 4


def test_due_finds_exactly_the_bans_run_out_through_replacements_and_lifts() -> None:
    rng = random.Random(16)
    table = BanTable()
    networks = [parse_network(f"198.51.100.{i}") for i in range(40)]
    networks += [parse_network(f"2001:db8:{i:x}::/64") for i in range(40)]
    for step in range(2000):
        jail = rng.choice(["sshd", "web"])
        net = rng.choice(networks)
        if rng.random() < 0.25:
            table.pop((jail, net), None)
        else:
            expires = None if rng.random() < 0.05 else NOW + rng.randrange(0, 200)
            table[(jail, net)] = Ban(jail, net, NOW, expires)
        if step % 50 == 0:
            now = NOW + rng.randrange(0, 220)
            scanned = {
                k for k, b in table.items() if b.expires_at is not None and b.expires_at <= now
            }
            due = {(b.jail, b.network) for b in table.due(now)}
            assert due == scanned
            assert len(table.due(now)) == len(scanned)  # each once


def test_count_bans_leaves_out_bans_run_out_before_the_chore_lifts_them(
    engine: DecisionEngine,
) -> None:
    assert engine.bans.next_expiry() < engine.clock.now()  # the 10 s ban ran out, still held
    for jail in (None, "sshd", "web", "nosuch"):
        listed = [b for b in engine.list_bans() if jail in (None, b.jail)]
        assert engine.count_bans(jail) == len(listed)
    gone = engine.expire()
    assert [b.address for b, _ in gone.unbans] == ["203.0.0.0/16"]
    assert engine.count_bans("sshd") == len(engine.list_bans("sshd"))


def prefixes_listed(engine: DecisionEngine) -> list[str]:
    return sorted(b.address for b in engine.list_bans() if is_prefix(b.network))


def test_prefix_count_is_what_a_scan_of_every_ban_finds(engine: DecisionEngine) -> None:
    # An IPv6 /64 is one peer, as the jails ban it; the /16 ran out and waits for the chore.
    assert prefixes_listed(engine) == ["2001:db8::/32", "203.0.113.0/24", "203.0.113.0/25"]
    assert engine.count_prefix_bans() == 3
    assert engine.bans.prefixes == 4  # held until the expiry chore lifts the /16
    engine.expire()
    assert engine.bans.prefixes == engine.count_prefix_bans() == 3
    engine.unban(parse_network("203.0.113.0/24"), "sshd", "manual")
    assert engine.count_prefix_bans() == len(prefixes_listed(engine)) == 2
    engine.unban_all("web")
    assert engine.count_prefix_bans() == 0
    engine.manual_ban(
        "sshd", parse_network("192.0.2.0/28"), None, permanent=True, comment="", force=False
    )
    assert engine.count_prefix_bans() == 1


# Hosts and prefixes of both versions, for the random churn of a table.
MIXED_NETWORKS = ("198.51.100.1", "198.51.100.0/24", "2001:db8::/64", "2001:db8::/48",
                  "2001:db8::1", "10.0.0.0/8")  # fmt: skip


def test_prefix_count_follows_sets_replacements_lifts_and_clears() -> None:
    rng = random.Random(19)
    table = BanTable()
    networks = [parse_network(t) for t in MIXED_NETWORKS]
    for step in range(1000):
        key = (rng.choice(["sshd", "web"]), rng.choice(networks))
        if rng.random() < 0.3:
            table.pop(key, None)
        else:
            table[key] = Ban(key[0], key[1], NOW, NOW + 60)
        assert table.prefixes == sum(1 for _, n in table if is_prefix(n)), step
    rebuilt = BanTable(table.items())
    assert rebuilt.prefixes == table.prefixes
    counted_late = BanTable()  # the first read counts; changes before it are not counted twice
    counted_late[("sshd", networks[1])] = Ban("sshd", networks[1], NOW, None)
    counted_late[("sshd", networks[0])] = Ban("sshd", networks[0], NOW, None)
    assert counted_late.prefixes == 1
    counted_late.pop(("sshd", networks[1]))
    assert counted_late.prefixes == 0
    table.clear()
    assert table.prefixes == 0


def test_prefix_lengths_follow_sets_lifts_and_clears() -> None:
    # covering() looks up only the prefix lengths some ban has: the count must never miss one.
    rng = random.Random(16)
    table = BanTable()
    networks = [parse_network(t) for t in MIXED_NETWORKS]
    for step in range(1000):
        key = (rng.choice(["sshd", "web"]), rng.choice(networks))
        if rng.random() < 0.3:
            table.pop(key, None)
        elif rng.random() < 0.1 and key in table:
            del table[key]
        else:
            table[key] = Ban(key[0], key[1], NOW, NOW + 60)
        expected = collections.Counter((n.version, n.prefixlen) for _, n in table)
        assert table.lengths == expected, step
    table.clear()
    assert not table.lengths


def test_covering_still_finds_every_enclosing_ban_as_prefixes_come_and_go(
    engine: DecisionEngine,
) -> None:
    engine.unban(parse_network("203.0.113.0/24"), "sshd", "manual")
    for query in QUERIES:
        network = parse_network(query)
        assert engine.covering(network) == scanned(engine, network), query
    engine.manual_ban(
        "web", parse_network("203.0.0.0/12"), 600.0, permanent=False, comment="", force=False
    )
    found = engine.covering(parse_network("203.0.113.7"))
    assert ("web", "203.0.0.0/12") in [(b.jail, b.address) for b in found]
    assert found == scanned(engine, parse_network("203.0.113.7"))
