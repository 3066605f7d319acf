"""``journalban.jails._crowd`` (jails.nativecrowd): ``SubnetCrowd.observe_all`` and the
``subnet`` and ``slow`` rows in C against the Python methods, on crafted keys and shapes and
on seeded random ones: the same verdicts, the same exceptions, the same prefix map (keys in
their use order, changed keys, evictions, the memo) and the same rows."""

from __future__ import annotations

import random
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from functools import partial
from typing import Any

import pytest

from journalban.config.detectors import DetectorsConfig, SlowConfig, SubnetConfig
from journalban.decisions.detecting import JailDetection
from journalban.jails import nativecrowd, nativedetect
from journalban.jails.slow import SlowWindow
from journalban.jails.subnet import SubnetCrowd
from support import fuzzvalues as fz

pytestmark = pytest.mark.skipif(nativecrowd.NATIVE is None, reason="_crowd not built")


@contextmanager
def _python() -> Iterator[None]:
    saved, detect = nativecrowd.NATIVE, nativedetect.NATIVE
    nativecrowd.NATIVE = nativedetect.NATIVE = None
    try:
        yield
    finally:
        nativecrowd.NATIVE, nativedetect.NATIVE = saved, detect


def _answer(call: Callable[[], Any]) -> Any:
    try:
        return ("ok", repr(call()))
    except Exception as e:  # (compared: the same exception on both paths)
        return ("raised", type(e).__name__, str(e))


def _python_answer(call: Callable[[], Any]) -> Any:
    with _python():
        return _answer(call)


def _state(crowd: SubnetCrowd) -> Any:
    p = crowd.prefixes
    return (type(p.kept).__name__, repr(list(p.kept.items())), repr(list(p.dirty.items())),
            p.evicted, repr(list(crowd._prefix_of.items())))  # fmt: skip


def _v6(rng: random.Random) -> str:
    groups = [rng.choice(["0", "1", "a", "db8", "2001", "ffff", f"{rng.getrandbits(16):x}"])
              for _ in range(rng.randrange(1, 5))]  # fmt: skip
    while groups and groups[-1] == "0" and rng.random() < 0.5:
        groups.pop()
    return ":".join(groups) + "::/64"


ODD = ["::/64", "a:b:c:d:e::/64", "00:1::/64", "2001:DB8::/64", "2001:db8::1::/64",
       ":a::/64", "a::b::/64", "g::/64", "1234:5678:9abc:def0::/64", "12345:1::/64",
       "2001:db8:0:0::/64", "0:0:0:0::/64", "é::/64", "abc/32", "/32", "é.1.2.3/32",
       "1.2.3.4/32", "10.0.0.1/24", "2001:db8::1/128", "2001:db8::/48", "not a network",
       "1.2.3/32", "a\x00b/32", "1.2.3.4/32/32"]  # fmt: skip


def _key(rng: random.Random) -> Any:
    kind = rng.random()
    if kind < 0.4:
        return f"10.{rng.randrange(3)}.{rng.randrange(4)}.{rng.randrange(6)}/32"
    if kind < 0.75:
        return _v6(rng)
    if kind < 0.9:
        return rng.choice(ODD)
    if kind < 0.97:
        return fz.text(rng, 12)
    return rng.choice(fz.WRONG)


def _when(rng: random.Random) -> Any:
    kind = rng.random()
    if kind < 0.03:
        return rng.choice([float("nan"), float("inf"), -float("inf"), 0, 10**30, "1", None])
    return 1000.0 + rng.random() * 400


def _failure(rng: random.Random) -> Any:
    kind = rng.random()
    if kind < 0.01:
        return rng.choice([(1, 2, 3), (1, 2, 3, 4, 5), 7, None, ["10.0.0.1/32", None, 1.0, False],
                           "iter", "iter5"])  # fmt: skip
    good = rng.choice([False, False, False, True, 0, 1, "", "x"])
    return (_key(rng), None, _when(rng), good)


