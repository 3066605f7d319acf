"""A jail's detectors together (decisions.detecting.JailDetection) and their verdicts in the
decisions stage: the verdicts are each detector's, in the detectors' order; a verdict on a
network some account logged in from is checked against the known-good pairs."""

from __future__ import annotations

import random
from pathlib import Path
from types import SimpleNamespace
from typing import cast

from test_detectors import NOW, _engine, _fail, _feed, _login

from journalban.clock import FakeClock
from journalban.config.detectors import (
    AccountConfig,
    AttackModeConfig,
    DenyUsersConfig,
    DetectorsConfig,
    SlowConfig,
    SubnetConfig,
)
from journalban.decisions.detecting import JailDetection
from journalban.decisions.engine import Changes, DecisionEngine
from journalban.decisions.rowbatch import collect_detector_rows
from journalban.jails.detector import VerdictTuple
from journalban.state.detectorlog import add_rows, gather
from journalban.state.store import BatchCommit, StateStore

ALL = DetectorsConfig(
    deny_users=DenyUsersConfig(("root",)),
    slow=SlowConfig(maxretry=4, findtime=600.0),
    account=AccountConfig(addresses=4, findtime=300.0, hold=60.0),
    attack_mode=AttackModeConfig(failures=30, findtime=60.0, hold=20.0),
    subnet=SubnetConfig(addresses=3, findtime=300.0),
)


def test_the_verdicts_are_each_detectors_in_order() -> None:
    rng = random.Random(11)
    together, alone = JailDetection(ALL, 500), JailDetection(ALL, 500)
    when = NOW
    for step in range(5000):
        when += rng.choice([0.0, 0.5, 2.0, 30.0])
        key = f"198.51.{rng.randrange(3)}.{rng.randrange(30)}/32"
        user = rng.choice([None, "root", "alice", f"u{rng.randrange(20)}"])
        if rng.random() < 0.05 and user is not None:
            together.succeeded(key, user, when)
            alone.succeeded(key, user, when)
            continue
        assert alone.known_good is not None
        known = user is not None and alone.known_good.holds(user, key, when)
        expected: list[VerdictTuple] = []
        for detector in alone.detectors:
            expected += detector.observe((key, user, when, known))
        assert list(together.observe(key, user, when)) == expected, step
    assert together.rows() == alone.rows()


def test_an_attack_start_spares_a_network_that_logged_in_since(tmp_path: Path) -> None:
    detectors = DetectorsConfig(account=AccountConfig(addresses=4, findtime=3600.0, hold=3600.0))
    engine = _engine(
        StateStore(tmp_path / "s.sqlite"), FakeClock(NOW), detectors, maxretry=50, bantime=3600.0
    )
    # alice mistypes from her own address, then logs in from it: a known-good pair
    _feed(engine, [_fail("192.0.2.10", NOW - 500), _login("192.0.2.10", NOW - 490)])
    attack = [_fail(f"203.0.113.{i + 1}", NOW - 400 + i) for i in range(3)]
    banned = dict(_feed(engine, attack))  # the fourth network: alice is under attack
    assert banned == {f"203.0.113.{i + 1}": "account" for i in range(3)}
    assert dict(_feed(engine, [_fail("203.0.113.9", NOW - 300)])) == {"203.0.113.9": "account"}


def test_the_changed_keys_by_detector_gather_as_the_rows() -> None:
    # ``changed`` (BatchCommit.detector_changes) and ``rows`` of twin detections, gathered
    # commit after commit into the store's detector: key: value: the same keys and values
    # in the same order (the log rows' texts), sessions' rows before them as in a batch.
    rng = random.Random(23)
    as_rows, as_dicts = JailDetection(ALL, 40), JailDetection(ALL, 40)  # (40: evictions)
    into_rows: dict[str, dict[str, str | None]] = {}
    into_dicts: dict[str, dict[str, str | None]] = {}
    when, commits = NOW, 0
    for step in range(4000):
        when += rng.choice([0.0, 0.5, 2.0, 30.0, 400.0])
        key = f"198.51.{rng.randrange(3)}.{rng.randrange(60)}/32"
        user = rng.choice([None, "root", "alice", f"u{rng.randrange(20)}"])
        if rng.random() < 0.1 and user is not None:
            assert as_rows.succeeded(key, user, when) == as_dicts.succeeded(key, user, when)
        else:
            assert list(as_rows.observe(key, user, when)) == list(as_dicts.observe(key, user, when))
        if rng.random() < 0.05:
            sessions = [("sessions", f"s{rng.randrange(3)}", rng.choice([None, "1"]))]
            gather(into_rows, sessions + as_rows.rows())
            gather(into_dicts, *_added(as_dicts, sessions))
            assert _ordered(into_rows) == _ordered(into_dicts), step
            commits += 1
    assert commits > 100
    assert len(into_rows) == 6
    gather(into_rows, as_rows.rows())
    gather(into_dicts, *_added(as_dicts, []))
    assert _ordered(into_rows) == _ordered(into_dicts)
    assert _added(as_dicts, []) == ([], {})
    assert as_rows.rows() == []


def _added(
    detection: JailDetection, sessions: list[tuple[str, str, str | None]]
) -> tuple[list[tuple[str, str, str | None]], dict[str, dict[str, str | None]]]:
    """A batch's rows and dicts: the sessions' rows added first, then the detectors'."""
    rows: list[tuple[str, str, str | None]] = []
    changed: dict[str, dict[str, str | None]] = {}
    add_rows(rows, changed, "sessions", [(k, v) for _, k, v in sessions])
    detection.add_rows(rows, changed)
    return rows, changed


def _ordered(changes: dict[str, dict[str, str | None]]) -> list[object]:
    return [(detector, list(keyed.items())) for detector, keyed in changes.items()]


def test_a_group_collected_twice_keeps_its_rows_order() -> None:
    # (the agent collects once a group: a second collection into the same commit takes
    # the first's dicts into the rows, in order, so that they gather as rows did)
    detection, twin = JailDetection(ALL, 40), JailDetection(ALL, 40)
    detection.deferred = True
    jails = {"sshd": SimpleNamespace(detection=detection)}
    engine = cast("DecisionEngine", SimpleNamespace(jails=jails))
    commit = BatchCommit("sshd", detector_rows=[("sessions", "s", "1")])
    parts = []
    for failures in (
        [("198.51.0.1/32", "root")],
        [("198.51.0.1/32", "bob"), ("198.51.0.2/32", None)],
    ):
        for key, user in failures:
            detection.observe(key, user, NOW)
            twin.observe(key, user, NOW)
        parts.append(_added(twin, [])[1])
        collect_detector_rows(engine, Changes(commits=[commit]))
        if len(parts) == 1:
            assert commit.detector_changes == parts[0]
            assert commit.detector_rows == [("sessions", "s", "1")]
    as_rows = [(d, k, v) for part in parts for d, f in part.items() for k, v in f.items()]
    assert len(as_rows) > 3
    # (the rows then the dicts, as gather takes them)
    held = commit.detector_changes
    assert list(held) != list(parts[1])  # (some of the second's went to the rows)
    got = [*commit.detector_rows, *((d, k, v) for d, f in held.items() for k, v in f.items())]
    assert got == [("sessions", "s", "1"), *as_rows]
