"""Every detector observes a failure handed as a plain tuple (``jails.detector.Failure``,
what the engine hands) as it observes the ``Seen`` of the same fields: the same verdicts,
the same rows."""

from __future__ import annotations

import random

from journalban.config.detectors import (
    AccountConfig,
    AttackModeConfig,
    DenyUsersConfig,
    SlowConfig,
    SubnetConfig,
)
from journalban.jails.account import AccountAttack
from journalban.jails.attackmode import AttackMode
from journalban.jails.denyusers import DenyUsers
from journalban.jails.detector import Detector, Seen
from journalban.jails.slow import SlowWindow
from journalban.jails.subnet import SubnetCrowd


def _detectors() -> list[Detector]:
    return [
        DenyUsers(DenyUsersConfig(users=("root", "oracle*"))),
        SlowWindow(SlowConfig(maxretry=4, findtime=600.0), 500),
        AccountAttack(AccountConfig(addresses=4, findtime=300.0, hold=60.0), 500),
        AttackMode(AttackModeConfig(failures=40, findtime=60.0, hold=30.0)),
        SubnetCrowd(SubnetConfig(addresses=3, findtime=300.0), 500),
    ]


def test_a_plain_tuple_is_observed_as_its_seen() -> None:
    rng = random.Random(7)
    named, plain = _detectors(), _detectors()
    when = 1_800_000_000.0
    for step in range(4000):
        when += rng.choice([0.0, 0.5, 3.0, 40.0, -2.0])
        key = rng.choice(
            [f"198.51.100.{rng.randrange(40)}/32", f"2001:db8:{rng.randrange(9):x}::/64"]
        )
        user = rng.choice([None, "root", "alice", "oracle2", f"u{rng.randrange(30)}"])
        known = rng.random() < 0.05
        for by_name, by_tuple in zip(named, plain, strict=True):
            got = by_tuple.observe((key, user, when, known))
            assert list(got) == list(by_name.observe(Seen(key, user, when, known))), step
            if step % 97 == 0:
                assert by_tuple.changes() == by_name.changes()
    assert any(d.tracked for d in plain)
