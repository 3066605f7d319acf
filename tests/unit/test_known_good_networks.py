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


def test_a_pairs_key_is_the_accounts_kept_name_and_the_network() -> None:
    """``pair_key`` (a login's key, made once by ``JailDetection.succeeded``) is the key
    ``account_key`` gives, for the usual names and for long ones, NULs and the edges of
    ``ACCOUNT_MAX``; a login taken by its key is the same pair as by ``add``."""
    from journalban.jails.detector import ACCOUNT_MAX, account_key
    from journalban.jails.knowngood import SEP, pair_key

    names = ["root", "", "é", "a\x00b", "\x00", "x" * ACCOUNT_MAX, "x" * (ACCOUNT_MAX + 1)]
    names += ["y" * (ACCOUNT_MAX - 1) + "\x00", "z" * ACCOUNT_MAX + "\x00", "w" * 500]
    for name in names:
        for network in ("192.0.2.1/32", "2001:db8:1:2::/64"):
            assert pair_key(name, network) == account_key(name) + SEP + network
            by_add = KnownGood(KnownGoodConfig(keep=100.0, max_pairs=10))
            by_key = KnownGood(KnownGoodConfig(keep=100.0, max_pairs=10))
            by_add.add(name, network, 5.0)
            by_key.add_pair(pair_key(name, network), network, 5.0)
            assert by_add.listing() == by_key.listing()
            assert by_add.changes() == by_key.changes()
            assert by_key.holds(name, network, 50.0)
            assert by_key.network_known(network)


def test_a_login_held_for_the_crowd_is_taken_after_it_once_asked() -> None:
    """``JailDetection.succeeded``: a new pair while failures wait for ``subnet`` answers
    False and adds nothing; a pair held already is taken at once (its time the later)."""
    from journalban.config.detectors import DetectorsConfig, SubnetConfig
    from journalban.decisions.detecting import JailDetection

    config = DetectorsConfig(subnet=SubnetConfig(), known_good=KnownGoodConfig(keep=1e6))
    detection = JailDetection(config, 1000)
    good = detection.known_good
    assert good is not None
    assert detection.succeeded("192.0.2.1/32", "alice", 10.0)  # nothing held: taken
    detection.observe_apart("198.51.100.7/32", "bob", 11.0)  # held for subnet
    assert not detection.succeeded("192.0.2.2/32", "alice", 12.0)  # a new pair: after
    assert good.listing() == [("alice", "192.0.2.1/32", 10.0)]
    assert detection.succeeded("192.0.2.1/32", "alice", 13.0)  # held: taken at once
    assert good.listing() == [("alice", "192.0.2.1/32", 13.0)]
    detection.crowd_verdicts()
    assert detection.succeeded("192.0.2.2/32", "alice", 12.0)
    assert sorted(good.listing()) == [
        ("alice", "192.0.2.1/32", 13.0),
        ("alice", "192.0.2.2/32", 12.0),
    ]


def test_a_login_taken_by_succeeded_is_knowngoods_add() -> None:
    """``JailDetection.succeeded`` takes a held pair out and puts it back itself (the key
    made inline for the usual name): the same pairs, times, use order (which pair a full map
    evicts), known networks and rows as ``KnownGood.add`` of each login, for the usual
    names and long ones, NULs, ``ACCOUNT_MAX``'s edges, earlier and later times."""
    from journalban.config.detectors import DetectorsConfig, SubnetConfig
    from journalban.decisions.detecting import JailDetection
    from journalban.jails.detector import ACCOUNT_MAX

    names = ["root", "é", "a\x00b", "x" * ACCOUNT_MAX, "x" * (ACCOUNT_MAX + 1), "w" * 500]
    names += ["y" * (ACCOUNT_MAX - 1) + "\x00", "z" * ACCOUNT_MAX + "\x00"]
    networks = ["192.0.2.1/32", "192.0.2.2/32", "2001:db8:1:2::/64"]
    logins = [(n, k) for n in names for k in networks]
    plain = KnownGood(KnownGoodConfig(keep=1e6, max_pairs=7))
    known = KnownGoodConfig(keep=1e6, max_pairs=7)
    detection = JailDetection(DetectorsConfig(subnet=SubnetConfig(), known_good=known), 9)
    good = detection.known_good
    assert good is not None
    # each login twice or more, out of order in time, so held pairs are taken and moved
    steps = [(i % len(logins), float((i * 37) % 23)) for i in range(4 * len(logins))]
    steps += [(i, float(i)) for i in (3, 3, 2, 3, 4, 3)]  # a held pair moved while full
    for index, when in steps:
        name, network = logins[index]
        plain.add(name, network, when)
        assert detection.succeeded(network, name, when)
        assert list(good.pairs.items()) == list(plain.pairs.items())  # (the use order)
        assert good.networks == plain.networks
        assert good.changes() == plain.changes()
    assert good.pairs.evicted == plain.pairs.evicted > 0


