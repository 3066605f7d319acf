"""The FirewallBackend contract, checked against every backend in ``backends.BACKENDS``.

Kernel backends run inside a namespace of the test's own and keep real time, so
every call takes ``now`` from the clock and expiries are compared with slack.
"""

from __future__ import annotations

import ipaddress
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from conformance.backends import BACKENDS, Harness
from journalban.addresses import IPNetwork
from journalban.firewall.base import BanEntry, JailRules, PortRange

SSH = JailRules("sshd", (PortRange(22, 22),), ("tcp",))
WEB = JailRules("web", (PortRange(80, 80), PortRange(443, 443)), ("tcp", "udp"))
SLACK = 2.0


@pytest.fixture(params=sorted(BACKENDS))
def harness(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Harness]:
    with BACKENDS[request.param](tmp_path) as h:
        h.call(lambda: h.backend.setup([SSH, WEB]))
        yield h
        h.call(h.backend.teardown)


def net(text: str) -> IPNetwork:
    return ipaddress.ip_network(text)


def listed(h: Harness, now: float | None = None) -> dict[tuple[str, IPNetwork], float | None]:
    at = time.time() if now is None else now
    return {(e.jail, e.network): e.expires_at for e in h.call(lambda: h.backend.list(at))}


def apply(h: Harness, add: list[BanEntry], remove: list[BanEntry], now: float) -> None:
    h.call(lambda: h.backend.apply(add, remove, now))


def test_applied_ban_is_listed_with_its_expiry(harness: Harness) -> None:
    now = time.time()
    apply(harness, [BanEntry("sshd", net("192.0.2.1/32"), now + 600)], [], now)
    expiry = listed(harness)[("sshd", net("192.0.2.1/32"))]
    assert expiry is not None
    assert abs(expiry - (now + 600)) <= SLACK


def test_permanent_ban_is_listed_without_expiry(harness: Harness) -> None:
    now = time.time()
    apply(harness, [BanEntry("web", net("2001:db8::5/128"), None)], [], now)
    assert listed(harness)[("web", net("2001:db8::5/128"))] is None


def test_prefix_ban_is_listed_as_the_prefix(harness: Harness) -> None:
    now = time.time()
    apply(harness, [BanEntry("sshd", net("198.51.100.0/24"), now + 600)], [], now)
    assert ("sshd", net("198.51.100.0/24")) in listed(harness)


def test_removed_ban_is_no_longer_listed(harness: Harness) -> None:
    now = time.time()
    entry = BanEntry("sshd", net("192.0.2.2/32"), now + 600)
    apply(harness, [entry], [], now)
    apply(harness, [], [entry], now)
    assert ("sshd", entry.network) not in listed(harness)


def test_same_jail_and_address_in_two_jails_are_two_bans(harness: Harness) -> None:
    now = time.time()
    apply(harness, [BanEntry(j, net("192.0.2.3/32"), now + 600) for j in ("sshd", "web")], [], now)
    apply(harness, [], [BanEntry("web", net("192.0.2.3/32"), now + 600)], now)
    bans = listed(harness)
    assert ("sshd", net("192.0.2.3/32")) in bans
    assert ("web", net("192.0.2.3/32")) not in bans


def test_applying_the_same_batch_twice_is_idempotent(harness: Harness) -> None:
    now = time.time()
    batch = [BanEntry("sshd", net(f"192.0.2.{i}/32"), now + 600) for i in range(10, 20)]
    apply(harness, batch, [], now)
    first = listed(harness, now)
    apply(harness, batch, [], now)
    assert listed(harness, now).keys() == first.keys()


def test_adding_a_ban_again_refreshes_its_expiry(harness: Harness) -> None:
    now = time.time()
    apply(harness, [BanEntry("sshd", net("192.0.2.30/32"), now + 60)], [], now)
    apply(harness, [BanEntry("sshd", net("192.0.2.30/32"), now + 3600)], [], now)
    expiry = listed(harness)[("sshd", net("192.0.2.30/32"))]
    assert expiry is not None
    assert abs(expiry - (now + 3600)) <= SLACK


def test_removing_a_ban_that_is_not_there_is_not_an_error(harness: Harness) -> None:
    now = time.time()
    apply(harness, [], [BanEntry("sshd", net("192.0.2.40/32"), now + 60)], now)
    assert listed(harness) == {}


def test_entries_already_expired_are_skipped(harness: Harness) -> None:
    now = time.time()
    apply(harness, [BanEntry("sshd", net("192.0.2.41/32"), now - 1)], [], now)
    assert listed(harness) == {}


def test_ban_is_gone_after_its_expiry(harness: Harness) -> None:
    now = time.time()
    apply(harness, [BanEntry("sshd", net("192.0.2.42/32"), now + 1)], [], now)
    if harness.kernel_timeouts:
        time.sleep(1.3)
    assert ("sshd", net("192.0.2.42/32")) not in listed(harness, max(now + 1.3, time.time()))


def test_reconcile_makes_the_firewall_hold_exactly_what_is_wanted(harness: Harness) -> None:
    now = time.time()
    keep = BanEntry("sshd", net("192.0.2.50/32"), now + 600)
    drop = BanEntry("sshd", net("192.0.2.51/32"), now + 600)
    new = BanEntry("web", net("2001:db8::50/128"), None)
    apply(harness, [keep, drop], [], now)
    report = harness.call(lambda: harness.backend.reconcile([keep, new], now))
    assert set(listed(harness)) == {("sshd", keep.network), ("web", new.network)}
    assert new in report.added
    assert [(e.jail, e.network) for e in report.removed] == [("sshd", drop.network)]


def test_reconciling_what_is_held_changes_nothing(harness: Harness) -> None:
    now = time.time()
    bans = [BanEntry("sshd", net("192.0.2.60/32"), now + 600)]
    apply(harness, bans, [], now)
    report = harness.call(lambda: harness.backend.reconcile(bans, now))
    assert report.added == ()
    assert report.removed == ()


def test_setup_again_keeps_the_bans(harness: Harness) -> None:
    now = time.time()
    apply(harness, [BanEntry("sshd", net("192.0.2.70/32"), now + 600)], [], now)
    harness.call(lambda: harness.backend.setup([SSH, WEB]))
    assert ("sshd", net("192.0.2.70/32")) in listed(harness)


def test_backend_is_intact_after_setup(harness: Harness) -> None:
    assert harness.call(harness.backend.intact)


def test_counters_report_every_jail(harness: Harness) -> None:
    counters = harness.call(harness.backend.counters)
    assert set(counters) == {"sshd", "web"}
    assert all(c.packets >= 0 and c.bytes >= 0 for c in counters.values())


def test_teardown_leaves_no_bans_behind(harness: Harness) -> None:
    now = time.time()
    apply(harness, [BanEntry("sshd", net("192.0.2.80/32"), now + 600)], [], now)
    harness.call(harness.backend.teardown)
    harness.call(lambda: harness.backend.setup([SSH, WEB]))
    assert listed(harness) == {}
