"""The decisions stage with a fake clock: counting, ignoring, escalating, recidive."""

from __future__ import annotations

import ipaddress
from pathlib import Path

import pytest

from journalban.addresses import parse_address, parse_network
from journalban.clock import FakeClock
from journalban.config.schema import BantimeIncrement, JailConfig, RecidiveConfig
from journalban.decisions.engine import RECIDIVE, DecisionEngine
from journalban.decisions.ignore import IgnoreList
from journalban.errors import AddressIgnored, NoSuchJail, NotBanned
from journalban.events import LineBatch
from journalban.matching.engine import MATCHED, Outcome
from journalban.state.store import StateStore

NOW = 1_800_000_000.0
LAN = (ipaddress.ip_network("192.168.1.10/32"), ipaddress.ip_network("192.168.1.0/24"))
PUBLIC_ONLINK = (ipaddress.ip_network("198.51.100.7/32"), ipaddress.ip_network("198.51.100.0/24"))


def _engine(
    tmp_path: Path, clock: FakeClock, recidive: RecidiveConfig | None = None, **jail: object
) -> DecisionEngine:
    store = StateStore(tmp_path / "state.sqlite")
    engine = DecisionEngine(store, clock, recidive or RecidiveConfig(enabled=False))
    cfg = JailConfig(name="sshd", **jail)  # type: ignore[arg-type]
    engine.configure(
        {"sshd": cfg},
        {
            "sshd": IgnoreList(
                cfg.ignoreip,
                ignore_local_networks=cfg.ignore_local_networks,
                interfaces=[LAN, PUBLIC_ONLINK],
            )
        },
    )
    return engine


def _feed(engine: DecisionEngine, hits: list[tuple[str, float]], jail: str = "sshd") -> list[str]:
    """Failures (address, time) as one batch; the addresses banned, committed."""
    lines = [f"fail from {a}" for a, _ in hits]
    outcomes = [
        Outcome(MATCHED, i, parse_address(a), a, None, t, 0) for i, (a, t) in enumerate(hits)
    ]
    changes = engine.process(jail, LineBatch("journal", lines, "c1", prefixed=False), outcomes)
    engine.store.commit(changes.commits)
    return [b.address for b in changes.bans]


def test_ban_at_maxretry_within_findtime(tmp_path: Path) -> None:
    clock = FakeClock(NOW)
    engine = _engine(tmp_path, clock, maxretry=3, findtime=600.0)
    assert _feed(engine, [("203.0.113.5", NOW - 30), ("203.0.113.5", NOW - 20)]) == []
    assert _feed(engine, [("203.0.113.5", NOW - 10)]) == ["203.0.113.5"]
    ban = engine.list_bans()[0]
    assert ban.banned_at == NOW - 10
    assert ban.expires_at == NOW - 10 + 600.0


def test_failures_older_than_findtime_do_not_count(tmp_path: Path) -> None:
    engine = _engine(tmp_path, FakeClock(NOW), maxretry=3, findtime=60.0)
    hits = [("203.0.113.5", NOW - 300), ("203.0.113.5", NOW - 200), ("203.0.113.5", NOW - 100)]
    assert _feed(engine, hits) == []


def test_date_in_the_future_counts_as_now(tmp_path: Path) -> None:
    engine = _engine(tmp_path, FakeClock(NOW), maxretry=1)
    _feed(engine, [("203.0.113.5", NOW + 86400)])
    assert engine.list_bans()[0].banned_at == NOW


@pytest.mark.parametrize(
    "address",
    ["127.0.0.1", "::1", "192.168.1.10", "192.168.1.77", "169.254.3.3", "fe80::1", "198.51.100.7"],
)
def test_never_bans_own_loopback_or_local_addresses(tmp_path: Path, address: str) -> None:
    engine = _engine(tmp_path, FakeClock(NOW), maxretry=1)
    assert _feed(engine, [(address, NOW)]) == []


def test_public_onlink_neighbours_are_not_ignored(tmp_path: Path) -> None:
    engine = _engine(tmp_path, FakeClock(NOW), maxretry=1)
    assert _feed(engine, [("198.51.100.8", NOW)]) == ["198.51.100.8"]


def test_local_networks_can_be_banned_when_the_admin_says_so(tmp_path: Path) -> None:
    engine = _engine(tmp_path, FakeClock(NOW), maxretry=1, ignore_local_networks=False)
    assert _feed(engine, [("192.168.1.77", NOW)]) == ["192.168.1.77"]
    assert _feed(engine, [("192.168.1.10", NOW)]) == []  # the host's own, always


