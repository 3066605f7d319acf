"""Rows written in their index's key order (state.detection) leave the table as rows
written in the order given: the last row of a key wins."""

from __future__ import annotations

import random
import sqlite3

from journalban.state import detection, schema


def _db() -> sqlite3.Connection:
    db = sqlite3.connect(":memory:", isolation_level=None)
    db.execute(schema.DETECTOR_STATE)
    return db


def _as_given(db: sqlite3.Connection, jail: str, rows: list[detection.DetectorRow]) -> None:
    for d, k, v in rows:
        if v is None:
            db.execute("DELETE FROM detector_state WHERE jail = ? AND detector = ? AND key = ?",
                       (jail, d, k))  # fmt: skip
    for d, k, v in rows:
        if v is not None:
            db.execute("INSERT OR REPLACE INTO detector_state VALUES (?, ?, ?, ?)", (jail, d, k, v))


def test_detector_rows_end_as_written_in_order() -> None:
    rng = random.Random(7)
    ours, theirs = _db(), _db()
    for step in range(30):
        rows: list[detection.DetectorRow] = [
            (rng.choice(["slow", "subnet", "account"]), f"198.51.{rng.randrange(4)}.{rng.randrange(40)}/32",
             None if rng.random() < 0.3 else f"[{step}, {n}]")
            for n in range(200)
        ]  # fmt: skip
        detection.write_rows(ours.cursor(), "sshd", rows)
        _as_given(theirs, "sshd", rows)
        query = "SELECT * FROM detector_state ORDER BY jail, detector, key"
        assert ours.execute(query).fetchall() == theirs.execute(query).fetchall()
    assert ours.execute("SELECT count(*) FROM detector_state").fetchone()[0] > 100
    assert detection.read_rows(ours, "sshd") == detection.read_rows(theirs, "sshd")
