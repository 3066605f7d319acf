"""``subnet`` handed a step's failures after the engine's loop (decisions.crowd).

Its verdicts ban prefixes, never a network a failure counts by, so they are applied at
the step's end, and before each login of the step (a prefix ban is narrowed around the
known-good networks as they were at its failure). These tests run the same traffic (the
first-failure tests': crowds of new networks in a few /24s, logins of known-good pairs,
repeats, ignored addresses, a reload and a restart) with the crowd observing each
failure with the other detectors (the engine calling ``JailDetection.observe``, as
before) and apart (``observe_apart``), and compare everything decided and kept, the order of a step's bans aside.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from test_first_failure_banned import NOW, _engine, _run

from journalban.clock import FakeClock
from journalban.decisions.detecting import JailDetection
from journalban.events import FAILURE, SUCCESS, Hit, LineBatch
from journalban.state.store import StateStore


def _unordered(step: list[Any]) -> list[Any]:
    """A step's commits and bans with each list of bans as a set (their order aside)."""
    *commits, bans, pending, held = step
    return [
        *[
            (sorted(map(repr, b)), sorted(map(repr, h)), failures, cleared, failed, banned)
            for b, h, failures, cleared, failed, banned in commits
        ],
        sorted(map(repr, bans)),
        pending,
        held,
    ]


@pytest.mark.parametrize("seed", range(8))
def test_the_same_decisions_and_state_with_the_crowd_apart(
    tmp_path: Path, seed: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    apart, _ = _run(tmp_path / "apart", seed, first=True)
    apart_only = JailDetection.observe_apart

    def every_detector(self: JailDetection, key: str, user: str | None, when: float) -> Any:
        verdicts = apart_only(self, key, user, when)
        crowd = self.crowd_verdicts()  # (``observe``: the crowd's with the failure's own)
        return [*verdicts, *crowd[0][1]] if crowd else verdicts

    monkeypatch.setattr(JailDetection, "observe_apart", every_detector)
    inline, _ = _run(tmp_path / "inline", seed, first=True)
    assert len(apart) == len(inline)
    for step, (ours, theirs) in enumerate(zip(apart[:-1], inline[:-1], strict=True)):
        assert _unordered(ours) == _unordered(theirs), step
    assert apart[-1] == inline[-1]  # the stored state, every table
    prefixes = [b for step in apart[:-1] for b in step[-3] if b.reason == "subnet"]
    assert prefixes  # the crowds were banned


def _crowd_then(after: list[Hit]) -> list[Any]:
    """Four new networks of 203.0.113.0/24 failing (a crowd: ``subnet`` calls for the
    prefix at the fourth), then ``after``, in one step: the bans."""
    hits: list[Hit] = [
        (f"Failed password from 203.0.113.{i}", f"203.0.113.{i}", NOW - 10.0 + i, None, FAILURE)
        for i in range(1, 5)
    ]
    hits += after
    return hits


def _step(tmp_path: Path, hits: list[Hit]) -> list[tuple[str, str]]:
    engine = _engine(StateStore(tmp_path / "s.sqlite"), FakeClock(NOW), max_tracked=1000)
    batch = LineBatch("journal", [h[0] for h in hits], "c", prefixed=False)
    changes = engine.process_hits("sshd", batch, hits)
    return [(b.reason, str(b.network)) for b in changes.bans]


def test_a_login_after_the_crowd_does_not_narrow_its_prefix(tmp_path: Path) -> None:
    # alice logs in from inside the prefix after the crowd's fourth failure: the prefix
    # was decided before, around no known-good network (applied after the login, it
    # would be narrowed to the /25 that leaves 203.0.113.200 out)
    login = ("Accepted password for alice", "203.0.113.200", NOW - 2.0, "alice", SUCCESS)
    assert _step(tmp_path, _crowd_then([login])) == [("subnet", "203.0.113.0/24")]


def test_a_login_before_the_crowd_narrows_its_prefix(tmp_path: Path) -> None:
    login = ("Accepted password for alice", "203.0.113.200", NOW - 20.0, "alice", SUCCESS)
    assert _step(tmp_path, [login, *_crowd_then([])]) == [("subnet", "203.0.113.0/25")]


def test_the_crowd_is_banned_after_the_steps_other_bans(tmp_path: Path) -> None:
    denied = ("Failed password for root", "198.51.100.7", NOW - 1.0, "root", FAILURE)
    assert _step(tmp_path, _crowd_then([denied])) == [
        ("deny_user", "198.51.100.7/32"),
        ("subnet", "203.0.113.0/24"),
    ]
