"""The fleet's tables in the state file, a row damaged in the file skipped and counted.

Like the state's own tables (state/plainrows.py): SQLite keeps whatever a hand or
a disk wrote into a column. A quorum report whose time was text met ``at >=
since`` and raised ValueError, and a member row that was not JSON raised
JSONDecodeError, both while the fleet service was built at the agent's start.
"""

from __future__ import annotations

import logging
import sqlite3
from pathlib import Path

import pytest

from journalban.clock import FakeClock
from journalban.config.fleet import FleetConfig
from journalban.fleet.ledger import FleetLedger
from journalban.fleet.service import FleetService
from journalban.state.store import BatchCommit, StateStore

NOW = 1_800_000_000.0
CFG = FleetConfig(servers=("nats://127.0.0.1:4222",), name="prod", host="b", quorum=2)
GOOD = ("sshd", "203.0.113.8/32", "a", "ban", NOW, None)

DAMAGED_REPORTS = [
    ("sshd", "203.0.113.9/32", "a", "ban", "yesterday", None),  # time as text
    ("sshd", "203.0.113.9/32", "c", "ban", NOW, "never"),  # end as text
    ("sshd", "203.0.113.9/32", "d", "delete", NOW, None),  # no such operation
    ("sshd", "203.0.113.9/32", "e", "ban", NOW, float("inf")),  # an end that never comes
]


class _NoPort:
    async def apply_remote(self, orders: object, stream: str, seq: int) -> object:
        raise AssertionError("not called")


def _ledger(tmp_path: Path) -> tuple[StateStore, FleetLedger]:
    store = StateStore(tmp_path / "state.sqlite")
    ledger = FleetLedger(CFG, store.path)
    store.writers.append(ledger)
    ledger.stage_learnt(5, [GOOD], {"a": '["198.51.100.7"]'})
    store.commit([BatchCommit(jail="@fleet", source=CFG.stream, position="5")])
    return store, ledger


def test_damaged_quorum_reports_are_skipped_and_counted(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    store, ledger = _ledger(tmp_path)
    with sqlite3.connect(store.path) as db:
        db.executemany("INSERT INTO fleet_reports VALUES (?, ?, ?, ?, ?, ?)", DAMAGED_REPORTS)
    with caplog.at_level(logging.WARNING, logger="journalban.fleet"):
        assert ledger.reports(NOW - 60) == [GOOD]
    assert "4 stored row(s) of table fleet_reports" in caplog.text


def test_damaged_members_are_skipped_and_counted(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    store, ledger = _ledger(tmp_path)
    with sqlite3.connect(store.path) as db:
        db.executemany(
            "INSERT INTO fleet_members VALUES (?, ?)",
            [("c", "not json"), ("d", '{"a": 1}'), ("e", "[1, 2]"), ("f", '["192.0.2.1"]')],
        )
    with caplog.at_level(logging.WARNING, logger="journalban.fleet"):
        members = ledger.members()
    assert members == {"a": ["198.51.100.7"], "f": ["192.0.2.1"]}
    assert "3 stored row(s) of table fleet_members" in caplog.text


def test_the_fleet_service_starts_on_a_damaged_ledger(tmp_path: Path) -> None:
    """What the agent builds at start: before, it raised on either table."""
    store, ledger = _ledger(tmp_path)
    with sqlite3.connect(store.path) as db:
        db.executemany("INSERT INTO fleet_reports VALUES (?, ?, ?, ?, ?, ?)", DAMAGED_REPORTS)
        db.execute("INSERT INTO fleet_members VALUES ('c', 'not json')")
    service = FleetService(CFG, _NoPort(), ledger, FakeClock(NOW), [])  # type: ignore[arg-type]
    member_texts = {str(n) for n in service.intake.members["a"]}
    assert member_texts == {"198.51.100.7/32"}
    assert "c" not in service.intake.members
    assert service.intake._reports == {("sshd", "203.0.113.8/32"): {"a": ("ban", NOW, None)}}