def _made(specs: list[Any]) -> list[Any]:
    """The failures of ``specs``, an iterator made afresh for each side."""
    made: dict[str, Callable[[], Iterator[Any]]] = {
        "iter": partial(iter, ("10.0.0.2/32", None, 2.0, False)),
        "iter5": partial(iter, range(5)),
    }
    return [made[s]() if isinstance(s, str) and s in made else s for s in specs]


CONFIGS = [
    SubnetConfig(addresses=3, findtime=60.0),
    SubnetConfig(prefix4=16, prefix6=32, addresses=2, findtime=30.0),
    SubnetConfig(prefix4=8, prefix6=64, addresses=4),
    SubnetConfig(prefix4=20, prefix6=40, addresses=2),
    SubnetConfig(prefix6=16, addresses=1, findtime=10.0),
]


def _pair(config: SubnetConfig, cap: int) -> tuple[SubnetCrowd, SubnetCrowd]:
    return SubnetCrowd(config, cap), SubnetCrowd(config, cap)


def test_random_steps_are_the_pythons() -> None:
    """Seeded fuzz: steps of failures against the Python path; a step that raised is
    compared by its exception, then both are made again (a half-changed state is not
    compared)."""
    rng = random.Random(22)
    seen: set[str] = set()
    for round_ in range(80):
        config = rng.choice(CONFIGS)
        ours, theirs = _pair(config, rng.choice([2, 6, 40, 1000]))
        for step in range(40):
            specs = [_failure(rng) for _ in range(rng.randrange(12))]
            failures, copy = _made(specs), _made(specs)
            mine = _answer(partial(ours.observe_all, failures))
            real = _python_answer(partial(theirs.observe_all, copy))
            assert mine == real, (round_, step, failures)
            seen.add(mine[1] if mine[0] == "raised" else "verdict" if "subnet" in mine[1] else "ok")
            if mine[0] == "raised":
                break
            assert _state(ours) == _state(theirs), (round_, step)
            if rng.random() < 0.3:
                assert _answer(ours.changes) == _python_answer(theirs.changes)
    assert {"ok", "verdict", "ValueError", "TypeError", "AttributeError"} <= seen, seen


def test_a_flood_of_new_prefixes_evicts_as_the_python() -> None:
    full = 0
    for config in CONFIGS:
        ours, theirs = _pair(config, 50)
        failures = [(f"10.{i // 65536 % 256}.{i // 256 % 256}.{i % 256}/32", None, 5.0 + i, False)
                    for i in range(0, 40_000, 97)]  # fmt: skip
        failures += [(f"2001:db8:{i:x}:{i % 7:x}::/64", None, 9.0 + i, False) for i in range(400)]
        mine = _answer(partial(ours.observe_all, failures))
        assert mine == _python_answer(partial(theirs.observe_all, failures))
        full += type(ours.prefixes.kept).__name__ == "OrderedDict"
        assert _state(ours) == _state(theirs)
        assert _answer(ours.changes) == _python_answer(theirs.changes)
    assert full >= 2  # (the maps filled: a new prefix's way in is the oldest out)


def test_crowds_ban_as_the_python() -> None:
    config = SubnetConfig(addresses=3, findtime=60.0)
    ours, theirs = _pair(config, 1000)
    failures: list[Any] = []
    for i in range(300):
        failures.append((f"192.0.2.{i % 5}/32", None, 100.0 + i * 7, i % 11 == 0))
        failures.append((f"2001:db8:{i % 3}:{i % 4}::/64", None, 100.0 + i * 7, False))
    mine = _answer(partial(ours.observe_all, failures))
    assert mine == _python_answer(partial(theirs.observe_all, failures))
    assert "subnet" in mine[1]
    assert _state(ours) == _state(theirs)
    assert _answer(ours.changes) == _python_answer(theirs.changes)


