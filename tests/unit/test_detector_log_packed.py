"""The detectors' log rows and the failure log's cleared networks packed, not JSON
(state format 4, state.detectorlog, state.failurerows).

A row's keys and values are joined with control characters no network text
holds; a key or value that holds one (an account from a crafted log line) or is
not text makes the row JSON as format 2 wrote it. Real SQLite files: a format 3
file's JSON rows are read under the packed ones, and ``unpack`` takes a file
back to format 3 with every row as it read.
"""

from __future__ import annotations

import json
import logging
import random
import sqlite3
from pathlib import Path

import pytest

from journalban.state import detection, detectorlog, failurerows, schema
from journalban.state.detectorlog import GONE, PACKED, SEP
from journalban.state.store import BatchCommit, StateStore

FAILURES = [("192.0.2.1/32", 1.0e9), ("192.0.2.2/32", 1.0e9 + 1), ("192.0.2.5/32", 1.0e9 + 2)]
ODD = ["", "[", '"', "a\nb", "é", "\x00", SEP, GONE, PACKED, f"x{SEP}y", f"{GONE}z", "null"]


def _changes(rng: random.Random, odd: bool) -> dict[str, str | None]:
    found: dict[str, str | None] = {}
    for n in range(rng.randrange(0, 40)):
        key = f"203.0.113.{n}/32" if not odd or rng.random() < 0.8 else f"a:{rng.choice(ODD)}{n}"
        value = f"[{n}, {rng.randrange(9)}]" if not odd or rng.random() < 0.8 else rng.choice(ODD)
        found[key] = None if rng.random() < 0.3 else value
    return found


@pytest.mark.parametrize("seed", range(40))
def test_a_row_reads_back_as_written_packed_or_json(seed: int) -> None:
    rng = random.Random(seed)
    changes = _changes(rng, odd=seed % 2 == 1)
    text = detectorlog._text(changes)
    assert detectorlog._changes(text) == changes
    clean = all(
        SEP not in k and GONE not in k and (v is None or (SEP not in v and GONE not in v))
        for k, v in changes.items()
    )
    if clean and changes:
        assert text.startswith(PACKED)
    else:
        assert json.loads(text) == [x for kv in changes.items() for x in kv]


def test_a_crafted_key_or_value_falls_back_to_json() -> None:
    for odd in (SEP, GONE, f"a{SEP}", f"{GONE}b"):
        for changes in ({f"a:{odd}": "1"}, {"a:x": odd}, {"a:x": "1", "a:y": f"[{odd}]"}):
            text = detectorlog._text(changes)
            assert text.startswith("["), changes
            assert detectorlog._changes(text) == changes
    gone_text = {"a:x": GONE}  # (a value that is the mark of a key gone, as text)
    assert detectorlog._changes(detectorlog._text(gone_text)) == gone_text
    assert detectorlog._text({"a:x": None, "a:y": "1"}) == f"{PACKED}a:x{SEP}{GONE}{SEP}a:y{SEP}1"


def test_a_failure_rows_cleared_networks_read_back_packed_or_json() -> None:
    for cleared in ([], ["192.0.2.1/32"], ["192.0.2.1/32", "2001:db8::/64", ""], [f"a{SEP}b"]):
        text = failurerows.cleared_text(cleared)
        assert failurerows.networks(text) == cleared
        packed = bool(cleared) and not any(SEP in c for c in cleared)
        assert text.startswith(PACKED) == packed, cleared
        if not packed:
            assert json.loads(text) == cleared


