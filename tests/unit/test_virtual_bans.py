"""The virtual bans (decisions/virtual.py): each jail's spans by network text stay the
same as the (jail, text) map, whichever way a span is set, dropped or cleared."""

from __future__ import annotations

import math
import random

import pytest

from journalban.decisions.virtual import VirtualBans


def test_each_jails_spans_follow_every_change() -> None:
    rng = random.Random(7)
    virtual = VirtualBans()
    held = {"sshd": virtual.of("sshd"), "web": virtual.of("web")}
    mirror: dict[tuple[str, str], tuple[float, float]] = {}
    for _ in range(2000):
        key = (rng.choice(["sshd", "web"]), f"192.0.2.{rng.randrange(20)}/32")
        if rng.random() < 0.6:
            span = (rng.choice([-math.inf, rng.random()]), 1 + rng.random())
            virtual[key] = mirror[key] = span
        elif key in mirror:
            del virtual[key]
            del mirror[key]
        if rng.random() < 0.01:
            virtual.clear()
            mirror.clear()
        assert virtual == mirror
        for jail, spans in held.items():
            assert spans is virtual.of(jail)  # the same dict all along
            assert spans == {t: s for (j, t), s in mirror.items() if j == jail}


def test_a_failure_within_a_span_is_held() -> None:
    virtual = VirtualBans()
    virtual[("sshd", "192.0.2.1/32")] = (10.0, 20.0)
    assert virtual.holds("sshd", "192.0.2.1/32", 10.0)
    assert virtual.holds("sshd", "192.0.2.1/32", 19.9)
    assert not virtual.holds("sshd", "192.0.2.1/32", 20.0)
    assert not virtual.holds("sshd", "192.0.2.1/32", 9.9)
    assert not virtual.holds("web", "192.0.2.1/32", 15.0)
    assert not virtual.holds("sshd", "192.0.2.2/32", 15.0)


def test_bulk_changes_are_refused() -> None:
    virtual = VirtualBans()
    with pytest.raises(NotImplementedError):
        virtual.update({("sshd", "192.0.2.1/32"): (0.0, 1.0)})
    with pytest.raises(NotImplementedError):
        virtual.setdefault(("sshd", "192.0.2.1/32"), (0.0, 1.0))
    with pytest.raises(NotImplementedError):
        virtual.pop(("sshd", "192.0.2.1/32"))
