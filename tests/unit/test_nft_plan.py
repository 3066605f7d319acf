"""Which elements the bans need: prefix covering and cutting, refreshes, the prefix policy."""

from __future__ import annotations

import ipaddress
import itertools

import pytest

from journalban.addresses import IPNetwork
from journalban.errors import AddressIgnored
from journalban.firewall.base import BanEntry
from journalban.firewall.nftables.plan import INF, BanBook, ElementOp, flatten, network_of
from journalban.firewall.nftables.prefixes import check_prefix

NOW = 1_000_000.0


def net(text: str) -> IPNetwork:
    return ipaddress.ip_network(text)


def ban(text: str, expires: float | None, jail: str = "sshd") -> BanEntry:
    return BanEntry(jail, net(text), expires)


def applied(book: BanBook, add: list[BanEntry], remove: list[BanEntry] = ()) -> list[ElementOp]:  # type: ignore[assignment]
    ops = book.plan(add, list(remove), NOW)
    book.commit(ops)
    return ops


def held(book: BanBook, kind: str) -> dict[IPNetwork, float]:
    version = 4 if kind in ("v4", "net4") else 6
    return {
        network_of(key, version): expiry
        for key, expiry in book.held.get(("sshd", kind), {}).items()  # type: ignore[arg-type]
    }


def test_address_inside_a_banned_prefix_gets_no_element() -> None:
    book = BanBook()
    applied(book, [ban("10.9.0.0/16", NOW + 100), ban("10.9.3.4", NOW + 50)])
    assert held(book, "v4") == {}
    assert held(book, "net4") == {net("10.9.0.0/16"): NOW + 100}


def test_address_outlasting_its_prefix_keeps_its_own_element() -> None:
    book = BanBook()
    applied(book, [ban("10.9.0.0/16", NOW + 100), ban("10.9.3.4", None)])
    assert held(book, "v4") == {net("10.9.3.4/32"): INF}


def test_removing_a_prefix_gives_covered_addresses_their_elements() -> None:
    book = BanBook()
    applied(book, [ban("10.9.0.0/16", NOW + 100), ban("10.9.3.4", NOW + 50)])
    applied(book, [], [ban("10.9.0.0/16", NOW + 100)])
    assert held(book, "net4") == {}
    assert held(book, "v4") == {net("10.9.3.4/32"): NOW + 50}


def test_narrower_prefix_ending_sooner_is_covered_by_the_wider_one() -> None:
    assert flatten({net("10.0.0.0/16"): NOW + 100, net("10.0.1.0/24"): NOW + 10}) == {
        net("10.0.0.0/16"): NOW + 100
    }


def test_wider_prefix_is_cut_around_a_narrower_one_that_outlasts_it() -> None:
    out = flatten({net("10.0.0.0/22"): NOW + 10, net("10.0.1.0/24"): INF})
    assert out == {
        net("10.0.0.0/24"): NOW + 10,
        net("10.0.1.0/24"): INF,
        net("10.0.2.0/23"): NOW + 10,
    }


def test_flattened_elements_never_overlap() -> None:
    prefixes = {
        net("10.0.0.0/16"): NOW + 5,
        net("10.0.4.0/22"): NOW + 50,
        net("10.0.5.0/24"): NOW + 500,
        net("10.0.6.0/24"): NOW + 1,
        net("10.1.0.0/16"): NOW + 7,
    }
    out = sorted(flatten(prefixes), key=lambda n: int(n.network_address))
    for a, b in itertools.pairwise(out):
        assert not a.overlaps(b)
    covered = sum(n.num_addresses for n in out)
    assert covered == 2 * 65536


def test_same_ban_applied_twice_changes_nothing() -> None:
    book = BanBook()
    applied(book, [ban("192.0.2.1", NOW + 60)])
    assert applied(book, [ban("192.0.2.1", NOW + 60)]) == []


def test_new_expiry_deletes_then_adds_the_element() -> None:
    book = BanBook()
    applied(book, [ban("192.0.2.1", NOW + 60)])
    ops = applied(book, [ban("192.0.2.1", NOW + 600)])
    assert [(op.delete, op.expiry) for op in ops] == [(True, NOW + 60), (False, NOW + 600)]


def test_expired_entries_are_skipped() -> None:
    assert BanBook().plan([ban("192.0.2.1", NOW - 1)], [], NOW) == []


def test_removing_an_element_that_expired_in_the_kernel_sends_nothing() -> None:
    book = BanBook()
    applied(book, [ban("192.0.2.1", NOW + 1)])
    assert book.plan([], [ban("192.0.2.1", NOW + 1)], NOW + 5) == []


def test_check_prefix_refuses_prefixes_wider_than_the_minimum() -> None:
    with pytest.raises(AddressIgnored, match="minimum"):
        check_prefix(net("10.0.0.0/8"), min_v4=16)
    with pytest.raises(AddressIgnored, match="minimum"):
        check_prefix(net("2001:d00::/24"), min_v6=32)


def test_check_prefix_refuses_prefixes_around_or_inside_protected_networks() -> None:
    own = [net("192.0.2.10/32"), net("198.51.100.0/24")]
    with pytest.raises(AddressIgnored, match="protected"):
        check_prefix(net("192.0.2.0/24"), protected_networks=own)
    with pytest.raises(AddressIgnored, match="protected"):
        check_prefix(net("198.51.100.128/25"), protected_networks=own)
    with pytest.raises(AddressIgnored, match="protected"):
        check_prefix(net("127.0.0.0/16"))


def test_check_prefix_accepts_a_prefix_clear_of_protected_networks() -> None:
    check_prefix(net("203.0.113.0/24"), protected_networks=[net("192.0.2.0/24")])
    check_prefix(net("2001:db8:1::/48"), protected_networks=[net("192.0.2.0/24")])