def _format_3(path: Path) -> list[tuple[str, str, str, str]]:
    """A file as format 3 wrote it: its log rows JSON. The rows it holds."""
    store = StateStore(path)
    first: list[detection.DetectorRow] = [
        ("slow", f"192.0.2.{n}/32", f"[{n}, 1]") for n in range(20)
    ]
    store.commit([BatchCommit("sshd", detector_rows=first)])
    store.commit([BatchCommit("sshd", detector_rows=[("slow", "192.0.2.3/32", None)])])
    store.commit([BatchCommit("sshd", new_failures=FAILURES)])
    store.commit([BatchCommit("sshd", cleared=["192.0.2.1/32"])])
    store.close()
    db = sqlite3.connect(path, isolation_level=None)
    for seq, text in db.execute("SELECT seq, cleared FROM failure_log").fetchall():
        as_json = json.dumps(failurerows.networks(text))
        db.execute("UPDATE failure_log SET cleared = ? WHERE seq = ?", (as_json, seq))
    for seq, text in db.execute("SELECT seq, changes FROM detector_log").fetchall():
        as_json = json.dumps([x for kv in detectorlog._changes(text).items() for x in kv])
        db.execute("UPDATE detector_log SET changes = ? WHERE seq = ?", (as_json, seq))
    db.execute("PRAGMA user_version = 3")
    rows = sorted(detectorlog.all_rows(db))
    db.close()
    return rows


def test_a_format_3_file_reads_its_json_rows_under_packed_ones_and_goes_back(
    tmp_path: Path,
) -> None:
    path = tmp_path / "state.sqlite"
    before = _format_3(path)
    assert len(before) == 19
    store = StateStore(path)
    assert schema.version_of(store.db) == schema.VERSION == 4
    assert sorted(detectorlog.all_rows(store.db)) == before
    more: list[detection.DetectorRow] = [("slow", "192.0.2.4/32", None), ("subnet", "a:b", "[1]")]
    assert store.pending_failures("sshd") == FAILURES[1:]
    store.commit([BatchCommit("sshd", detector_rows=more, cleared=["192.0.2.2/32"])])
    texts = [str(t) for (t,) in store.db.execute("SELECT changes FROM detector_log")]
    assert sum(t.startswith(PACKED) for t in texts) == 2
    cleared = [str(t) for (t,) in store.db.execute("SELECT cleared FROM failure_log")]
    assert [t.startswith(PACKED) for t in cleared] == [False, False, True]
    assert store.pending_failures("sshd") == FAILURES[2:]
    after = sorted(
        [r for r in before if r[2] != "192.0.2.4/32"] + [("sshd", "subnet", "a:b", "[1]")]
    )
    assert sorted(detectorlog.all_rows(store.db)) == after
    store.close()
    detectorlog.unpack(str(path))
    db = sqlite3.connect(path)
    assert schema.version_of(db) == 3
    texts = [str(t) for (t,) in db.execute("SELECT changes FROM detector_log")]
    assert all(json.loads(t) for t in texts)
    assert sorted(detectorlog.all_rows(db)) == after
    cleared = [str(t) for (t,) in db.execute("SELECT cleared FROM failure_log")]
    assert [json.loads(t) for t in cleared] == [[], ["192.0.2.1/32"], ["192.0.2.2/32"]]
    db.close()
    again = StateStore(path)
    assert again.pending_failures("sshd") == FAILURES[2:]
    again.close()


def test_a_damaged_packed_row_is_skipped_with_a_warning(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    store = StateStore(tmp_path / "state.sqlite")
    store.commit([BatchCommit("sshd", detector_rows=[("slow", "192.0.2.1/32", "[1, 1]")])])
    store.db.execute(
        "INSERT INTO detector_log (jail, detector, whole, entries, changes)"
        " VALUES ('sshd', 'slow', 0, 1, ?)",
        (f"{PACKED}192.0.2.9/32{SEP}[1]{SEP}192.0.2.8/32",),  # (a key without its value)
    )
    with caplog.at_level(logging.WARNING, logger="journalban.state"):
        found = detection.read_rows(store.db, "sshd")
    assert found == {"slow": [("192.0.2.1/32", "[1, 1]")]}
    assert "1 logged row(s) of jail sshd could not be read" in caplog.text
    store.close()
