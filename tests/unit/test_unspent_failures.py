"""A step's failures its bans used up are not written (decisions.forgetting)."""

from __future__ import annotations

import random

from journalban.decisions.forgetting import unspent_failures


def test_a_banned_networks_failures_before_its_ban_go_those_after_stay() -> None:
    failures = [("a", 1.0), ("b", 2.0), ("a", 3.0), ("c", 4.0), ("a", 5.0), ("b", 6.0)]
    # "a" banned after its second failure (2 of the list before it), "b" after the fifth
    spent = {"a": 3, "b": 5}
    assert unspent_failures(failures, spent) == [("c", 4.0), ("a", 5.0), ("b", 6.0)]
    assert unspent_failures(failures, {}) == failures
    assert unspent_failures([], spent) == []


def test_as_each_failure_asked_for_its_networks_count_spent() -> None:
    rng = random.Random(19)
    for _ in range(300):
        failures = [(f"n{rng.randrange(8)}", float(t)) for t in range(rng.randrange(40))]
        spent = {f"n{k}": rng.randrange(len(failures) + 2) for k in rng.sample(range(10), 4)}
        expected = [f for i, f in enumerate(failures) if i >= spent.get(f[0], 0)]
        assert unspent_failures(failures, spent) == expected
