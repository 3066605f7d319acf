"""The deciding's per-failure loop in C (decisions.hitloop, ``_hitloop.count_hits``)
against the Python path.

The same traffic (test_first_failure_banned's: IPv4 and IPv6 networks, ignored and junk
addresses, logins, long and non-ASCII lines, lines without a time and from the future,
bans ended by the clock when decided: virtual bans, a restart) decided with the C loop and
with the Python one, with the detectors on and off, traced and not: every commit, ban,
kept line, count and stored row the same, and every call back (the counter's and the kept
lines' ``add``, the detectors, the bans) made with the same arguments in the same order.
Crafted batches (hits of the wrong shape, memos that are not dicts, an error raised in a
call back) end as the Python path ends them; nothing leaks a reference.
"""

from __future__ import annotations

import dataclasses
import gc
import logging
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from test_first_failure_banned import NOW, _engine, _held, _rows, _traffic, committed_lines

from journalban.clock import FakeClock
from journalban.config.detectors import DetectorsConfig
from journalban.decisions import hitloop, trace
from journalban.decisions.banning import BanDeciding
from journalban.decisions.detecting import JailDetection
from journalban.decisions.engine import DecisionEngine
from journalban.decisions.recentlines import LINE_CHARS, RecentLines
from journalban.events import FAILURE, Hit, LineBatch
from journalban.jails.counter import FailureCounter
from journalban.state.store import StateStore

pytestmark = pytest.mark.skipif(hitloop.NATIVE is None, reason="_hitloop not built")

Calls = list[tuple[Any, ...]]


def _watch(patch: pytest.MonkeyPatch, calls: Calls) -> None:
    """Note every call back the loop makes, with its arguments, in order."""

    def noting(cls: type, name: str) -> None:
        real: Callable[..., Any] = getattr(cls, name)

        def noted(self: Any, *args: Any) -> Any:
            found = real(self, *args)
            calls.append((name, *[a for a in args if not hasattr(a, "__dict__")], found))
            return found

        patch.setattr(cls, name, noted)

    noting(FailureCounter, "add")
    noting(RecentLines, "add")
    noting(JailDetection, "observe_apart")
    noting(BanDeciding, "_decide_ban")


def _decide(path: Path, seed: int, detectors: bool, traced: bool) -> list[Any]:
    """Everything decided and kept over ``_traffic(seed)``, a restart midway."""
    clock = FakeClock(NOW)
    store = StateStore(path)
    seen: list[Any] = []

    def engine_now() -> DecisionEngine:
        engine = _engine(store, clock, max_tracked=40)
        if not detectors:
            rt = engine.jails["sshd"]
            rt.config = dataclasses.replace(rt.config, detectors=DetectorsConfig())
            rt.detection = None
        return engine

    engine = engine_now()
    logger = logging.getLogger("journalban.decisions")
    level = logger.level
    logger.setLevel(logging.DEBUG if traced else logging.WARNING)
    try:
        for i, hits in enumerate(_traffic(seed, 60)):
            if i == 30:
                store.close()
                store = StateStore(path)
                engine = engine_now()
                engine.load_bans()
            if i % 5 == 4:  # some from the future, some long before (virtual bans)
                hits = [(h[0], h[1], NOW + 50.0, h[3], h[4]) for h in hits[:3]] + hits[3:]
            batch = LineBatch("journal", [h[0] for h in hits], f"c{i}", prefixed=False)
            changes = engine.process_hits("sshd", batch, iter(hits))
            rt = engine.jails["sshd"]
            seen.append(
                [
                    (c.bans, c.history, c.new_failures, c.cleared, c.failed_delta, c.banned_delta)
                    for c in changes.commits
                ]
                + [changes.bans, committed_lines(changes, changes.bans), changes.pending_bans]
                + [_held(engine), sorted(engine._virtual.items())]
                + [(rt.ignored_failures, rt.latest_line, dict(rt.networks))]
            )
            store.commit(changes.commits)
            engine.forget_lines(changes.bans)
            if i % 7 == 6:
                clock.set(NOW + i)
                engine.expire()
    finally:
        logger.setLevel(level)
    store.close()
    return [*seen, _rows(path)]


def _both(
    tmp_path: Path,
    seed: int,
    detectors: bool,
    traced: bool,
    patch: pytest.MonkeyPatch,
    watched: bool = True,
) -> tuple[Any, Any]:
    """(what the C loop decided and called, what the Python loop did); ``watched``: the
    calls noted (the C loop then calls the counter's and kept lines' add each time)."""
    assert hitloop.count_hits is hitloop.NATIVE
    results = []
    for native in (True, False):
        calls: Calls = []
        with patch.context() as inner:
            if watched:
                _watch(inner, calls)
            assert hitloop.use(native) is native
            try:
                results.append((_decide(tmp_path / f"{native}.sqlite", seed, detectors, traced),
                                calls))  # fmt: skip
            finally:
                hitloop.use(True)
    return results[0], results[1]


