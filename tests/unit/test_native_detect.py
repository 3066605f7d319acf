"""``journalban.jails._detectors`` (jails.nativedetect): ``JailDetection.observe_apart`` in C
against the Python method, on crafted failures and on seeded random ones (audit20's
``support.fuzzvalues``): the same verdicts, the same exceptions, the same state in every
detector (keys in their use order, rows, evictions) and the same rows."""

from __future__ import annotations

import random
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from functools import partial
from typing import Any

import pytest

from journalban.config.detectors import (
    AccountConfig,
    AttackModeConfig,
    DenyUsersConfig,
    DetectorsConfig,
    SlowConfig,
    SubnetConfig,
)
from journalban.decisions.detecting import JailDetection
from journalban.jails import nativedetect
from journalban.jails.slow import SlowWindow
from support import fuzzvalues as fz

pytestmark = pytest.mark.skipif(nativedetect.NATIVE is None, reason="_detectors not built")

ALL = DetectorsConfig(
    deny_users=DenyUsersConfig(users=("root",)),
    slow=SlowConfig(maxretry=4, findtime=240.0),
    subnet=SubnetConfig(addresses=3),
    account=AccountConfig(addresses=3, findtime=60.0, hold=30.0, ignore_users=("nobody",)),
    attack_mode=AttackModeConfig(failures=12, findtime=48.0, hold=20.0),
)


@contextmanager
def _python() -> Iterator[None]:
    saved = nativedetect.NATIVE
    nativedetect.NATIVE = None
    try:
        yield
    finally:
        nativedetect.NATIVE = saved


def _pair(config: DetectorsConfig, cap: int) -> tuple[JailDetection, JailDetection]:
    ours = JailDetection(config, cap)
    with _python():
        theirs = JailDetection(config, cap)
    assert "observe_apart" in vars(ours)
    assert "observe_apart" not in vars(theirs)
    return ours, theirs


def _state(detection: JailDetection) -> Any:
    """Every detector's state, its maps' keys in their order."""
    out: list[Any] = []
    for d in detection.detectors:
        fields: dict[str, Any] = {}
        for name, value in sorted(vars(d).items()):
            if hasattr(value, "kept"):  # a Tracked map
                value = (
                    type(value.kept).__name__, repr(list(value.kept.items())),
                    repr(list(value.dirty.items())), value.evicted,
                )  # fmt: skip
            elif callable(value):
                continue
            fields[name] = repr(value)
        out.append((d.name, fields))
    out.append(repr(detection._crowd))
    return out


def _answer(call: Callable[[], Any]) -> Any:
    try:
        return ("ok", repr(call()))
    except Exception as e:  # (compared: the same exception on both paths)
        return ("raised", type(e).__name__, str(e))


def _same(config: DetectorsConfig, failures: list[tuple[Any, Any, Any]], cap: int = 64,
          logins: dict[int, tuple[str, str]] | None = None, rows_every: int = 7) -> None:  # fmt: skip
    ours, theirs = _pair(config, cap)
    for i, (key, user, when) in enumerate(failures):
        if logins and i in logins:
            k, u = logins[i]
            for d in (ours, theirs):
                d.crowd_verdicts()
                d.succeeded(k, u, when if isinstance(when, float) else 0.0)
        mine = _answer(partial(ours.observe_apart, key, user, when))
        real = _answer(partial(theirs.observe_apart, key, user, when))
        assert mine == real, (i, key, user, when)
        assert _state(ours) == _state(theirs), (i, key, user, when)
        if i % rows_every == 0:
            assert _answer(ours.crowd_verdicts) == _answer(theirs.crowd_verdicts)
            assert ours.rows() == theirs.rows()
    assert ours.rows() == theirs.rows()


def _flood(n: int, users: list[str | None], step: float = 0.5, start: float = 1000.0) -> list[Any]:
    return [(f"10.0.{i // 250}.{i % 250}/32", users[i % len(users)], start + i * step)
            for i in range(n)]  # fmt: skip


def test_a_flood_of_one_account_is_the_pythons() -> None:
    _same(ALL, _flood(300, ["admin"]))


def test_no_user_long_and_non_ascii_names_are_the_pythons() -> None:
    long = "u" * 200
    users: list[str | None] = [None, long, long[:128], "é" * 129, "日本", "a\x00b", "nobody", "root",
                               "\U0001f600" * 130, "", "a\udc00"]  # fmt: skip
    _same(ALL, _flood(400, users, step=0.3))


def test_many_accounts_and_an_eviction_are_the_pythons() -> None:
    users: list[str | None] = [f"user{i}" for i in range(40)]
    _same(ALL, _flood(600, users, step=0.1), cap=12)


