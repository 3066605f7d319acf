"""FailureCounter: failures within findtime per network, in any arrival order."""

from __future__ import annotations

import ipaddress

from journalban.jails.counter import FailureCounter

NET = ipaddress.ip_network("203.0.113.5/32")


def test_failures_older_than_findtime_before_the_latest_are_dropped() -> None:
    counter: FailureCounter[ipaddress.IPv4Network | ipaddress.IPv6Network] = FailureCounter(
        maxretry=5, findtime=60.0, max_tracked=10
    )
    assert [counter.add(NET, t) for t in (0.0, 30.0, 61.0, 200.0)] == [1, 2, 2, 1]


def test_late_lines_are_counted_in_time_order() -> None:
    counter: FailureCounter[ipaddress.IPv4Network | ipaddress.IPv6Network] = FailureCounter(
        maxretry=5, findtime=60.0, max_tracked=10
    )
    counter.add(NET, 100.0)
    assert counter.add(NET, 50.0) == 2  # within findtime of the latest
    assert counter.add(NET, 10.0) == 2  # older than findtime before 100: dropped


def test_zero_findtime_keeps_nothing() -> None:
    counter: FailureCounter[ipaddress.IPv4Network | ipaddress.IPv6Network] = FailureCounter(
        maxretry=5, findtime=0.0, max_tracked=10
    )
    assert counter.add(NET, 10.0) == 0
