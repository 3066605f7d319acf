"""A restart in a backlog: the detectors' windows are restored by the stored times.

The agent reads on from the position committed with the detectors' rows; in a
backlog (a restart while catching up, a start after a downtime) the lines there
are as old as those rows, hours or days behind the clock. The detectors count by
the lines' times, so a restore that kept only what was within findtime (or a
hold) of the clock lost every window the next lines still counted on: a restart
changed the decisions. These tests run the same failures with and without a
restart between two of them, two days behind the clock.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from journalban.clock import FakeClock
from journalban.config.detectors import (
    AccountConfig,
    AttackModeConfig,
    DetectorsConfig,
    SlowConfig,
    SubnetConfig,
)
from journalban.config.schema import JailConfig, RecidiveConfig
from journalban.decisions.engine import DecisionEngine
from journalban.decisions.ignore import IgnoreList
from journalban.events import FAILURE, Hit, LineBatch
from journalban.jails.account import AccountAttack
from journalban.jails.detector import Seen
from journalban.jails.slow import SlowWindow
from journalban.jails.subnet import SubnetCrowd
from journalban.state.store import StateStore

NOW = 1_700_000_000.0
T0 = NOW - 2 * 86400  # the backlog: logged two days ago, longer than any window below


def _engine(path: Path, detectors: DetectorsConfig) -> DecisionEngine:
    engine = DecisionEngine(StateStore(path), FakeClock(NOW), RecidiveConfig(enabled=False))
    # (bans of a week: a ban over before the clock is only virtual, listed nowhere)
    cfg = JailConfig(name="sshd", detectors=detectors, maxretry=100, bantime=7 * 86400.0)
    engine.configure({"sshd": cfg}, {"sshd": IgnoreList((), ignore_local_networks=False)})
    return engine


def _fail(address: str, when: float, user: str | None = "carol") -> Hit:
    return (f"Failed password for {user} from {address}", address, when, user, FAILURE)


def _feed(engine: DecisionEngine, hits: list[Hit], position: str) -> list[tuple[str, str]]:
    batch = LineBatch("journal", [h[0] for h in hits], position, prefixed=False)
    changes = engine.process_hits("sshd", batch, hits)
    engine.store.commit(changes.commits)
    engine.forget_lines(changes.bans)
    return [(b.address, b.reason) for b in changes.bans]


def _run(path: Path, detectors: DetectorsConfig, before: list[Hit], after: list[Hit],
         restart: bool) -> list[tuple[str, str]]:  # fmt: skip
    engine = _engine(path, detectors)
    banned = _feed(engine, before, "a")
    if restart:
        engine.store.close()
        engine = _engine(path, detectors)
    banned += _feed(engine, after, "b")
    engine.store.close()
    return sorted(banned)


CASES: dict[str, tuple[dict[str, Any], list[Hit], list[Hit], list[tuple[str, str]]]] = {
    "subnet": (
        {"subnet": SubnetConfig(prefix4=24, addresses=3, findtime=3600.0)},
        [_fail("203.0.113.1", T0), _fail("203.0.113.2", T0 + 60)],
        [_fail("203.0.113.3", T0 + 120)],
        [("203.0.113.0/24", "subnet")],
    ),
    "slow": (
        {"slow": SlowConfig(maxretry=3, findtime=86400.0)},
        [_fail("203.0.113.9", T0), _fail("203.0.113.9", T0 + 3600)],
        [_fail("203.0.113.9", T0 + 7200)],
        [("203.0.113.9", "slow")],
    ),
    "account window": (
        {"account": AccountConfig(addresses=3, findtime=3600.0, hold=3600.0)},
        [_fail("203.0.113.1", T0), _fail("198.51.100.2", T0 + 60)],
        [_fail("192.0.2.3", T0 + 120)],
        [("192.0.2.3", "account"), ("198.51.100.2", "account"), ("203.0.113.1", "account")],
    ),
    "account under attack": (
        {"account": AccountConfig(addresses=2, findtime=3600.0, hold=3600.0)},
        [_fail("203.0.113.1", T0), _fail("198.51.100.2", T0 + 60)],
        [_fail("192.0.2.3", T0 + 600)],  # within the hold: banned at its first failure
        [("192.0.2.3", "account"), ("198.51.100.2", "account"), ("203.0.113.1", "account")],
    ),
    # Already by the lines' times before: its buckets and end are restored as stored.
    "attack_mode": (
        {"attack_mode": AttackModeConfig(failures=4, findtime=600.0, hold=600.0)},
        [_fail(f"203.0.113.{i}", T0 + i, None) for i in (1, 2, 3)],
        [_fail("198.51.100.4", T0 + 4, None), _fail("192.0.2.5", T0 + 300, None)],
        [("192.0.2.5", "attack_mode"), ("198.51.100.4", "attack_mode")],
    ),
}


@pytest.mark.parametrize("kind", list(CASES))
def test_a_restart_in_a_backlog_decides_as_no_restart(tmp_path: Path, kind: str) -> None:
    keys, before, after, expected = CASES[kind]
    detectors = DetectorsConfig(**keys)
    plain = _run(tmp_path / "plain.sqlite", detectors, before, after, restart=False)
    restarted = _run(tmp_path / "restarted.sqlite", detectors, before, after, restart=True)
    assert plain == expected
    assert restarted == plain


# --- what the restore still drops: memory stays bounded by the stored times ----------


def test_subnet_restore_drops_what_is_findtime_before_the_newest_stored() -> None:
    rows = [("203.0.113.0/24", json.dumps({"203.0.113.1/32": T0})),
            ("198.51.100.0/24", json.dumps({"198.51.100.1/32": T0 - 3601})),
            ("192.0.2.0/24", json.dumps({"192.0.2.1/32": T0 - 3599}))]  # fmt: skip
    crowd = SubnetCrowd(SubnetConfig(prefix4=24, addresses=3, findtime=3600.0), 1000)
    crowd.restore(rows, NOW)
    assert sorted(crowd.prefixes) == ["192.0.2.0/24", "203.0.113.0/24"]
    behind = SubnetCrowd(SubnetConfig(prefix4=24, addresses=3, findtime=3600.0), 1000)
    behind.restore(rows, T0 - 100)  # a clock behind the newest (set back): the clock's rule
    assert len(behind.prefixes) == 3


def test_slow_restore_drops_what_is_findtime_before_the_newest_stored_bucket() -> None:
    slow = SlowWindow(SlowConfig(maxretry=5, findtime=86400.0), 1000)
    width = slow.width
    newest = int(T0 // width)
    rows = [("203.0.113.1/32", json.dumps([newest, 2])),
            ("203.0.113.2/32", json.dumps([newest - 24, 1])),  # ended a window before
            ("203.0.113.3/32", json.dumps([newest - 30, 1, newest - 23, 1]))]  # fmt: skip
    slow.restore(rows, NOW)
    assert sorted(slow.keys) == ["203.0.113.1/32", "203.0.113.3/32"]


def test_account_restore_keeps_a_hold_the_backlog_is_still_in() -> None:
    account = AccountAttack(AccountConfig(addresses=3, findtime=3600.0, hold=3600.0), 1000)
    rows = [("a:carol", json.dumps(T0 + 3600)),  # an attack started at T0: the newest stored
            ("a:dave", json.dumps(T0 - 1)),  # over before it
            ("s:erin", json.dumps({"203.0.113.1/32": T0 - 600})),
            ("s:frank", json.dumps({"203.0.113.2/32": T0 - 3601}))]  # fmt: skip
    account.restore(rows, NOW)
    assert sorted(account.attacked) == ["carol"]
    assert sorted(account.seen) == ["erin"]
    seen = Seen("192.0.2.7/32", "carol", T0 + 10)
    assert [(v[0], v[1]) for v in account.observe(seen)] == [("account", seen.key)]