def test_windows_ending_and_times_out_of_order_are_the_pythons() -> None:
    rng = random.Random(21)
    failures = [(f"192.0.2.{rng.randrange(6)}/32", rng.choice(["a", "b", None]),
                 1000.0 + rng.choice([0.0, 1.0, 9.0, 30.0, 200.0, -50.0]) * (i % 13) + i)
                for i in range(500)]  # fmt: skip
    _same(ALL, failures, cap=8)
    _same(DetectorsConfig(slow=SlowConfig(maxretry=3, findtime=24.0)), failures, cap=4)
    _same(DetectorsConfig(attack_mode=AttackModeConfig(failures=5, findtime=24.0, hold=3.0)),
          failures)  # fmt: skip


def test_known_good_pairs_are_the_pythons() -> None:
    failures = _flood(200, ["admin", "alice", None])
    logins = {
        0: ("10.0.0.3/32", "admin"),
        5: ("10.0.0.7/32", "alice"),
        50: ("10.0.0.60/32", "admin"),
    }
    failures[60] = ("10.0.0.60/32", "admin", failures[60][2])
    failures[61] = ("10.0.0.3/32", "admin", failures[61][2])
    _same(ALL, failures, logins=logins)


def test_restored_rows_are_the_pythons() -> None:
    first = JailDetection(ALL, 64)
    with _python():
        python_first = JailDetection(ALL, 64)
    for key, user, when in _flood(120, ["admin", "bob", None]):
        first.observe_apart(key, user, when)
        python_first.observe_apart(key, user, when)
    first.crowd_verdicts()
    python_first.crowd_verdicts()
    rows = first.rows()
    assert rows == python_first.rows()
    stored: dict[str, list[tuple[str, str]]] = {}
    for name, key, value in rows:
        if value is not None:
            stored.setdefault(name, []).append((key, value))
    ours, theirs = _pair(ALL, 64)
    assert ours.restore(stored, 1100.0) == theirs.restore(stored, 1100.0)
    for key, user, when in _flood(150, ["admin", "carol"], start=1060.0):
        assert _answer(partial(ours.observe_apart, key, user, when)) == _answer(
            partial(theirs.observe_apart, key, user, when)
        )
        assert _state(ours) == _state(theirs)
    assert ours.rows() == theirs.rows()


def test_a_replaced_observe_is_called_as_it_is(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[Any] = []

    def canned(self: SlowWindow, seen: Any) -> Any:
        calls.append(seen)
        return ()

    monkeypatch.setattr(SlowWindow, "observe", canned)
    ours = JailDetection(ALL, 64)
    ours.observe_apart("192.0.2.1/32", "x", 5.0)
    assert calls == [("192.0.2.1/32", "x", 5.0, False)]


def test_the_switch_leaves_the_python_method() -> None:
    with _python():
        detection = JailDetection(ALL, 64)
    assert "observe_apart" not in vars(detection)


def test_a_replaced_observe_apart_is_left_as_it_is(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(JailDetection, "observe_apart", lambda *_: ())
    assert "observe_apart" not in vars(JailDetection(ALL, 64))


def _when(rng: random.Random) -> Any:
    kind = rng.random()
    if kind < 0.03:
        return rng.choice([float("nan"), float("inf"), -float("inf"), 0, 10**30, "1", None])
    if kind < 0.1:
        return rng.choice([0.0, -1.0, 1e18, 5e-324])
    return 1000.0 + rng.random() * 400


def test_random_failures_are_the_pythons() -> None:
    """Seeded fuzz: keys and users of every class of character (and some of no str type),
    times odd and out of order, against the Python path; a path that raised is compared
    by its exception, then both are made again (a half-changed state is not compared)."""
    rng = random.Random(2021)
    configs = [
        ALL,
        DetectorsConfig(account=AccountConfig(addresses=2, findtime=5.0, hold=2.0)),
        DetectorsConfig(slow=SlowConfig(maxretry=2, findtime=2.4),
                        attack_mode=AttackModeConfig(failures=3, findtime=2.4, hold=1.0)),
    ]  # fmt: skip
    for round_ in range(60):
        config = rng.choice(configs)
        ours, theirs = _pair(config, rng.choice([2, 5, 64]))
        keys = [fz.text(rng, 12) if rng.random() < 0.3 else f"198.51.100.{rng.randrange(9)}/32"
                for _ in range(8)]  # fmt: skip
        users = [None, *(fz.name(rng) for _ in range(5))]
        for i in range(120):
            key = rng.choice(keys) if rng.random() > 0.02 else rng.choice(fz.WRONG)
            user, when = rng.choice(users), _when(rng)
            mine = _answer(partial(ours.observe_apart, key, user, when))
            real = _answer(partial(theirs.observe_apart, key, user, when))
            assert mine == real, (round_, i, key, user, when)
            if mine[0] == "raised":
                break
            assert _state(ours) == _state(theirs), (round_, i)
            if rng.random() < 0.1:
                assert _answer(ours.crowd_verdicts) == _answer(theirs.crowd_verdicts)
                assert _answer(ours.rows) == _answer(theirs.rows)
