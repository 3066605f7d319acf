"""A detector row damaged in the state file (by hand, by a disk) costs what it held, not
the agent's start: the other rows are restored, the skipped ones counted in a warning.
Real SQLite files; the rows damaged with SQLite itself."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest

from journalban.config.detectors import AccountConfig, DetectorsConfig, SlowConfig
from journalban.config.schema import JailConfig
from journalban.decisions.engine import DecisionEngine
from journalban.state.store import StateStore
from support.deciding import jail_engine

NOW = 1_800_000_000.0
DETECTORS = DetectorsConfig(
    slow=SlowConfig(maxretry=4, findtime=86400.0),
    account=AccountConfig(addresses=3, findtime=3600.0, hold=3600.0),
)
SLOW = json.dumps([int((NOW - 600) // 3600), 2])
ROWS = [
    ("slow", "203.0.113.1/32", SLOW),
    ("slow", "203.0.113.2/32", "not json"),  # damaged
    ("slow", "203.0.113.3/32", "[5]"),  # damaged: a bucket without its count
    ("slow", "203.0.113.4/32", SLOW),
    ("account", "a:alice", json.dumps(NOW + 600)),
    ("account", "a:bob", json.dumps({"not": "a time"})),  # damaged
]


def _engine(path: Path) -> DecisionEngine:
    return jail_engine(path, JailConfig(name="sshd", detectors=DETECTORS))


def test_damaged_detector_rows_are_skipped_and_the_rest_restored(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "state.sqlite"
    store = StateStore(path)
    store.db.executemany(
        "INSERT INTO detector_state VALUES ('sshd', ?, ?, ?)", ROWS
    )  # as a hand or a disk would leave them
    store.close()
    with caplog.at_level(logging.WARNING, logger="journalban.state"):
        engine = _engine(path)
    detection = engine.jails["sshd"].detection
    assert detection is not None
    assert detection.slow is not None
    assert detection.account is not None
    assert "203.0.113.1/32" in detection.slow.keys
    assert "203.0.113.4/32" in detection.slow.keys
    assert "203.0.113.2/32" not in detection.slow.keys
    assert [a for a, _, _ in detection.account.under_attack(NOW)] == ["alice"]
    warned = [r.getMessage() for r in caplog.records]
    assert any("2 stored row(s) of jail sshd detector slow" in w for w in warned), warned
    assert any("1 stored row(s) of jail sshd detector account" in w for w in warned), warned
    engine.store.close()


def test_readable_rows_restore_without_a_warning(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "state.sqlite"
    store = StateStore(path)
    store.db.executemany(
        "INSERT INTO detector_state VALUES ('sshd', ?, ?, ?)", [ROWS[0], ROWS[3], ROWS[4]]
    )
    store.close()
    with caplog.at_level(logging.WARNING, logger="journalban.state"):
        engine = _engine(path)
    assert not caplog.records
    detection = engine.jails["sshd"].detection
    assert detection is not None
    assert detection.slow is not None
    assert len(detection.slow.keys) == 2
    engine.store.close()
