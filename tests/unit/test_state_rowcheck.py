"""Stored ban rows damaged in the file are told apart from readable ones, and counted."""

from __future__ import annotations

from typing import Any

from journalban.firewall.base import StoredBan
from journalban.state.banrows import bans_of
from journalban.state.rowcheck import readable_rows

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