def test_ignoreip_addresses_and_prefixes(tmp_path: Path) -> None:
    engine = _engine(
        tmp_path, FakeClock(NOW), maxretry=1, ignoreip=("203.0.113.0/24", "2001:db8::5")
    )
    assert _feed(engine, [("203.0.113.9", NOW), ("2001:db8::5", NOW)]) == []
    assert _feed(engine, [("203.0.114.9", NOW)]) == ["203.0.114.9"]


def test_ipv6_counted_and_banned_per_prefix(tmp_path: Path) -> None:
    engine = _engine(tmp_path, FakeClock(NOW), maxretry=3)
    hits = [("2001:db8:1:2::1", NOW), ("2001:db8:1:2::2", NOW), ("2001:db8:1:2:ffff::9", NOW)]
    assert _feed(engine, hits) == ["2001:db8:1:2::/64"]


def test_ipv6_per_address_with_prefix_128(tmp_path: Path) -> None:
    engine = _engine(tmp_path, FakeClock(NOW), maxretry=2, ipv6_prefix=128)
    assert _feed(engine, [("2001:db8::1", NOW), ("2001:db8::2", NOW)]) == []


def test_tracked_addresses_are_capped_oldest_first(tmp_path: Path) -> None:
    engine = _engine(tmp_path, FakeClock(NOW), maxretry=2, max_tracked=3)
    _feed(engine, [(f"203.0.113.{i}", NOW) for i in range(1, 5)])
    counter = engine.jails["sshd"].counter
    assert len(counter) == 3
    assert counter.evicted == 1
    assert _feed(engine, [("203.0.113.1", NOW)]) == []  # its first failure was evicted
    assert _feed(engine, [("203.0.113.4", NOW)]) == ["203.0.113.4"]


def test_repeat_offenders_banned_longer_with_factor_and_cap(tmp_path: Path) -> None:
    clock = FakeClock(NOW)
    inc = BantimeIncrement(enabled=True, factor=3.0, maxtime=5000.0)
    engine = _engine(tmp_path, clock, maxretry=1, bantime=600.0, increment=inc)
    lengths = []
    for _ in range(4):
        _feed(engine, [("203.0.113.5", clock.now())])
        ban = engine.list_bans()[0]
        assert ban.expires_at is not None
        lengths.append(ban.expires_at - ban.banned_at)
        engine.store.commit(engine.unban(ban.network, None, "manual").commits)
        clock.advance(10)
    assert lengths == [600.0, 1800.0, 5000.0, 5000.0]


def test_repeat_offenders_with_multipliers(tmp_path: Path) -> None:
    clock = FakeClock(NOW)
    inc = BantimeIncrement(enabled=True, multipliers=(1, 2, 10), maxtime=None)
    engine = _engine(tmp_path, clock, maxretry=1, bantime=60.0, increment=inc)
    lengths = []
    for _ in range(4):
        _feed(engine, [("203.0.113.5", clock.now())])
        ban = engine.list_bans()[0]
        assert ban.expires_at is not None
        lengths.append(ban.expires_at - ban.banned_at)
        engine.store.commit(engine.unban(ban.network, None, "manual").commits)
    assert lengths == [60.0, 120.0, 600.0, 600.0]


def test_ban_decided_while_catching_up_is_skipped_when_already_expired(tmp_path: Path) -> None:
    clock = FakeClock(NOW)
    engine = _engine(tmp_path, clock, maxretry=2, bantime=600.0)
    old = NOW - 3600
    assert _feed(engine, [("203.0.113.5", old), ("203.0.113.5", old + 1)]) == []
    # Failures inside that (virtual) ban were blocked at the time: they do not count.
    assert _feed(engine, [("203.0.113.5", old + 100), ("203.0.113.5", old + 200)]) == []
    # A backlog ban that is still running is made, starting at its failure's time.
    assert _feed(engine, [("203.0.113.6", NOW - 100), ("203.0.113.6", NOW - 90)]) == ["203.0.113.6"]
    assert engine.list_bans()[0].banned_at == NOW - 90


