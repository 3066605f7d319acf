"""The detectors' rows logged a row per commit and detector (state.detectorlog, format 2)
read back as format 1's table of a row per key, written a statement per row, left them:
each key's last value, in the key's order; a batch's deleted keys before its written ones.
Whole rows replace the log before them (and format 1's rows), and keep it bounded."""

from __future__ import annotations

import logging
import random
import sqlite3
from pathlib import Path

import pytest

from journalban.errors import StateError
from journalban.events import Ban
from journalban.netobjects import host_v4_network
from journalban.state import detection, detectorlog, schema
from journalban.state.store import BatchCommit, StateStore


def _reference() -> sqlite3.Connection:
    db = sqlite3.connect(":memory:", isolation_level=None)
    schema.create(db.cursor())
    return db


def _as_format_1(db: sqlite3.Connection, jail: str, rows: list[detection.DetectorRow]) -> None:
    """A batch's rows as format 1 wrote them: its deletes, then its writes, row by row."""
    for d, k, v in rows:
        if v is None:
            db.execute("DELETE FROM detector_state WHERE jail = ? AND detector = ? AND key = ?",
                       (jail, d, k))  # fmt: skip
    for d, k, v in rows:
        if v is not None:
            db.execute("INSERT OR REPLACE INTO detector_state VALUES (?, ?, ?, ?)", (jail, d, k, v))


def _rows(rng: random.Random, step: int, keys: int) -> list[detection.DetectorRow]:
    return [
        (rng.choice(["slow", "subnet", "account"]), f"198.51.{rng.randrange(4)}.{rng.randrange(keys)}/32",
         None if rng.random() < 0.3 else f"[{step}, {n}]")
        for n in range(rng.randrange(0, 60))
    ]  # fmt: skip


@pytest.fixture
def small_log(monkeypatch: pytest.MonkeyPatch) -> None:
    """Whole rows due after few entries or rows (the packaged sizes need thousands)."""
    monkeypatch.setattr(detectorlog, "MIN_LOGGED", 40)
    monkeypatch.setattr(detectorlog, "MOST_ROWS", 7)


@pytest.mark.parametrize("seed", range(4))
def test_logged_rows_read_back_as_written_a_row_at_a_time(
    tmp_path: Path, small_log: None, seed: int
) -> None:
    rng = random.Random(seed)
    path = tmp_path / "state.sqlite"
    ours, theirs = StateStore(path), _reference()
    wholes = 0
    for step in range(120):
        batches = [
            BatchCommit(rng.choice(["sshd", "imap"]), detector_rows=_rows(rng, step, 10 + seed * 30))
            for _ in range(rng.randrange(1, 4))
        ]  # fmt: skip
        ours.commit(batches)
        for b in batches:
            _as_format_1(theirs, b.jail, b.detector_rows)
        wholes += ours.db.execute("SELECT count(*) FROM detector_log WHERE whole").fetchone()[0]
        if step % 25 == 24:  # a restart: the sizes read again from the file
            ours.close()
            ours = StateStore(path)
        for jail in ("sshd", "imap"):
            assert detection.read_rows(ours.db, jail) == detection.read_rows(theirs, jail)
        assert sorted(detectorlog.all_rows(ours.db)) == sorted(theirs.execute(
            "SELECT * FROM detector_state"))  # fmt: skip
        # Bounded: since each detector's whole row, at most MOST_ROWS rows and RATIO times
        # its keys (or MIN_LOGGED) entries.
        for jail, d, rows, entries in ours.db.execute(
            "SELECT jail, detector, count(*), sum(entries) FROM detector_log WHERE NOT whole"
            " GROUP BY jail, detector"
        ):
            held = len(detection.read_rows(ours.db, jail).get(d, []))
            assert rows <= detectorlog.MOST_ROWS
            assert entries <= max(detectorlog.MIN_LOGGED, detectorlog.RATIO * held) + 60 * 3
    assert wholes > 20, "whole rows were written"
    assert ours.db.execute("SELECT count(*) FROM detector_state").fetchone() == (0,)
    ours.close()


