"""Known-good networks (jails/knowngood.py): ``network_known`` answers from the live
dict, also after pairs are forgotten, evicted or expire (the dict refilled in place)."""

from __future__ import annotations

from journalban.config.detectors import KnownGoodConfig
from journalban.jails.knowngood import KnownGood


def test_network_known_follows_every_change() -> None:
    good = KnownGood(KnownGoodConfig(keep=100.0, max_pairs=3))
    known = good.network_known  # bound once, as the failure path binds it
    good.add("alice", "192.0.2.1/32", 10.0)
    good.add("bob", "192.0.2.2/32", 20.0)
    assert known("192.0.2.1/32")
    assert known("192.0.2.2/32")
    assert not known("192.0.2.3/32")
    assert good.forget(account="alice") == 1
    assert not known("192.0.2.1/32")
    good.add("carol", "192.0.2.3/32", 30.0)
    good.add("dave", "192.0.2.4/32", 40.0)
    good.add("erin", "192.0.2.5/32", 50.0)  # the oldest (bob's) evicted: a recount
    assert not known("192.0.2.2/32")
    assert known("192.0.2.5/32")
    good.expire(145.0)  # carol's (30) and dave's (40) older than keep
    assert not known("192.0.2.3/32")
    assert not known("192.0.2.4/32")
    assert known("192.0.2.5/32")
    assert good.networks == ["192.0.2.5/32"]