def test_a_backlog_ban_already_over_holds_through_expiry_chores(tmp_path: Path) -> None:
    """The expiry chore runs every second while a backlog is read: a ban that was over
    before it was decided (virtual) must keep its failures from counting until the
    lines read pass its end, however many chores ran in between (it was dropped at the
    first chore, so how much of a backlog it held depended on the reading speed)."""
    clock = FakeClock(NOW)
    engine = _engine(tmp_path, clock, maxretry=2, bantime=600.0)
    jail = engine.jails["sshd"]
    old = NOW - 3600
    assert _feed(engine, [("203.0.113.5", old), ("203.0.113.5", old + 1)]) == []
    assert jail.total_failed == 2
    for step in range(3):
        clock.advance(1)
        engine.store.commit(engine.expire().commits)
        _feed(engine, [("203.0.113.5", old + 100 + step)])
    assert jail.total_failed == 2  # inside the ban: not counted
    # Once the lines read are past the ban's end, the address counts anew.
    _feed(engine, [("203.0.113.6", old + 700)])
    engine.store.commit(engine.expire().commits)
    _feed(engine, [("203.0.113.5", old + 800)])
    assert jail.total_failed == 4
    assert _feed(engine, [("203.0.113.5", NOW - 10), ("203.0.113.5", NOW - 5)]) == ["203.0.113.5"]


def test_a_backlog_ban_lifted_by_the_clock_holds_until_the_lines_read_pass_its_end(
    tmp_path: Path,
) -> None:
    """A ban decided while catching up that ends, by the clock, before the reading reaches
    its end: the expiry chore lifts it (the firewall drops it), but the failures of its span
    read after that must not count, as when no chore ran before them (they counted before,
    so a catch-up's failures and bans depended on when the chore ran: on the load)."""
    old = NOW - 595  # its ban (600 s) ends 6 s after NOW

    def catch_up(chores: int) -> tuple[int, int, list[str]]:
        clock = FakeClock(NOW)
        engine = _engine(tmp_path / str(chores), clock, maxretry=2, bantime=600.0)
        assert _feed(engine, [("203.0.113.5", old), ("203.0.113.5", old + 1)]) == ["203.0.113.5"]
        for _ in range(chores):
            clock.advance(5)
            engine.store.commit(engine.expire().commits)
        later = _feed(engine, [("203.0.113.5", old + 100), ("203.0.113.5", old + 200)])
        jail = engine.jails["sshd"]
        return jail.total_failed, jail.total_banned, later

    assert catch_up(0) == (2, 1, [])
    assert catch_up(3) == (2, 1, [])  # lifted at the second chore: still no count
    # Past its end (by the lines read) the address counts anew.
    clock = FakeClock(NOW)
    engine = _engine(tmp_path / "past", clock, maxretry=2, bantime=600.0)
    _feed(engine, [("203.0.113.5", old), ("203.0.113.5", old + 1)])
    clock.advance(10)
    engine.store.commit(engine.expire().commits)
    assert engine.list_bans() == []
    assert _feed(engine, [("203.0.113.5", old + 300)]) == []  # inside: not counted
    _feed(engine, [("203.0.113.6", old + 700)])  # the lines read pass its end
    engine.store.commit(engine.expire().commits)
    assert _feed(engine, [("203.0.113.5", old + 650), ("203.0.113.5", old + 710)]) == [
        "203.0.113.5"
    ]


def test_a_backlog_older_than_findtime_keeps_its_counts_across_expiry_chores(
    tmp_path: Path,
) -> None:
    """Counts are kept by the lines' times; the expiry chore runs by the clock. A backlog
    two hours old with findtime 10m: an address's three failures within two minutes ban
    it however many chores ran between them (each chore forgot every count whose last
    failure was findtime before the clock, all of the backlog's, so whether it was banned
    depended on the reading speed)."""
    clock = FakeClock(NOW)
    engine = _engine(tmp_path, clock, maxretry=3, findtime=600.0, bantime=86400.0)
    old = NOW - 7200
    assert _feed(engine, [("203.0.113.5", old), ("203.0.113.5", old + 60)]) == []
    clock.advance(1)
    engine.store.commit(engine.expire().commits)
    assert _feed(engine, [("203.0.113.5", old + 120)]) == ["203.0.113.5"]
    # Counts past findtime (by the lines read) are still forgotten.
    assert _feed(engine, [("203.0.113.6", old + 200), ("203.0.113.6", old + 300)]) == []
    _feed(engine, [("203.0.113.7", old + 1000)])
    clock.advance(1)
    engine.store.commit(engine.expire().commits)
    assert engine.jails["sshd"].counter.newest(10) == [("203.0.113.7/32", [old + 1000])]


