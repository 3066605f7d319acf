"""Listeners told of a run of bans at once (``banned_all``) end as told ban by ban."""

from __future__ import annotations

import ipaddress
from typing import Any

import pytest

from journalban.agent.news import tell
from journalban.clock import FakeClock
from journalban.config.enforcement import EnforcementConfig
from journalban.enforce.service import EnforcementService
from journalban.events import Ban, LineBatch

NOW = 1_000_000.0


def _bans() -> list[Ban]:
    return [
        Ban("sshd", ipaddress.ip_network("192.0.2.1/32"), NOW - 5, NOW + 600, reason="account"),
        Ban("sshd", ipaddress.ip_network("2001:db8::/64"), NOW - 3, None, reason="failures"),
        Ban("postfix", ipaddress.ip_network("198.51.100.0/24"), NOW, NOW + 60, reason="subnet"),
        Ban("sshd", ipaddress.ip_network("192.0.2.7/32"), NOW, NOW + 9, source="manual"),
        Ban("sshd", ipaddress.ip_network("192.0.2.8/32"), NOW, NOW + 9, source="fleet:web1"),
    ]


async def _sink(jail: str, batch: LineBatch) -> None:
    pass


def test_the_enforcement_table_holds_the_same_bans() -> None:
    one, many = (EnforcementService(EnforcementConfig({}), FakeClock(NOW), _sink) for _ in "ab")
    for ban in _bans():
        one.banned(ban)
    many.banned_all(_bans())
    for text in ("192.0.2.1", "2001:db8::5", "198.51.100.77", "192.0.2.7", "192.0.2.9"):
        address = ipaddress.ip_address(text)
        for jails in (["sshd"], ["postfix"], ["sshd", "postfix"]):
            assert one.table.banned(address, jails, NOW) == many.table.banned(address, jails, NOW)
    assert many.table.banned(ipaddress.ip_address("198.51.100.77"), ["postfix"], NOW) == "postfix"


def test_the_metrics_count_the_same() -> None:
    prometheus = pytest.importorskip("prometheus_client")
    from journalban.metrics.tally import EventTally

    samples = []
    for bulk in (False, True):
        registry = prometheus.CollectorRegistry()
        counted = EventTally(registry, FakeClock(NOW))
        if bulk:
            counted.banned_all(_bans())
        else:
            for ban in _bans():
                counted.banned(ban)
        samples.append(
            sorted(
                (s.name, tuple(sorted(s.labels.items())), s.value)
                for metric in registry.collect()
                for s in metric.samples
                if not s.name.endswith("_created")
            )
        )
    assert samples[0] == samples[1]
    assert any(
        name.startswith("journalban_ban_decisions") and value == 1 for name, _, value in samples[1]
    )


class _OneByOne:
    def __init__(self) -> None:
        self.told: list[tuple[str, Any]] = []

    def banned(self, ban: Ban) -> None:
        self.told.append(("banned", ban))

    def unbanned(self, ban: Ban, reason: str) -> None:
        self.told.append((reason, ban))


class _Bulk(_OneByOne):
    def banned_all(self, bans: list[Ban]) -> None:
        self.told.append(("all", list(bans)))


def test_tell_hands_a_run_whole_to_who_takes_it_and_ban_by_ban_else() -> None:
    bans = _bans()
    plain, bulk = _OneByOne(), _Bulk()
    for listener in (plain, bulk):
        tell(listener, bans, None)  # type: ignore[arg-type]
        tell(listener, bans[:2], "expired")  # type: ignore[arg-type]
    assert plain.told == [("banned", b) for b in bans] + [("expired", b) for b in bans[:2]]
    assert bulk.told == [("all", bans)] + [("expired", b) for b in bans[:2]]
