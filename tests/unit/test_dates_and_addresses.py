"""Dates in every supported format, and addresses parsed strictly."""

from __future__ import annotations

import calendar
import os
import time
from collections.abc import Iterator
from ipaddress import ip_address

import pytest

from journalban.addresses import looks_like_hostname, parse_address
from journalban.matching.dates import DateReader

UTC_NOON = calendar.timegm((2026, 11, 21, 12, 0, 0))


@pytest.fixture(autouse=True)
def berlin_time() -> Iterator[None]:
    """Local time is Europe/Berlin (UTC+1 in November) for every test here."""
    old = os.environ.get("TZ")
    os.environ["TZ"] = "Europe/Berlin"
    time.tzset()
    yield
    if old is None:
        del os.environ["TZ"]
    else:
        os.environ["TZ"] = old
    time.tzset()


def _utc(*fields: int) -> float:
    return float(calendar.timegm((*fields, 0, 0, 0)[:9]))


@pytest.mark.parametrize(
    ("line", "utc"),
    [
        ("Nov 21 10:00:01 host sshd[1]: x", _utc(2026, 11, 21, 9, 0, 1)),
        ("2026-11-21T10:00:01+01:00 host sshd[1]: x", _utc(2026, 11, 21, 9, 0, 1)),
        ("2026-11-21T10:00:01.250Z x", _utc(2026, 11, 21, 10, 0, 1) + 0.25),
        ("2026-11-21T10:00:01-0530 x", _utc(2026, 11, 21, 15, 30, 1)),
        ("[Sat Nov 21 10:00:01.123456 2026] [auth_basic:error] x", _utc(2026, 11, 21, 9, 0, 1) + 0.123456),
        ('203.0.113.5 - - [21/Nov/2026:10:00:01 +0100] "GET / HTTP/1.1" 401', _utc(2026, 11, 21, 9, 0, 1)),
        ("[12-Jul-2022 08:56:39 +0200]: IMAP Error", _utc(2022, 7, 12, 6, 56, 39)),
        ("21-Nov-2026 10:14:00.123 client x", _utc(2026, 11, 21, 9, 14, 0) + 0.123),
        ("2026/11/21 10:15:00 [error] 1#0: x", _utc(2026, 11, 21, 9, 15, 0)),
        ("2026-11-21 10:13:00 H=(x) [203.0.113.5] x", _utc(2026, 11, 21, 9, 13, 0)),
        ("Sat Nov 21 10:11:12 2026 [pid 1] FAIL LOGIN", _utc(2026, 11, 21, 9, 11, 12)),
        ("1795770001 x", 1795770001.0),
        ("Nov 21 2026 10:00:01 host screensharingd[1]: x", _utc(2026, 11, 21, 9, 0, 1)),
        ("21-11-2026 10:00:01 +0300 PROXY.3128 00004 - x", _utc(2026, 11, 21, 7, 0, 1)),
        ("21-11-2026 10:00:01 PROXY.3128 00004 - x", _utc(2026, 11, 21, 9, 0, 1)),
        ("[CET Nov 21 10:00:01] error    : Warning: x", _utc(2026, 11, 21, 9, 0, 1)),
        ("2026.11.21 10:00:01 LOG3[28228:1400]: SSL_accept x", _utc(2026, 11, 21, 9, 0, 1)),
        ('{"t":{"$date":"2026-11-21T10:00:01.250+01:00"},"s":"I"}', _utc(2026, 11, 21, 9, 0, 1) + 0.25),
    ],
)  # fmt: skip
def test_every_date_format_reads_to_the_right_instant(line: str, utc: float) -> None:
    found = DateReader(lambda: UTC_NOON).find(line)
    assert found is not None
    assert found.time == pytest.approx(utc, abs=1e-6)


def test_tai64n_follows_daemontools_label() -> None:
    unix = 1795770001
    label = f"@{2**62 + 10 + unix:016x}{500_000_000:08x} tcpserver: status"
    found = DateReader(lambda: UTC_NOON).find(label)
    assert found is not None
    assert found.time == pytest.approx(unix + 0.5)


def test_syslog_december_line_read_in_january_is_last_year() -> None:
    january = calendar.timegm((2027, 1, 2, 8, 0, 0))
    found = DateReader(lambda: january).find("Dec 31 23:59:59 host sshd[1]: x")
    assert found is not None
    assert time.localtime(found.time)[:3] == (2026, 12, 31)


def test_syslog_line_of_today_stays_this_year() -> None:
    found = DateReader(lambda: UTC_NOON).find("Nov 21 10:00:01 host x")
    assert found is not None
    assert time.localtime(found.time).tm_year == 2026


def test_the_winning_format_is_remembered_and_counted() -> None:
    reader = DateReader(lambda: UTC_NOON)
    reader.find("2026/11/21 10:15:00 x")
    reader.find("2026/11/21 10:15:01 x")
    assert reader.hits == {"yyyy/mm/dd (nginx)": 2}


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("203.0.113.5", "203.0.113.5"),
        ("::ffff:203.0.113.9", "203.0.113.9"),
        ("[2001:db8::17]", "2001:db8::17"),
        ("2001:DB8::17", "2001:db8::17"),
        ("999.1.1.1", None),
        ("", None),
        ("192.030.0.6", None),
        ("fe80::1%eth0", None),
        ("localhost", None),
        ("attacker.example.com", None),
    ],
)
def test_addresses_are_parsed_strictly(text: str, expected: str | None) -> None:
    parsed = parse_address(text)
    assert (None if parsed is None else str(parsed)) == expected
    if expected is not None:
        assert parsed == ip_address(expected)


def test_host_names_are_recognised_and_never_resolved(monkeypatch: pytest.MonkeyPatch) -> None:
    import socket

    def no_lookups(*args: object, **kwargs: object) -> None:
        raise AssertionError("a host name was resolved")

    monkeypatch.setattr(socket, "getaddrinfo", no_lookups)
    monkeypatch.setattr(socket, "gethostbyname", no_lookups)
    assert parse_address("www.example.org") is None
    assert looks_like_hostname("www.example.org")
    assert not looks_like_hostname("203.0.113.5")
