"""A ``failure_log`` row damaged in the state file (by hand, by a disk) no longer stops the
agent at start: each of its two lists is read on its own, the unreadable one skipped and
counted in a warning, the other rows' failures restored into the per-address counters.
Real SQLite files, damaged with SQLite itself (state/failurerows.py)."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest

from journalban.config.schema import JailConfig
from journalban.decisions.engine import DecisionEngine
from journalban.state.store import StateStore
from support.deciding import jail_engine

NOW = 1_800_000_000.0


def _row(cleared: str, failures: str) -> tuple[str, float, str, str]:
    return ("sshd", NOW, cleared, failures)


GOOD_FAILURES = json.dumps([["203.0.113.1/32", NOW - 60], ["203.0.113.2/32", NOW - 50]])
ROWS = [
    _row("[]", GOOD_FAILURES),
    _row("[]", "not json"),
    _row("[]", json.dumps([["203.0.113.3/32", "a minute ago"]])),
    _row("[]", '[["203.0.113.4/32", NaN]]'),
    _row("[]", json.dumps([[12345, NOW - 40]])),  # a network that is no text
    _row("[]", json.dumps([["203.0.113.5/32", NOW - 40, 1]])),  # not a pair
    _row("[]", json.dumps({"203.0.113.6/32": NOW - 40})),
    # a damaged cleared list beside readable failures: the failures still count
    _row('"all of them"', json.dumps([["203.0.113.7/32", NOW - 30]])),
    # a readable cleared list beside damaged failures: 203.0.113.2 was still cleared (banned)
    _row('["203.0.113.2/32"]', "[[1, 2"),
    _row("[]", json.dumps([["2001:db8::/64", NOW - 20]])),
]
SKIPPED = 8  # lists: 7 failure lists and 1 cleared list


def _engine(path: Path) -> DecisionEngine:
    return jail_engine(path, JailConfig(name="sshd", maxretry=3, findtime=600.0))


def test_damaged_failure_rows_are_skipped_and_the_rest_restored(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "state.sqlite"
    store = StateStore(path)
    store.db.executemany(
        "INSERT INTO failure_log (jail, newest, cleared, failures) VALUES (?, ?, ?, ?)", ROWS
    )
    store.db.commit()
    assert [n for n, _ in store.pending_failures("sshd")] == [
        "203.0.113.1/32", "203.0.113.7/32", "2001:db8::/64",
    ]  # fmt: skip
    store.close()
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="journalban.state"):
        engine = _engine(path)
    assert [r.getMessage() for r in caplog.records] == [
        f"unreadable failure rows: {SKIPPED} stored list(s) of jail sshd's failure log could "
        "not be read and were skipped"
    ]
    counter = engine.jails["sshd"].counter
    assert {n for n, _ in counter.newest(10)} == {
        "203.0.113.1/32",
        "203.0.113.7/32",
        "2001:db8::/64",
    }
    # the restored failures count: two more of 203.0.113.1 reach maxretry 3
    assert counter.add("203.0.113.1/32", NOW) == 2
    assert counter.add("203.0.113.1/32", NOW) == 3
    assert counter.add("203.0.113.3/32", NOW) == 1  # a damaged row's address: counted afresh
    engine.store.close()


def test_readable_failure_rows_restore_without_a_warning(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "state.sqlite"
    store = StateStore(path)
    store.db.executemany(
        "INSERT INTO failure_log (jail, newest, cleared, failures) VALUES (?, ?, ?, ?)",
        [ROWS[0], ROWS[-1], _row('["203.0.113.2/32"]', "[]")],
    )
    store.db.commit()
    store.close()
    with caplog.at_level(logging.WARNING, logger="journalban.state"):
        engine = _engine(path)
    assert not caplog.records
    assert {n for n, _ in engine.jails["sshd"].counter.newest(10)} == {
        "203.0.113.1/32", "2001:db8::/64",
    }  # fmt: skip
    engine.store.close()
