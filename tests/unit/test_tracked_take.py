"""A detector's key taken out of its ``Tracked`` and put back (``take``, then ``add`` for
a key it held none of, ``put_back``, or ``taken_out``) leaves the same keys, use order,
evictions and rows as ``get`` then ``touch`` or ``drop``, before and after the cap, and
when a reload lowers the cap."""

from __future__ import annotations

import random

from journalban.jails.tracked import Tracked


def test_take_and_put_back_is_get_and_touch() -> None:
    rng = random.Random(3)
    for cap in (1, 5, 40, 1_000):
        taking: Tracked[int] = Tracked(cap)
        touching: Tracked[int] = Tracked(cap)
        for step in range(3_000):
            if step == 2_000 and cap > 1:  # a reload's smaller cap: several keys out at once
                taking.cap = touching.cap = cap // 2
            key = f"k{rng.randrange(60)}"
            kept = taking.take(key, None)
            assert kept == touching.get(key), (cap, step)
            if rng.random() < 0.1:  # a verdict: the key is forgotten
                if kept is not None:
                    taking.taken_out(key)
                touching.drop(key)
            elif kept is None:
                taking.add(key, step)
                touching.touch(key, step)
            else:
                taking.put_back(key, step)
                touching.touch(key, step)
            assert list(taking.items()) == list(touching.items()), (cap, step)
            assert taking.evicted == touching.evicted
            if step % 250 == 0:
                assert taking.changes() == touching.changes()
        assert taking.changes() == touching.changes()
        assert touching.evicted > 0 or cap > 60