def test_rows_of_every_shape_are_the_pythons() -> None:
    values: list[Any] = [
        None, ("10.0.0.1/32", 5.0), ("10.0.0.1/32", 5), ("é\x00\"/32", 1e300),
        ("a", float("nan")), ("a", float("inf")), ("a",), ("a", 1.0, 2.0), (1, 2.0),
        ("a", "b"), {"x": 1.0, "y": 2.5}, {"x": float("inf")}, {}, 3, [1, 2],
    ]  # fmt: skip
    for value in values:
        ours, theirs = _pair(SubnetConfig(), 10)
        for crowd in (ours, theirs):
            crowd.prefixes.dirty["p"] = value
        assert _answer(ours.changes) == _python_answer(theirs.changes), value
    slow_values: list[Any] = [None, 7, [1, 2, 3, 4], [], True, 2.5, "x", (1, 2), 10**40, -3]
    for value in slow_values:
        mine, real = SlowWindow(SlowConfig(), 10), SlowWindow(SlowConfig(), 10)
        for slow in (mine, real):
            slow.keys.dirty["k"] = value
        assert _answer(mine.changes) == _python_answer(real.changes), value


def test_slow_rows_of_a_flood_are_the_pythons() -> None:
    rng = random.Random(7)
    mine, real = (
        SlowWindow(SlowConfig(findtime=48.0), 30),
        SlowWindow(SlowConfig(findtime=48.0), 30),
    )
    for i in range(2000):
        seen = (f"10.0.0.{rng.randrange(60)}/32", None, 1000.0 + i * rng.random(), False)
        mine.observe(seen)
        real.observe(seen)
        if i % 37 == 0:
            assert _answer(mine.changes) == _python_answer(real.changes)


def test_a_replaced_prefix_of_leaves_the_python_path(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(SubnetCrowd, "prefix_of", lambda self, key: "all")
    crowd = SubnetCrowd(SubnetConfig(addresses=2), 10)
    crowd.observe_all([("2001:db8::/64", None, 1.0, False), ("2001:db9::/64", None, 2.0, False)])
    assert "all" not in crowd.prefixes.kept  # (a verdict took it out)
    assert crowd.prefixes.dirty == {"all": None}


def test_jail_detection_with_and_without_the_c_is_the_same() -> None:
    from journalban.config.detectors import AccountConfig, AttackModeConfig

    config = DetectorsConfig(
        slow=SlowConfig(maxretry=4, findtime=240.0),
        subnet=SubnetConfig(addresses=3),
        account=AccountConfig(addresses=3, findtime=60.0, hold=30.0),
        attack_mode=AttackModeConfig(failures=12, findtime=48.0, hold=20.0),
    )
    ours = JailDetection(config, 64)
    with _python():
        theirs = JailDetection(config, 64)
    rng = random.Random(3)
    for i in range(3000):
        key = f"10.{rng.randrange(3)}.{rng.randrange(9)}.{rng.randrange(200)}/32"
        if i % 3 == 0:
            key = _v6(rng)
        user = rng.choice(["root", "admin", None])
        mine = _answer(partial(ours.observe_apart, key, user, 1000.0 + i))
        with _python():
            real = _answer(partial(theirs.observe_apart, key, user, 1000.0 + i))
        assert mine == real
        if i % 10 == 0:
            assert _answer(ours.crowd_verdicts) == _python_answer(theirs.crowd_verdicts)
            assert _answer(ours.rows) == _python_answer(theirs.rows)


def test_rows_of_times_repeated_and_alike_are_the_pythons() -> None:
    """Rows' times repeated and alike: 0.0 and -0.0, a time and the next float."""
    times = [5.0, 5.0, 0.0, -0.0, -0.0, 0.0, 5.0, 5.000000000000001, 5.0, 1e22, 1e22, 5e-324]
    ours, theirs = _pair(SubnetConfig(), 10)
    for crowd in (ours, theirs):
        for i, when in enumerate(times):
            crowd.prefixes.dirty[f"p{i}"] = (f"10.0.0.{i}/32", when)
    mine = _answer(ours.changes)
    assert mine == _python_answer(theirs.changes)
    assert "-0.0}" in mine[1]
    assert "5.000000000000001}" in mine[1]
