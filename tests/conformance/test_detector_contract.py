"""Every detector behind the one ``Detector`` protocol keeps the same contract.

Run against each implementation (and a fake): verdicts carry a fixed reason,
the rows it reports rebuild it exactly, and a flood of distinct keys keeps
it within its bound.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Sequence

import pytest

from journalban.config.detectors import (
    AccountConfig,
    AttackModeConfig,
    DenyUsersConfig,
    SlowConfig,
    SubnetConfig,
)
from journalban.jails.account import AccountAttack
from journalban.jails.attackmode import AttackMode
from journalban.jails.denyusers import DenyUsers
from journalban.jails.detector import FAILURES, REASONS, Detector, Failure, Row, Seen, Verdict
from journalban.jails.slow import SlowWindow
from journalban.jails.subnet import SubnetCrowd
from journalban.jails.tracked import Tracked

NOW = 1_800_000_000.0
CAP = 500


class FakeDetector:
    """The simplest detector: bans a key at its third failure (test double for the protocol)."""

    name = "fake"

    def __init__(self) -> None:
        self.counts: Tracked[int] = Tracked(CAP)

    @property
    def tracked(self) -> int:
        return len(self.counts)

    def observe(self, seen: Failure) -> Sequence[Verdict]:
        key = seen[0]
        count = self.counts.touch(key, (self.counts.get(key) or 0) + 1)
        if count < 3:
            return ()
        self.counts.drop(key)
        return (Verdict(FAILURES, key, count, -1.0),)

    def banned(self, key: str) -> None:
        self.counts.drop(key)

    def changes(self) -> list[Row]:
        return self.counts.changes()

    def discard_changes(self) -> None:
        self.counts.discard()

    def restore(self, rows: Iterable[tuple[str, str]], now: float) -> None:
        for key, value in rows:
            self.counts.load(key, json.loads(value))


MAKERS: dict[str, Callable[[], Detector]] = {
    "fake": FakeDetector,
    "deny_users": lambda: DenyUsers(DenyUsersConfig(("root", "adm*"))),
    "slow": lambda: SlowWindow(SlowConfig(maxretry=4, findtime=86400.0), CAP),
    "subnet": lambda: SubnetCrowd(SubnetConfig(addresses=3, findtime=3600.0), CAP),
    "account": lambda: AccountAttack(AccountConfig(addresses=3, findtime=3600.0, hold=600.0), CAP),
    "attack_mode": lambda: AttackMode(AttackModeConfig(failures=20, findtime=600.0, hold=300.0)),
}


def _traffic(n: int, start: float = NOW) -> list[Seen]:
    """Failures from a few prefixes against a few accounts, some repeated."""
    users = ["root", "admin", "alice", "bob", None]
    return [
        Seen(f"203.0.{113 + i % 3}.{i % 7 + 1}", users[i % len(users)], start + i * 30.0)
        for i in range(n)
    ]


def _stored(rows: list[Row], into: dict[str, str]) -> None:
    for key, value in rows:
        if value is None:
            into.pop(key, None)
        else:
            into[key] = value


@pytest.mark.parametrize("kind", MAKERS)
def test_verdicts_name_a_fixed_reason_and_a_seen_network(kind: str) -> None:
    detector = MAKERS[kind]()
    verdicts = [Verdict(*v) for seen in _traffic(200) for v in detector.observe(seen)]
    assert verdicts, f"{kind} called for no ban on the sample traffic"
    for v in verdicts:
        assert v.reason in REASONS
        assert v.count >= 1
        assert v.account is None or v.account in {"root", "admin", "alice", "bob"}


@pytest.mark.parametrize("kind", MAKERS)
def test_rows_rebuild_the_detector_exactly(kind: str) -> None:
    """Committed rows at any point, restored, give the same verdicts afterwards."""
    traffic = _traffic(300)
    whole = MAKERS[kind]()
    stored: dict[str, str] = {}
    split = MAKERS[kind]()
    before = [v for seen in traffic[:137] for v in split.observe(seen)]
    _stored(split.changes(), stored)
    restored = MAKERS[kind]()
    restored.restore(stored.items(), traffic[137].when)
    expected = [v for seen in traffic for v in whole.observe(seen)]
    after = [v for seen in traffic[137:] for v in restored.observe(seen)]
    assert before + after == expected


@pytest.mark.parametrize("kind", MAKERS)
def test_a_flood_of_distinct_keys_stays_within_the_bound(kind: str) -> None:
    detector = MAKERS[kind]()
    stored: dict[str, str] = {}
    for i in range(20_000):
        seen = Seen(f"10.{i >> 16 & 255}.{i >> 8 & 255}.{i & 255}", f"user{i}", NOW + i * 0.01)
        detector.observe(seen)
        if i % 1000 == 0:
            _stored(detector.changes(), stored)
    _stored(detector.changes(), stored)
    assert detector.tracked <= CAP * 2
    assert len(stored) <= CAP * 2, "the state table holds no more than memory"


@pytest.mark.parametrize("kind", MAKERS)
def test_discarded_changes_are_not_reported(kind: str) -> None:
    detector = MAKERS[kind]()
    for seen in _traffic(50):
        detector.observe(seen)
    detector.discard_changes()
    assert detector.changes() == []


@pytest.mark.parametrize("kind", MAKERS)
def test_changes_are_reported_once(kind: str) -> None:
    detector = MAKERS[kind]()
    for seen in _traffic(50):
        detector.observe(seen)
    detector.changes()
    assert detector.changes() == []
