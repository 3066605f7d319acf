"""Stored ban rows damaged in the file are told apart from readable ones, and counted."""

from __future__ import annotations

from typing import Any

from journalban.firewall.base import StoredBan
from journalban.state.banrows import bans_of
from journalban.state.rowcheck import host_rows, readable_rows

GOOD: list[StoredBan] = [
    ("sshd", "192.0.2.1/32", 100.0),
    ("sshd", "2001:db8::/64", None),
    ("sshd", "2001:db8::/32", 50.0),  # an IPv6 /32: not the IPv4 shortcut
    ("postfix-sasl", "198.51.100.0/24", 7),
    ("apache.auth", "192.0.2.2/32", None),  # a fail2ban import's name: still read
]
# Damaged rows hold whatever SQLite returned: any type where text belongs.
BAD: list[tuple[Any, Any, Any]] = [
    ("sshd", "192.0.2.300/32", None),
    ("sshd", "not-an-address", None),
    ("sshd", 12345, None),
    ("sshd", b"\xc0\x00\x02\x01", None),
    (b"\xff\x00", "192.0.2.3/32", None),
    ("", "192.0.2.4/32", None),
    ("ss hd", "192.0.2.5/32", None),
    ("sshd", "192.0.2.6/32", "soon"),
    ("sshd", "192.0.2.7/32", True),
]


def test_readable_rows_keeps_the_good_and_counts_the_damaged() -> None:
    rows = [GOOD[0], *BAD[:4], *GOOD[1:], *BAD[4:]]
    kept, skipped = readable_rows(rows)
    assert list(kept) == GOOD
    assert skipped == len(BAD)


def test_clean_rows_are_not_copied() -> None:
    kept, skipped = readable_rows(GOOD)
    assert kept is GOOD
    assert skipped == 0


def test_the_ban_table_skips_the_rows_the_restore_skips() -> None:
    rows = [
        (jail, net, 1.0, exp, 1, "failures", 3, "journal") for jail, net, exp in [*GOOD, *BAD[:7]]
    ]
    texts: list[str] = []
    bans = bans_of(rows, texts)
    assert [(b.jail, t) for b, t in zip(bans, texts, strict=True)] == [(j, n) for j, n, _ in GOOD]


HOSTS: list[StoredBan] = [
    ("sshd", "192.0.2.1/32", 100.0),
    ("sshd", "192.0.2.2/32", 300.5),
    ("web", "203.0.113.9/32", 60.0),
    ("sshd", "192.0.2.3/32", 200.0),  # a jail's second run
]


def test_rows_of_single_ipv4_addresses_are_parsed_at_once() -> None:
    hosts = host_rows(HOSTS)
    assert hosts is not None
    assert hosts.runs == (("sshd", 2), ("web", 1), ("sshd", 1))
    assert hosts.addresses == [0xC0000201, 0xC0000202, 0xCB007109, 0xC0000203]
    # As a sequence: the rows themselves.
    assert list(hosts) == HOSTS
    assert len(hosts) == 4
    assert [hosts[i] for i in range(-4, 4)] == HOSTS + HOSTS
    assert hosts[1:3] == HOSTS[1:3]
    assert list(hosts.only(lambda jail: jail == "sshd")) == [HOSTS[0], HOSTS[1], HOSTS[3]]
    assert hosts.only(lambda jail: True) is hosts


def test_rows_not_all_single_ipv4_addresses_are_not_parsed_at_once() -> None:
    assert host_rows([]) is None
    for row in [*GOOD[1:], *BAD]:
        assert host_rows([HOSTS[0], row]) is None, row  # each one read as it is
    assert host_rows([HOSTS[0], ("sshd", "010.1.1.1/32", 5.0)]) is None  # not canonical
    assert host_rows([HOSTS[0], ("sshd", "192.0.2.1/32/32", 5.0)]) is None
    assert host_rows([HOSTS[0], ("sshd", "192.0.2.1\0/32", 5.0)]) is None
    assert host_rows([HOSTS[0], ("sshd", "192.0.2.1/32", 5)]) is None  # not a float


def test_the_ban_table_of_parsed_rows_is_the_table_of_the_rows() -> None:
    rows = [(jail, net, 1.0, exp, 2, "failures", 3, "journal") for jail, net, exp in HOSTS]
    hosts = host_rows(rows, expiry=3)
    assert hosts is not None
    texts: list[str] = []
    fast = bans_of(rows, texts, hosts=hosts)
    plain_texts: list[str] = []
    assert fast == bans_of(rows, plain_texts)
    assert texts == plain_texts
    assert [repr(b) for b in fast] == [repr(b) for b in bans_of(rows)]