def test_recidive_is_fed_by_the_agents_own_bans(tmp_path: Path) -> None:
    clock = FakeClock(NOW)
    rec = RecidiveConfig(enabled=True, maxretry=3, findtime=86400.0, bantime=604800.0)
    engine = _engine(tmp_path, clock, recidive=rec, maxretry=1, bantime=60.0)
    for _ in range(3):
        banned = _feed(engine, [("203.0.113.5", clock.now())])
        assert banned[0] == "203.0.113.5"
        clock.advance(120)
        engine.store.commit(engine.expire().commits)
    jails = sorted(b.jail for b in engine.list_bans())
    assert jails == [RECIDIVE]
    rec_ban = engine.list_bans(RECIDIVE)[0]
    assert rec_ban.expires_at == rec_ban.banned_at + 604800.0


def test_recidive_is_not_inflated_by_restores(tmp_path: Path) -> None:
    clock = FakeClock(NOW)
    rec = RecidiveConfig(enabled=True, maxretry=2)
    engine = _engine(tmp_path, clock, recidive=rec, maxretry=1, bantime=3600.0)
    _feed(engine, [("203.0.113.5", NOW)])
    for _ in range(5):  # restarts restore the same ban
        assert [b.jail for b in engine.load_bans()] == ["sshd"]
    assert engine.list_bans(RECIDIVE) == []


def test_manual_ban_expiry_only_grows(tmp_path: Path) -> None:
    clock = FakeClock(NOW)
    engine = _engine(tmp_path, clock)
    net = parse_network("203.0.113.5")
    ban, _ = engine.manual_ban("sshd", net, 3600.0, permanent=False, comment="", force=False)
    assert ban.expires_at == NOW + 3600.0
    again, _ = engine.manual_ban("sshd", net, 60.0, permanent=False, comment="", force=False)
    assert again.expires_at == NOW + 3600.0
    longer, _ = engine.manual_ban("sshd", net, 7200.0, permanent=False, comment="", force=False)
    assert longer.expires_at == NOW + 7200.0
    forever, _ = engine.manual_ban("sshd", net, 0, permanent=True, comment="", force=False)
    assert forever.expires_at is None


def test_manual_ban_force_overrides_ignoreip_only(tmp_path: Path) -> None:
    engine = _engine(tmp_path, FakeClock(NOW), ignoreip=("203.0.113.0/24",))
    with pytest.raises(AddressIgnored):
        engine.manual_ban(
            "sshd", parse_network("203.0.113.5"), 0, permanent=False, comment="", force=False
        )
    engine.manual_ban(
        "sshd", parse_network("203.0.113.5"), 0, permanent=False, comment="", force=True
    )
    with pytest.raises(AddressIgnored):
        engine.manual_ban(
            "sshd", parse_network("192.168.1.10"), 0, permanent=False, comment="", force=True
        )
    with pytest.raises(AddressIgnored):
        engine.manual_ban(
            "sshd", parse_network("192.168.1.0/25"), 0, permanent=False, comment="", force=True
        )


def test_unknown_jail_and_not_banned_are_named_errors(tmp_path: Path) -> None:
    engine = _engine(tmp_path, FakeClock(NOW))
    with pytest.raises(NoSuchJail):
        engine.manual_ban(
            "nope", parse_network("203.0.113.5"), 0, permanent=False, comment="", force=False
        )
    with pytest.raises(NotBanned):
        engine.unban(parse_network("203.0.113.5"), None, "manual")


def test_expired_bans_are_lifted_with_reason(tmp_path: Path) -> None:
    clock = FakeClock(NOW)
    engine = _engine(tmp_path, clock, maxretry=1, bantime=60.0)
    _feed(engine, [("203.0.113.5", NOW)])
    clock.advance(61)
    changes = engine.expire()
    assert [(b.address, reason) for b, reason in changes.unbans] == [("203.0.113.5", "expired")]


def test_pending_failures_survive_a_restart(tmp_path: Path) -> None:
    clock = FakeClock(NOW)
    engine = _engine(tmp_path, clock, maxretry=3)
    _feed(engine, [("203.0.113.5", NOW), ("203.0.113.5", NOW)])
    engine.store.close()
    again = _engine(tmp_path, clock, maxretry=3)
    assert _feed(again, [("203.0.113.5", NOW)]) == ["203.0.113.5"]
    assert again.jails["sshd"].total_failed == 3