@pytest.mark.parametrize("watched", [True, False])
@pytest.mark.parametrize("detectors", [True, False])
@pytest.mark.parametrize("seed", range(5))
def test_the_c_loop_decides_as_the_python_loop(
    tmp_path: Path, seed: int, detectors: bool, watched: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    (ours, our_calls), (theirs, their_calls) = _both(tmp_path, seed, detectors, False,
                                                     monkeypatch, watched)  # fmt: skip
    if watched:
        assert len(our_calls) > 100
        assert any(c[0] == "_decide_ban" for c in our_calls)
    assert our_calls == their_calls
    assert len(ours) == len(theirs)
    for step, (a, b) in enumerate(zip(ours, theirs, strict=True)):
        assert a == b, step


def test_the_c_loop_traces_as_the_python_loop(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    logs = []
    for native in (True, False):
        caplog.clear()
        with caplog.at_level(logging.DEBUG, logger="journalban.decisions"):
            assert hitloop.use(native) is native
            try:
                _decide(tmp_path / f"{native}.sqlite", 3, True, True)
            finally:
                hitloop.use(True)
        logs.append([r.getMessage() for r in caplog.records])
    assert any(m.startswith("Found ") for m in logs[0])
    assert any(m.startswith("Ignore ") for m in logs[0])
    assert logs[0] == logs[1]


def _one_batch(hits: Any, native: bool, tmp_path: Path) -> Any:
    """What one batch of ``hits`` gives (its result, or the error's type and text)."""
    store = StateStore(tmp_path / f"one-{native}.sqlite")
    engine = _engine(store, FakeClock(NOW), max_tracked=40)
    hitloop.use(native)
    try:
        batch = LineBatch("journal", ["x"], "c", prefixed=False)
        try:
            changes = engine.process_hits("sshd", batch, hits)
        except Exception as exc:  # (the error itself is compared)
            return type(exc), str(exc)
        return [c.new_failures for c in changes.commits], _held(engine)
    finally:
        hitloop.use(True)
        store.close()


GOOD: Hit = ("Failed password", "198.51.100.7", NOW - 1.0, "root", FAILURE)
CRAFTED: list[Any] = [
    [GOOD, GOOD, GOOD, ("l", "198.51.100.7", None, None, 0)],
    [GOOD, ["l", "198.51.100.8", NOW - 1.0, None, 0]],  # a list, unpacked
    [GOOD, ("l", "198.51.100.8", NOW - 1.0, None)],  # four values
    [GOOD, ("l", "198.51.100.8", NOW - 1.0, None, 0, 1)],  # six
    [GOOD, 5],  # not iterable
    [("l", "", None, None, 0), ("l", "\0", None, None, 0), ("l", "1.2.3.4\0", None, None, 0)],
    [("l", "2001:db8::1%eth0", None, None, 0), ("l", "::ffff:1.2.3.4", None, None, 0)],
    [("l", "[2001:db8::1]", None, None, 0), ("l", "2001:DB8::1", None, None, 0)],
    [("l", "198.51.100.9", NOW + 1e9, None, 0)] * 4,  # from the future: now
    [("l", "198.51.100.9", NOW - 1e9, None, 0)] * 4,  # long before: virtually banned
    [("l", "198.51.100.9", NOW - 1.0, None, 5)] * 2,  # a login's mark of another value
    [("l", ["unhashable"], NOW - 1.0, None, 0)],
    [("l", "198.51.100.9", "not a time", None, 0)],
]


@pytest.mark.parametrize("hits", CRAFTED)
def test_a_crafted_batch_ends_as_in_python(tmp_path: Path, hits: Any) -> None:
    assert _one_batch(iter(hits), True, tmp_path) == _one_batch(iter(hits), False, tmp_path)


def test_an_error_in_the_hits_is_raised(tmp_path: Path) -> None:
    def broken() -> Iterator[Hit]:
        yield GOOD
        raise OSError("read")

    assert _one_batch(broken(), True, tmp_path) == (OSError, "read")


def test_memos_that_are_not_dicts_take_the_python_path(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    used: list[bool] = []
    python = hitloop.count_hits_python

    def noted(*args: Any) -> Any:
        used.append(True)
        return python(*args)

    class Memo(dict[str, Any]):
        def get(self, key: str, default: Any = None) -> Any:
            return super().get(key, default)

    store = StateStore(tmp_path / "s.sqlite")
    engine = _engine(store, FakeClock(NOW), max_tracked=40)
    rt = engine.jails["sshd"]
    rt.networks = Memo()
    rt.networks_for = (rt.ignore, rt.ignore.generation)
    from journalban.decisions import _hitloop

    own = (FailureCounter.add, RecentLines.add, LINE_CHARS)
    _hitloop.setup(trace, noted, *own)
    try:
        engine.process_hits("sshd", LineBatch("journal", ["x"], "c", prefixed=False), [GOOD])
    finally:
        _hitloop.setup(trace, python, *own)
        store.close()
    assert used == [True]


def test_no_reference_leaks(tmp_path: Path) -> None:
    # (objects of this test's own: their counts move only with what holds them)
    line, host, user = "Failed " + str(id(tmp_path)), "198.51.100." + str(len(str(NOW))), "u" + "x"
    when = NOW - float(len(line))
    hits: list[Any] = [(line, host, when, user, FAILURE)] * 7 + [(line, "junk", when, user, 0)]
    hits += [[line, host, when, user, 0], (line, host, None, user, 1), (line, host, when, user)]
    mine = (line, host, user, when)

    def counts() -> list[int]:
        gc.collect()
        return [sys.getrefcount(o) for o in mine]

    _one_batch(iter(hits), True, tmp_path)
    before = counts()
    for _ in range(20):
        _one_batch(iter(hits), True, tmp_path)
        _one_batch(iter(CRAFTED[4]), True, tmp_path)
    assert counts() == before
