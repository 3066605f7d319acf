"""Attack mode counts a failure in the newest bucket without summing every bucket (jails/attackmode.py):
the same verdicts, rows and windows as counting with ``bucket_add`` at each failure; the verdicts
attack mode and an attacked account build as plain tuples are the constructor's."""

from __future__ import annotations

import json
import random

from journalban.config.detectors import AttackModeConfig
from journalban.jails.attackmode import AttackMode
from journalban.jails.buckets import bucket_add
from journalban.jails.detector import ATTACK_MODE, Seen, Verdict


class _Reference:
    """The attack mode as it counted before: ``bucket_add`` for every failure."""

    def __init__(self, config: AttackModeConfig) -> None:
        self.config, self.width = config, AttackMode(config).width
        self.pairs: list[int] = []
        self.until = 0.0

    def observe(self, seen: Seen) -> tuple[Verdict, ...]:
        count = bucket_add(self.pairs, seen.when, self.width)
        if seen.when >= self.until and count >= self.config.failures:
            self.until, self.pairs = seen.when + self.config.hold, []
        if seen.when < self.until and not seen.known_good:
            return (Verdict(ATTACK_MODE, seen.key, 1, self.config.bantime),)
        return ()


def test_the_same_verdicts_and_rows_as_summing_every_bucket() -> None:
    rng = random.Random(19)
    for case in range(60):
        config = AttackModeConfig(
            failures=rng.choice([2, 5, 40, 300]),
            findtime=rng.choice([24.0, 600.0, 3600.0]),
            hold=rng.choice([10.0, 1800.0]),
        )
        mode, reference = AttackMode(config), _Reference(config)
        when = 1_800_000_000.0
        for step in range(3000):
            # Mostly forward in small steps; sometimes a gap past the window, sometimes back.
            when += rng.choice([0.0, 0.1, 1.0, 5.0, config.findtime * 1.5, -3.0, -config.findtime])
            seen = Seen(f"198.51.100.{step % 250}/32", None, when, rng.random() < 0.05)
            assert list(mode.observe(seen)) == list(reference.observe(seen)), (case, step)
            assert (mode.until, mode.pairs) == (reference.until, reference.pairs), (case, step)
            if step % 500 == 499:  # a restart reads its row back
                ((key, text),) = mode.changes()
                assert text is not None
                assert json.loads(text) == [reference.until, reference.pairs]
                mode = AttackMode(config)
                mode.restore([(key, text)], when)
                # (an end further than a hold from the restore, as when this walk went
                # back in time, is cut to a hold from it: test_detector_hold_bounds.py)
                reference.until = min(reference.until, when + config.hold)
            if step == 1500:
                mode.end()
                reference.until, reference.pairs = 0.0, []


def test_verdicts_built_as_tuples_are_the_constructors_verdicts() -> None:
    """Attack mode's and an attacked account's verdicts are plain tuples of a Verdict's fields
    (jails.detector.VerdictTuple)."""
    from journalban.config.detectors import AccountConfig
    from journalban.jails.account import AccountAttack
    from journalban.jails.detector import ACCOUNT

    config = AttackModeConfig(failures=2, findtime=600.0, hold=600.0)
    mode = AttackMode(config)
    mode.observe(Seen("192.0.2.1/32", None, 1000.0))
    (verdict,) = mode.observe(Seen("192.0.2.2/32", None, 1001.0))
    assert verdict == Verdict(ATTACK_MODE, "192.0.2.2/32", 1, config.bantime)
    assert type(verdict) is tuple
    assert Verdict(*verdict).members == ()
    assert Verdict(*verdict).account is None
    accounts = AccountAttack(AccountConfig(addresses=2, findtime=600.0, hold=600.0), 100)
    accounts.observe(Seen("192.0.2.1/32", "root", 1000.0))
    accounts.observe(Seen("192.0.2.2/32", "root", 1001.0))  # the attack starts
    (verdict,) = accounts.observe(Seen("192.0.2.3/32", "root", 1002.0))
    assert verdict == Verdict(ACCOUNT, "192.0.2.3/32", 1, accounts.config.bantime, "root")
    assert type(verdict) is tuple
    assert Verdict(*verdict).members == ()
    long_name = "x" * 300 + "\x00"  # cut and cleaned as account_key does
    for n in range(3):
        accounts.observe(Seen(f"198.51.100.{n}/32", long_name, 1003.0))
    (verdict,) = accounts.observe(Seen("198.51.100.9/32", long_name, 1004.0))
    assert Verdict(*verdict).account == "x" * 128