def test_a_format_1_files_rows_are_read_under_the_log_until_a_whole_row(
    tmp_path: Path, small_log: None
) -> None:
    path = tmp_path / "state.sqlite"
    store = StateStore(path)
    theirs = _reference()
    old = [("slow", f"192.0.2.{n}/32", f"[{n}, 1]") for n in range(30)]
    old += [("subnet", f"10.{n}.0.0/16", f'["10.{n}.0.1/32"]') for n in range(5)]
    store.db.executemany("INSERT INTO detector_state VALUES ('sshd', ?, ?, ?)", old)
    theirs.executemany("INSERT INTO detector_state VALUES ('sshd', ?, ?, ?)", old)
    changes: list[detection.DetectorRow] = [
        ("slow", "192.0.2.3/32", None), ("slow", "192.0.2.4/32", "[9, 9]"),
        ("slow", "203.0.113.1/32", "[1, 1]"),
    ]  # fmt: skip
    store.commit([BatchCommit("sshd", detector_rows=changes)])
    _as_format_1(theirs, "sshd", changes)
    assert detection.read_rows(store.db, "sshd") == detection.read_rows(theirs, "sshd")
    assert store.db.execute("SELECT count(*) FROM detector_state").fetchone() == (35,)
    for step in range(10):  # until slow's whole row: its format 1 rows go, subnet's stay
        more: list[detection.DetectorRow] = [("slow", f"198.51.100.{step}/32", f"[{step}]")]
        store.commit([BatchCommit("sshd", detector_rows=more)])
        _as_format_1(theirs, "sshd", more)
    assert detection.read_rows(store.db, "sshd") == detection.read_rows(theirs, "sshd")
    assert store.db.execute("SELECT detector, count(*) FROM detector_state GROUP BY detector"
                            ).fetchall() == [("subnet", 5)]  # fmt: skip
    store.close()


def test_a_damaged_log_row_is_skipped_with_a_warning(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    store = StateStore(tmp_path / "state.sqlite")
    store.commit([BatchCommit("sshd", detector_rows=[("slow", "192.0.2.1/32", "[1, 1]")])])
    store.commit([BatchCommit("sshd", detector_rows=[("slow", "192.0.2.2/32", "[2, 1]")])])
    for damaged in ("not json", '["192.0.2.9/32"]', '["192.0.2.9/32", 5]', 5, '{"a": "b"}'):
        store.db.execute("INSERT INTO detector_log (jail, detector, whole, entries, changes)"
                         " VALUES ('sshd', 'slow', 0, 1, ?)", (damaged,))  # fmt: skip
    store.db.execute("UPDATE detector_log SET changes = 'x' WHERE seq = 1")
    with caplog.at_level(logging.WARNING, logger="journalban.state"):
        found = detection.read_rows(store.db, "sshd")
    assert found == {"slow": [("192.0.2.2/32", "[2, 1]")]}
    assert "6 logged row(s) of jail sshd could not be read" in caplog.text
    store.close()


def test_a_failed_commit_leaves_nothing_of_itself(tmp_path: Path) -> None:
    """A row that fails in the middle of a commit (here the 41st history row, after 40 in
    the same statement and the detectors' log rows) rolls back the whole transaction: the
    history's statement keeps no row (OR FAIL), the log no row, and the next commit is
    written and read back as if the failed one had never been (the log's sizes forgotten)."""
    store = StateStore(tmp_path / "state.sqlite")
    good: list[detection.DetectorRow] = [
        ("slow", f"192.0.2.{n}/32", f"[{n}, 1]") for n in range(50)
    ]
    store.commit([BatchCommit("sshd", "files:x", "p1", detector_rows=good[:10])])
    at = 1_800_000_000.0
    bans = [Ban("sshd", host_v4_network(0xC0000200 + n), at, at + 60, 1, "failures", 5, "x")
            for n in range(40)]  # fmt: skip
    broken = Ban("sshd", host_v4_network(0xC00002FF), None, None, 1, "failures", 5, "x")  # type: ignore[arg-type]
    failing = BatchCommit(
        "sshd", "files:x", "p2", history=[*((b, False) for b in bans), (broken, False)],
        detector_rows=good[10:40],
    )  # fmt: skip
    with pytest.raises(StateError):
        store.commit([failing])
    assert store.db.execute("SELECT count(*) FROM history").fetchone() == (0,)
    assert store.positions() == {("sshd", "files:x"): "p1"}
    assert sorted(detectorlog.all_rows(store.db)) == sorted(("sshd", *r) for r in good[:10])
    store.commit([BatchCommit("sshd", "files:x", "p3", detector_rows=good[40:])])
    assert sorted(detectorlog.all_rows(store.db)) == sorted(
        ("sshd", *r) for r in good[:10] + good[40:]
    )
    store.close()


def test_the_heap_is_trimmed_after_a_floods_commit_only(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    trims: list[int] = []
    monkeypatch.setattr(detectorlog, "_malloc_trim", lambda: trims.append)
    store = StateStore(tmp_path / "state.sqlite")
    few: list[detection.DetectorRow] = [("slow", f"192.0.2.{n}/32", "[1, 1]") for n in range(200)]
    store.commit([BatchCommit("sshd", detector_rows=few)])
    assert trims == []
    flood: list[detection.DetectorRow] = [
        ("slow", f"10.{n >> 16}.{(n >> 8) & 255}.{n & 255}/32", "[1, 1]")
        for n in range(detectorlog.TRIM_ENTRIES)
    ]
    store.commit([BatchCommit("sshd", detector_rows=flood)])
    assert trims == [0]
    store.commit([BatchCommit("sshd", detector_rows=few)])
    assert trims == [0], "counted anew from the trim"
    store.close()
