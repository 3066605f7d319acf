"""A jail's detectors together (decisions.detecting.JailDetection) and their verdicts in the
decisions stage: the verdicts are each detector's, in the detectors' order; a verdict on a
network some account logged in from is checked against the known-good pairs."""

from __future__ import annotations

import random
from pathlib import Path

from test_detectors import NOW, _engine, _fail, _feed, _login

from journalban.clock import FakeClock
from journalban.config.detectors import (
    AccountConfig,
    AttackModeConfig,
    DenyUsersConfig,
    DetectorsConfig,
    SlowConfig,
    SubnetConfig,
)
from journalban.decisions.detecting import JailDetection
from journalban.jails.detector import VerdictTuple
from journalban.state.store import StateStore

ALL = DetectorsConfig(
    deny_users=DenyUsersConfig(("root",)),
    slow=SlowConfig(maxretry=4, findtime=600.0),
    account=AccountConfig(addresses=4, findtime=300.0, hold=60.0),
    attack_mode=AttackModeConfig(failures=30, findtime=60.0, hold=20.0),
    subnet=SubnetConfig(addresses=3, findtime=300.0),
)


def test_the_verdicts_are_each_detectors_in_order() -> None:
    rng = random.Random(11)
    together, alone = JailDetection(ALL, 500), JailDetection(ALL, 500)
    when = NOW
    for step in range(5000):
        when += rng.choice([0.0, 0.5, 2.0, 30.0])
        key = f"198.51.{rng.randrange(3)}.{rng.randrange(30)}/32"
        user = rng.choice([None, "root", "alice", f"u{rng.randrange(20)}"])
        if rng.random() < 0.05 and user is not None:
            together.succeeded(key, user, when)
            alone.succeeded(key, user, when)
            continue
        assert alone.known_good is not None
        known = user is not None and alone.known_good.holds(user, key, when)
        expected: list[VerdictTuple] = []
        for detector in alone.detectors:
            expected += detector.observe((key, user, when, known))
        assert list(together.observe(key, user, when)) == expected, step
    assert together.rows() == alone.rows()


def test_an_attack_start_spares_a_network_that_logged_in_since(tmp_path: Path) -> None:
    detectors = DetectorsConfig(account=AccountConfig(addresses=4, findtime=3600.0, hold=3600.0))
    engine = _engine(
        StateStore(tmp_path / "s.sqlite"), FakeClock(NOW), detectors, maxretry=50, bantime=3600.0
    )
    # alice mistypes from her own address, then logs in from it: a known-good pair
    _feed(engine, [_fail("192.0.2.10", NOW - 500), _login("192.0.2.10", NOW - 490)])
    attack = [_fail(f"203.0.113.{i + 1}", NOW - 400 + i) for i in range(3)]
    banned = dict(_feed(engine, attack))  # the fourth network: alice is under attack
    assert banned == {f"203.0.113.{i + 1}": "account" for i in range(3)}
    assert dict(_feed(engine, [_fail("203.0.113.9", NOW - 300)])) == {"203.0.113.9": "account"}
