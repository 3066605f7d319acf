"""The slow window and attack mode keep their last failure's bucket and compare the next
failure's float ``when // width`` with it (no ``int()`` for most failures; jails/slow.py,
jails/attackmode.py): the same verdicts, kept values and rows as ``bucket_add`` at every
failure, for times on and beside bucket edges, out of order, negative and far apart."""

from __future__ import annotations

import math
import random

from journalban.config.detectors import AttackModeConfig, SlowConfig
from journalban.jails.attackmode import AttackMode
from journalban.jails.buckets import BUCKETS, bucket_add, bucket_add_at
from journalban.jails.detector import ATTACK_MODE, SLOW, Verdict
from journalban.jails.slow import SlowWindow, buckets_text


class _Reference:
    """The slow window as it counted before: ``bucket_add`` for every failure, every
    key's buckets a list."""

    def __init__(self, config: SlowConfig) -> None:
        self.config, self.width = config, config.findtime / BUCKETS
        self.keys: dict[str, list[int]] = {}

    def observe(self, key: str, when: float) -> tuple[Verdict, ...]:
        pairs = self.keys.pop(key, [])
        count = bucket_add(pairs, when, self.width)
        if count < self.config.maxretry:
            self.keys[key] = pairs
            return ()
        return (Verdict(SLOW, key, count, self.config.bantime),)


def _times(rng: random.Random, width: float) -> list[float]:
    when, out = 1_800_000_000.0, []
    for _ in range(3000):
        step = rng.random()
        if step < 0.15:  # on a bucket's edge, or a float either side of it
            edge = (math.floor(when / width) + rng.randint(0, 2)) * width
            when = rng.choice(
                [edge, math.nextafter(edge, -math.inf), math.nextafter(edge, math.inf)]
            )
        elif step < 0.2:
            when -= rng.choice([0.5, width, width * 30])  # back in time
        elif step < 0.22:
            when = rng.choice([-when, 0.0, -0.0, when])  # negative times, zero
        else:
            when += rng.choice([0.0, 0.1, 1.0, width / 3, width * 2])
        out.append(when)
    return out


def test_the_same_verdicts_values_and_rows_as_bucket_add_at_every_failure() -> None:
    rng = random.Random(23)
    for case in range(40):
        config = SlowConfig(
            maxretry=rng.choice([2, 3, 8]),
            findtime=rng.choice([24.0, 600.0, 86400.0, 1000.0 / 3]),
        )
        slow, reference = SlowWindow(config, 10_000), _Reference(config)
        for step, when in enumerate(_times(rng, slow.width)):
            key = f"198.51.100.{rng.randint(0, 40)}/32"
            found = slow.observe((key, None, when, False))
            assert list(found) == list(reference.observe(key, when)), (case, step)
            kept = slow.keys.get(key)
            expected = reference.keys.get(key)
            if expected is None:
                assert kept is None
                continue
            assert kept is not None
            # a first failure's bucket is kept as the int alone: the same row either way
            assert buckets_text(kept) == buckets_text(expected), (case, step)
            assert (kept if type(kept) is list else [kept, 1]) == expected
            if type(kept) is int:  # (added at this failure)
                assert kept == int(when // slow.width)
        rows = dict(slow.changes())
        for key, pairs in reference.keys.items():
            assert rows[key] == buckets_text(pairs)


def test_attack_mode_counts_as_bucket_add_at_every_failure_on_bucket_edges() -> None:
    rng = random.Random(31)
    for case in range(30):
        config = AttackModeConfig(
            failures=rng.choice([2, 5, 40]),
            findtime=rng.choice([24.0, 600.0, 1000.0 / 3]),
            hold=rng.choice([10.0, 1800.0]),
        )
        mode = AttackMode(config)
        pairs: list[int] = []
        until = 0.0
        for step, when in enumerate(_times(rng, mode.width)):
            count = bucket_add(pairs, when, mode.width)
            if when >= until and count >= config.failures:
                until, pairs = when + config.hold, []
            expected = [(ATTACK_MODE, "192.0.2.1/32", 1, config.bantime, None, ())]
            found = mode.observe(("192.0.2.1/32", None, when, False))
            assert list(found) == (expected if when < until else []), (case, step)
            assert (mode.until, mode.pairs) == (until, pairs), (case, step)


def test_bucket_add_at_is_bucket_add_of_the_bucket() -> None:
    rng = random.Random(29)
    width = 25.0
    a: list[int] = []
    b: list[int] = []
    when = 1_700_000_000.0
    for _ in range(2000):
        when += rng.choice([0.0, 3.0, width, -width * 2, width * 30])
        assert bucket_add_at(a, int(when // width)) == bucket_add(b, when, width)
        assert a == b
