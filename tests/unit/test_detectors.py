"""Detectors beyond the per-address count, alone and in the decisions stage."""

from __future__ import annotations

import ipaddress
import json
from pathlib import Path
from typing import Any

import pytest

from journalban.clock import FakeClock
from journalban.config.detectors import (
    AccountConfig,
    AttackModeConfig,
    DenyUsersConfig,
    DetectorsConfig,
    SlowConfig,
    SubnetConfig,
)
from journalban.config.schema import JailConfig, RecidiveConfig
from journalban.config.validate import build_config
from journalban.config.yamlsource import Marks
from journalban.decisions.engine import DecisionEngine
from journalban.decisions.ignore import IgnoreList
from journalban.errors import ConfigError
from journalban.events import FAILURE, SUCCESS, Hit, LineBatch
from journalban.jails.account import AccountAttack
from journalban.jails.attackmode import AttackMode
from journalban.jails.buckets import BUCKETS
from journalban.jails.denyusers import DenyUsers
from journalban.jails.detector import Seen, Verdict
from journalban.jails.slow import SlowWindow
from journalban.state.store import StateStore

NOW = 1_800_000_000.0
OWN = (ipaddress.ip_network("198.51.100.7/32"), ipaddress.ip_network("198.51.100.0/24"))


# --- the detectors alone -------------------------------------------------------


def test_deny_users_is_case_sensitive_with_globs() -> None:
    deny = DenyUsers(DenyUsersConfig(("root", "ora*")))
    assert deny.observe(Seen("203.0.113.5", "root", NOW))[0][0] == "deny_user"
    assert deny.observe(Seen("203.0.113.5", "oracle2", NOW))
    assert not deny.observe(Seen("203.0.113.5", "Root", NOW))
    assert not deny.observe(Seen("203.0.113.5", None, NOW))


def test_slow_window_bans_low_and_slow_within_the_long_window() -> None:
    slow = SlowWindow(SlowConfig(maxretry=4, findtime=86400.0), 1000)
    hours = [0, 5, 11, 17]
    verdicts = [v for h in hours for v in slow.observe(Seen("203.0.113.5", None, NOW + h * 3600))]
    assert [v[0] for v in verdicts] == ["slow"]


def test_slow_window_forgets_failures_older_than_the_window() -> None:
    slow = SlowWindow(SlowConfig(maxretry=3, findtime=86400.0), 1000)
    for day in range(6):
        assert not slow.observe(Seen("203.0.113.5", None, NOW + day * 86400 * 0.6))


def test_slow_window_keeps_counts_not_timestamps() -> None:
    slow = SlowWindow(SlowConfig(maxretry=100_000, findtime=86400.0), 1000)
    for i in range(5000):
        slow.observe(Seen("203.0.113.5", None, NOW + i * 17.0))
    pairs = slow.keys.get("203.0.113.5")
    assert isinstance(pairs, list)
    assert len(pairs) <= 2 * BUCKETS, "at most one (bucket, count) pair per bucket"


