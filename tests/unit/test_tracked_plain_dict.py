"""Tracked keeps a plain dict until it first reaches its cap, then an OrderedDict:
the same keys, order, evictions and rows as an OrderedDict from the start."""

from __future__ import annotations

import random
from collections import OrderedDict

from journalban.jails.tracked import Tracked


class Model:
    def __init__(self, cap: int) -> None:
        self.cap, self.evicted = cap, 0
        self.items: OrderedDict[str, int] = OrderedDict()
        self.dirty: set[str] = set()

    def touch(self, key: str, value: int) -> None:
        if key in self.items:
            self.items.move_to_end(key)
        while key not in self.items and len(self.items) >= self.cap:
            gone, _ = self.items.popitem(last=False)
            self.dirty.add(gone)
            self.evicted += 1
        self.items[key] = value
        self.dirty.add(key)


def test_the_same_order_evictions_and_rows_before_and_after_the_cap() -> None:
    rng = random.Random(7)
    for cap in (1, 5, 40, 1_000):
        tracked: Tracked[int] = Tracked(cap)
        model = Model(cap)
        for step in range(3_000):
            if step == 2_000 and cap > 1:  # a reload's smaller cap: several keys out at once
                tracked.cap = model.cap = cap // 2
            key = f"k{rng.randrange(60)}"
            op = rng.random()
            if op < 0.8:
                tracked.touch(key, step)
                model.touch(key, step)
            elif op < 0.9:
                tracked.drop(key)
                if model.items.pop(key, None) is not None:
                    model.dirty.add(key)
            else:
                tracked.load(key, -step)
                if len(model.items) < model.cap:
                    model.items[key] = -step
            assert list(tracked.items()) == list(model.items.items()), (cap, step)
            assert tracked.get(key) == model.items.get(key)
            if step % 11 == 0:
                rows = dict(tracked.changes())
                assert rows == {k: None if k not in model.items else str(model.items[k])
                                for k in model.dirty}  # fmt: skip
                model.dirty.clear()
        assert tracked.evicted == model.evicted
        assert (tracked.evicted > 0) == (cap < 60)


def test_a_row_shows_the_value_as_it_is_at_changes() -> None:
    """Rows come from the changed values kept beside the map (no lookup per key): a
    value changed in place after its touch, or replaced, dropped or evicted, is
    reported as the map holds it when the rows are taken."""
    tracked: Tracked[list[int]] = Tracked(2, text=str)
    pairs = [1, 1]
    tracked.touch("a", pairs)
    pairs += [2, 1]  # (slow's buckets grow in place)
    tracked.touch("b", [5, 1])
    tracked.touch("b", [6, 1])
    tracked.touch("c", [7, 1])  # evicts a
    assert sorted(tracked.changes()) == [("a", None), ("b", "[6, 1]"), ("c", "[7, 1]")]
    tracked.touch("b", pairs)
    pairs.append(3)
    tracked.drop("c")
    assert sorted(tracked.changes()) == [("b", "[1, 1, 2, 1, 3]"), ("c", None)]
    assert tracked.changes() == []