def test_a_login_is_knowngoods_add_unless_the_crowd_waits() -> None:
    """``KnownGood.login`` (what ``JailDetection.succeeded`` calls, the crowd bound): each
    login the same pairs, times, use order, evictions, networks and rows as ``add``, for the
    usual names and long ones, NULs and ``ACCOUNT_MAX``'s edges; a pair not held while
    failures wait answers False and changes nothing, a held one is taken all the same; a
    login without an account is taken and adds nothing."""
    from journalban.jails.detector import ACCOUNT_MAX
    from journalban.jails.knowngood import pair_key

    names = ["root", "é", "a\x00b", "x" * ACCOUNT_MAX, "x" * (ACCOUNT_MAX + 1), "w" * 500]
    names += ["y" * (ACCOUNT_MAX - 1) + "\x00", "z" * ACCOUNT_MAX + "\x00"]
    networks = ["192.0.2.1/32", "2001:db8:1:2::/64"]
    logins = [(n, k) for n in names for k in networks]
    plain = KnownGood(KnownGoodConfig(keep=1e6, max_pairs=5))
    good = KnownGood(KnownGoodConfig(keep=1e6, max_pairs=5))
    waiting = ["a failure held for subnet"]
    for i in range(5 * len(logins)):
        name, network = logins[(i * 7) % len(logins)]
        when = float((i * 37) % 23)
        held = pair_key(name, network) in good.pairs
        before = (list(good.pairs.items()), good.networks, good.pairs.evicted)
        if i % 3 == 0:  # a login while failures wait: a held pair taken, a new one not
            assert good.login(waiting, network, name, when) is held
            if not held:
                assert (list(good.pairs.items()), good.networks, good.pairs.evicted) == before
        assert good.login([], network, name, when)
        plain.add(name, network, when)
        assert list(good.pairs.items()) == list(plain.pairs.items())  # (the use order)
        assert good.networks == plain.networks
        assert good.pairs.evicted == plain.pairs.evicted
        assert good.changes() == plain.changes()
    assert good.pairs.evicted > 0
    for account in (None, ""):
        assert good.login(waiting, "192.0.2.9/32", account, 99.0)
        assert good.login([], "192.0.2.9/32", account, 99.0)
    assert not good.network_known("192.0.2.9/32")
    assert good.changes() == []


def test_succeeded_is_knowngood_login_with_the_crowd_bound() -> None:
    """``JailDetection.succeeded``: ``KnownGood.login`` with the jail's crowd bound, no frame
    of Python between (``functools.partial``); a jail without known-good pairs takes every
    login and keeps nothing."""
    from functools import partial

    from journalban.config.detectors import DetectorsConfig, SlowConfig, SubnetConfig
    from journalban.decisions.detecting import JailDetection

    config = DetectorsConfig(subnet=SubnetConfig(), known_good=KnownGoodConfig(keep=1e6))
    detection = JailDetection(config, 1000)
    good = detection.known_good
    assert good is not None
    succeeded = detection.succeeded
    assert isinstance(succeeded, partial)
    assert succeeded.func == good.login
    detection.observe_apart("198.51.100.7/32", "bob", 11.0)
    assert not succeeded("192.0.2.2/32", "alice", 12.0)  # the crowd bound is the jail's
    detection.crowd_verdicts()
    assert succeeded("192.0.2.2/32", "alice", 12.0)
    assert good.listing() == [("alice", "192.0.2.2/32", 12.0)]
    without = JailDetection(DetectorsConfig(slow=SlowConfig()), 1000)
    assert without.known_good is None
    assert without.succeeded("192.0.2.2/32", "alice", 12.0)
    assert without.tracked == 0


def test_a_login_looks_a_held_pair_up_by_the_name_as_it_is_first() -> None:
    """``KnownGood.login`` asks for the name as it is before it checks it: a name the pairs
    keep otherwise (longer than ``ACCOUNT_MAX``, a NUL) never finds another account's pair
    that way, and finds its own under the kept name (``account_key``), held while failures
    wait, its time the later; every key held is the kept name, SEP, the network."""
    from journalban.jails.detector import ACCOUNT_MAX, account_key
    from journalban.jails.knowngood import SEP

    waiting = ["a failure held for subnet"]
    crafted = ["a\x00192.0.2.1/32", "a\x00", "\x00a", "a" * (ACCOUNT_MAX + 1), "a" * 300]
    crafted += ["a" * ACCOUNT_MAX + "\x00192.0.2.1/32", "a" * (ACCOUNT_MAX - 1) + "\x00"]
    for name in crafted:
        kept = account_key(name)
        for network in ("192.0.2.1/32", "2001:db8::/64"):
            good = KnownGood(KnownGoodConfig(keep=1e6, max_pairs=10))
            # pairs a crafted name's text could be mistaken for: its kept name's prefixes
            for other in ("a", "a" * ACCOUNT_MAX, "a" * (ACCOUNT_MAX - 1), kept[:-1] or "b"):
                if other != kept:
                    good.add(other, network, 1.0)
            others = sorted(good.listing())
            assert not good.login(waiting, network, name, 5.0)  # its own pair: not held
            assert sorted(good.listing()) == others  # no other pair taken or moved
            assert good.login([], network, name, 5.0)  # added under the kept name
            assert (kept, network, 5.0) in good.listing()
            assert good.login(waiting, network, name, 7.0)  # held now: taken at once
            assert (kept, network, 7.0) in good.listing()
            assert good.login(waiting, network, kept, 6.0)  # the kept name: the same pair
            assert (kept, network, 7.0) in good.listing()
            assert all(k.count(SEP) == 1 for k in good.pairs)
            assert sorted(t for a, n, t in good.listing() if (a, n) != (kept, network)) == [
                t for a, n, t in others if (a, n) != (kept, network)
            ]