def test_slow_window_keeps_a_first_failure_as_its_shared_bucket_with_the_same_row() -> None:
    slow = SlowWindow(SlowConfig(maxretry=4, findtime=86400.0), 1000)
    slow.observe(Seen("203.0.113.1/32", None, NOW))
    slow.observe(Seen("203.0.113.2/32", None, NOW + 1.0))
    one, two = slow.keys.get("203.0.113.1/32"), slow.keys.get("203.0.113.2/32")
    assert type(one) is int, "the bucket alone, not a list"
    assert one is two, "one int a bucket, not one a key"
    bucket = int(NOW // (86400.0 / BUCKETS))
    rows = dict(slow.changes())
    assert rows["203.0.113.1/32"] == json.dumps([bucket, 1])
    slow.observe(Seen("203.0.113.1/32", None, NOW + 2.0))
    assert slow.keys.get("203.0.113.1/32") == [bucket, 2]
    assert dict(slow.changes()) == {"203.0.113.1/32": json.dumps([bucket, 2])}
    again = SlowWindow(SlowConfig(maxretry=4, findtime=86400.0), 1000)
    row = rows["203.0.113.2/32"]
    assert row is not None
    again.restore([("203.0.113.2/32", row)], NOW + 3.0)
    for i in range(2):
        assert not again.observe(Seen("203.0.113.2/32", None, NOW + 4.0 + i))
    assert again.observe(Seen("203.0.113.2/32", None, NOW + 9.0))[0][0] == "slow"


def test_account_under_attack_bans_every_address_seen_and_then_each_first_failure() -> None:
    account = AccountAttack(AccountConfig(addresses=3, findtime=3600.0, hold=600.0), 1000)
    assert not account.observe(Seen("203.0.113.1", "alice", NOW))
    assert not account.observe(Seen("198.51.100.9", "alice", NOW + 1, known_good=True))
    assert not account.observe(Seen("203.0.113.2", "alice", NOW + 2))
    started = [Verdict(*v) for v in account.observe(Seen("192.0.2.3", "alice", NOW + 3))]
    assert {v.network for v in started} == {"203.0.113.1", "203.0.113.2", "192.0.2.3"}
    assert {v.reason for v in started} == {"account"}
    (verdict,) = account.observe(Seen("192.0.2.99", "alice", NOW + 4))
    assert Verdict(*verdict).network == "192.0.2.99"
    assert not account.observe(Seen("198.51.100.9", "alice", NOW + 5, known_good=True))
    assert not account.observe(Seen("192.0.2.98", "alice", NOW + 700)), "hold is over"
    assert [a for a, _, _ in account.under_attack(NOW + 10)] == ["alice"]


def test_account_ignore_users_are_never_under_attack() -> None:
    account = AccountAttack(AccountConfig(addresses=2, ignore_users=("backup",)), 1000)
    for i in range(5):
        assert not account.observe(Seen(f"203.0.113.{i + 1}", "backup", NOW + i))


def test_attack_mode_bans_at_the_first_failure_above_the_rate() -> None:
    mode = AttackMode(AttackModeConfig(failures=10, findtime=600.0, hold=300.0))
    verdicts = [mode.observe(Seen(f"203.0.113.{i + 1}", None, NOW + i)) for i in range(12)]
    assert [bool(v) for v in verdicts] == [False] * 9 + [True] * 3
    assert not mode.observe(Seen("203.0.113.200", "alice", NOW + 20, known_good=True))
    assert not mode.observe(Seen("203.0.113.201", None, NOW + 400)), "hold is over"


# --- configuration ---------------------------------------------------------------


def _jail(**keys: Any) -> JailConfig:
    return build_config({"jails": {"sshd": keys}}, Marks({})).jails["sshd"]


def test_detectors_are_on_when_present_and_not_disabled() -> None:
    cfg = _jail(
        deny_users=["root"], slow={"maxretry": 8, "findtime": "1d"}, subnet={"enabled": False},
        account={"addresses": 10, "findtime": "1h", "hold": "1h", "ignore_users": ["backup"]},
        attack_mode={"failures": 300, "findtime": "10m", "hold": "30m", "bantime": "2h"},
    )  # fmt: skip
    d = cfg.detectors
    assert d.deny_users == DenyUsersConfig(("root",))
    assert d.slow == SlowConfig(8, 86400.0)
    assert d.subnet is None
    assert d.account is not None
    assert d.account.ignore_users == ("backup",)
    assert d.attack_mode is not None
    assert d.attack_mode.bantime == 7200.0
    assert d.uses_known_good


@pytest.mark.parametrize(
    ("keys", "message"),
    [
        ({"slow": {"maxretry": 0}}, "slow"),
        ({"slow": {"findtme": "1d"}}, "findtme"),
        ({"subnet": {"prefix4": 40}}, "prefix4"),
        ({"account": "yes"}, "account"),
        ({"attack_mode": {"enabled": "no"}}, "enabled"),
        ({"deny_users": [1, 2]}, "deny_users"),
    ],
)
def test_bad_detector_settings_are_named(keys: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        _jail(**keys)


def test_the_default_sshd_jail_turns_on_what_spares_real_users() -> None:
    from journalban.config.loader import load_config

    cfg = load_config(None).jails["sshd"].detectors
    assert cfg.slow is not None
    assert cfg.account is not None
    assert cfg.subnet is not None
    assert cfg.attack_mode is not None
    assert cfg.deny_users is None, "off by default: a real account's typo would be banned"


# --- in the decisions stage ------------------------------------------------------


def _engine(
    store: StateStore, clock: FakeClock, detectors: DetectorsConfig, **jail: Any
) -> DecisionEngine:
    engine = DecisionEngine(store, clock, RecidiveConfig(enabled=False))
    cfg = JailConfig(name="sshd", detectors=detectors, **jail)
    engine.configure(
        {"sshd": cfg},
        {"sshd": IgnoreList(cfg.ignoreip, ignore_local_networks=True, interfaces=[OWN])},
    )
    return engine


def _feed(engine: DecisionEngine, hits: list[Hit], position: str = "c") -> list[tuple[str, str]]:
    batch = LineBatch("journal", [h[0] for h in hits], position, prefixed=False)
    changes = engine.process_hits("sshd", batch, hits)
    engine.store.commit(changes.commits)
    engine.forget_lines(changes.bans)
    return [(b.address, b.reason) for b in changes.bans]


def _fail(address: str, when: float, user: str | None = "alice") -> Hit:
    return (f"Failed password for {user} from {address}", address, when, user, FAILURE)


def _login(address: str, when: float, user: str = "alice") -> Hit:
    return (f"Accepted password for {user} from {address}", address, when, user, SUCCESS)


def test_each_ban_says_why(tmp_path: Path) -> None:
    detectors = DetectorsConfig(
        deny_users=DenyUsersConfig(("root",)), slow=SlowConfig(maxretry=4, findtime=86400.0)
    )
    engine = _engine(
        StateStore(tmp_path / "s.sqlite"), FakeClock(NOW), detectors, maxretry=3, findtime=60.0
    )
    got = _feed(engine, [_fail("203.0.113.1", NOW - 50, "root")])
    # 100 s apart: never 3 within findtime, 4 within the slow window
    got += _feed(engine, [_fail("203.0.113.2", NOW - 100 * i) for i in range(4, 0, -1)])
    got += _feed(engine, [_fail("203.0.113.3", NOW - 30 + i) for i in range(3)])
    assert got == [
        ("203.0.113.1", "deny_user"),
        ("203.0.113.2", "slow"),
        ("203.0.113.3", "failures"),
    ]
    ban = engine.bans.by_text[("sshd", "203.0.113.1/32")]
    assert ban.account == "root"
    rows = engine.store.db.execute("SELECT network FROM bans WHERE account = 'root'").fetchall()
    assert rows == [("203.0.113.1/32",)]


def test_a_real_users_known_good_address_survives_an_attack_on_its_account(tmp_path: Path) -> None:
    detectors = DetectorsConfig(
        account=AccountConfig(addresses=5, findtime=3600.0, hold=3600.0),
        attack_mode=AttackModeConfig(failures=50, findtime=600.0, hold=600.0),
        subnet=SubnetConfig(addresses=3, findtime=3600.0),
    )
    engine = _engine(
        StateStore(tmp_path / "s.sqlite"), FakeClock(NOW), detectors, maxretry=5, bantime=3600.0
    )
    _feed(engine, [_login("192.0.2.10", NOW - 3600)])
    attack = [_fail(f"203.0.{113 + i % 2}.{i + 1}", NOW - 1000 + i) for i in range(60)]
    typo = [_fail("192.0.2.10", NOW - 900), _fail("192.0.2.11", NOW - 890, "bob")]
    banned = dict(_feed(engine, attack + typo))
    assert "192.0.2.10" not in banned, "the known-good pair is never banned for the crowd"
    assert banned["192.0.2.11"] == "attack_mode", "a new address during attack mode is"
    assert "account" in banned.values()
    assert any("/" in address for address in banned), "a prefix was banned"
    for address, reason in banned.items():
        if "/" in address:
            assert reason == "subnet"
            assert ipaddress.ip_address("192.0.2.10") not in ipaddress.ip_network(address)


def test_prefix_ban_never_covers_a_protected_or_known_good_address(tmp_path: Path) -> None:
    detectors = DetectorsConfig(subnet=SubnetConfig(prefix4=24, addresses=3, findtime=3600.0))
    engine = _engine(
        StateStore(tmp_path / "s.sqlite"), FakeClock(NOW), detectors, maxretry=9, bantime=3600.0
    )
    _feed(engine, [_login("203.0.113.200", NOW - 500)])
    banned = _feed(engine, [_fail(f"203.0.113.{i}", NOW - 100 + i) for i in (1, 2, 3)])
    # the /24 holds the known-good 203.0.113.200: the widest clear prefix is the /25
    assert banned == [("203.0.113.0/25", "subnet")]
    banned = _feed(engine, [_fail(f"198.51.100.{i}", NOW - 50 + i) for i in (20, 30, 40)])
    assert banned == [], "the host's own on-link network is never covered"


def test_detector_state_survives_a_restart_with_the_position(tmp_path: Path) -> None:
    detectors = DetectorsConfig(
        slow=SlowConfig(maxretry=4, findtime=86400.0),
        account=AccountConfig(addresses=3, findtime=3600.0, hold=3600.0),
    )
    clock = FakeClock(NOW)
    path = tmp_path / "s.sqlite"
    engine = _engine(StateStore(path), clock, detectors, maxretry=100, findtime=60.0)
    _feed(engine, [_login("192.0.2.10", NOW - 4000, "carol")])
    assert _feed(engine, [_fail("203.0.113.9", NOW - 300 * i, "x") for i in (3, 2, 1)]) == []
    assert _feed(engine, [_fail(f"203.0.113.{i}", NOW - 200 + i, "carol") for i in (1, 2)]) == []
    engine.store.close()
    again = _engine(StateStore(path), clock, detectors, maxretry=100, findtime=60.0)
    assert _feed(again, [_fail("203.0.113.9", NOW - 10, "x")]) == [("203.0.113.9", "slow")]
    banned = _feed(
        again, [_fail("203.0.113.3", NOW - 5, "carol"), _fail("192.0.2.10", NOW - 4, "carol")]
    )
    assert sorted(banned) == [
        ("203.0.113.1", "account"),
        ("203.0.113.2", "account"),
        ("203.0.113.3", "account"),
    ]


def test_ipv6_subnet_counts_distinct_prefixes_and_bans_the_48(tmp_path: Path) -> None:
    detectors = DetectorsConfig(subnet=SubnetConfig(prefix6=48, addresses=3, findtime=3600.0))
    engine = _engine(
        StateStore(tmp_path / "s.sqlite"), FakeClock(NOW), detectors, maxretry=9, bantime=3600.0
    )
    # Three addresses of one /64 are one network: no crowd yet.
    same = [_fail(f"2001:db8:5:1::{i}", NOW - 100 + i) for i in (1, 2, 3)]
    assert _feed(engine, same) == []
    banned = _feed(engine, [_fail(f"2001:db8:5:{i}::9", NOW - 50 + i) for i in (2, 3)])
    assert banned == [("2001:db8:5::/48", "subnet")]


def test_ipv6_prefix_ban_is_narrowed_around_a_known_good_network(tmp_path: Path) -> None:
    detectors = DetectorsConfig(subnet=SubnetConfig(prefix6=48, addresses=3, findtime=3600.0))
    engine = _engine(
        StateStore(tmp_path / "s.sqlite"), FakeClock(NOW), detectors, maxretry=9, bantime=3600.0
    )
    _feed(engine, [_login("2001:db8:5:ff00::1", NOW - 500)])
    banned = _feed(engine, [_fail(f"2001:db8:5:{i}::9", NOW - 50 + i) for i in (1, 2, 3)])
    assert len(banned) == 1
    prefix = ipaddress.ip_network(banned[0][0])
    assert banned[0][1] == "subnet"
    assert ipaddress.ip_address("2001:db8:5:1::9") in prefix
    assert ipaddress.ip_address("2001:db8:5:ff00::1") not in prefix
    assert prefix.prefixlen > 48


def test_account_names_are_kept_short_and_without_nul() -> None:
    account = AccountAttack(AccountConfig(addresses=2, findtime=3600.0, hold=600.0), 1000)
    name = "a\x00b" + "x" * 500
    account.observe(Seen("203.0.113.1/32", name, NOW))
    verdicts = account.observe(Seen("203.0.113.2/32", name, NOW + 1))
    assert verdicts
    kept = Verdict(*verdicts[0]).account
    assert kept is not None
    assert "\x00" not in kept
    assert len(kept) == 128
    deny = DenyUsers(DenyUsersConfig(("a*",)))
    (denied,) = deny.observe(Seen("203.0.113.3/32", name, NOW))
    assert "\x00" not in (Verdict(*denied).account or "")


def test_account_counts_as_note_distinct_at_every_failure() -> None:
    """``AccountAttack.observe`` adds a failure's network itself below ``addresses``
    networks (no ``note_distinct`` call): the same verdicts, kept networks, use order and
    rows as a model calling ``note_distinct`` at every failure, with known-good failures,
    ignored users, long names, out-of-order times, evictions and holds ending."""
    import random

    from journalban.jails.detector import ACCOUNT, account_key
    from journalban.jails.distinct import note_distinct

    rng = random.Random(43)
    config = AccountConfig(addresses=3, findtime=600.0, hold=900.0, ignore_users=("backup",))
    account = AccountAttack(config, 12)
    seen: dict[str, dict[str, float]] = {}  # the model: account -> networks, use order
    attacked: dict[str, float] = {}
    cap = max(1, 12 // config.addresses)
    # (with the kept names of the long and the NUL one: an attacked account is looked up by
    # the name as it is first, then by its kept name)
    named: set[str] = set()  # the attacked accounts a failure was banned for
    users = ["alice", "bob", "carol", "dave", "erin", "backup", "x" * 200, "x" * 128, "a\x00b",
             "a\ufffdb", None]  # fmt: skip
    when = NOW
    for step in range(6000):
        when += rng.choice([0.0, 1.0, 20.0, 300.0, -50.0])
        key = f"203.0.113.{rng.randrange(9)}/32"
        user = rng.choice(users)
        known = rng.random() < 0.05
        expected: list[Any] = []
        if user is not None and not known and user not in config.ignore_users:
            name = account_key(user)
            until = attacked.get(name)
            if until is not None and when < until:
                expected = [(ACCOUNT, key, 1, config.bantime, name, ())]
                named.add(name)
            else:
                networks = seen.pop(name, {})
                if note_distinct(networks, key, when, config.findtime, config.addresses):
                    attacked.pop(name, None)
                    attacked[name] = when + config.hold
                    expected = [
                        Verdict(ACCOUNT, k, len(networks), config.bantime, name) for k in networks
                    ]
                else:
                    if len(seen) >= cap:
                        del seen[next(iter(seen))]
                    seen[name] = networks
        found = account.observe(Seen(key, user, when, known))
        assert list(found) == expected, step
        assert list(account.seen.items()) == list(seen.items()), step
        assert dict(account.attacked.items()) == attacked, step
    assert account.seen.evicted > 0
    assert {"x" * 128, "a\ufffdb"} <= named, named
