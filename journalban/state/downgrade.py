"""A state file taken back to an older format, for an older version of journalban.

Each format's step back is one transaction (``step_back``); ``downgrade`` takes a file
from its format down to the one asked for, step after step, each step its own
transaction (a file left between two steps is a valid file of the format it is
marked). Run it with the agent stopped and this version still installed::

    python3 -c 'from journalban.state.downgrade import downgrade; downgrade("/var/lib/journalban/state.sqlite", 2)'
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable

Back = Callable[[sqlite3.Connection], None]


def step_back(path: str, version: int, back: Back) -> None:
    """If the file at ``path`` is in format ``version``: ``back(db)``, and the file marked
    ``version - 1``, in one transaction (in another format, it is left as it is).
    Raises: sqlite3.Error."""
    db = sqlite3.connect(path, isolation_level=None)
    try:
        db.execute("BEGIN IMMEDIATE")
        try:
            (found,) = db.execute("PRAGMA user_version").fetchone()
            if found == version:
                back(db)
                db.execute(f"PRAGMA user_version = {version - 1}")
        except BaseException:
            db.execute("ROLLBACK")
            raise
        db.execute("COMMIT")
    finally:
        db.close()


def downgrade(path: str, to: int) -> None:
    """The file at ``path`` taken back, step after step, to format ``to`` (1 to the current
    one); a file already in it or an older one is left as it is.
    Raises: sqlite3.Error; ValueError (a format this version cannot go back to)."""
    from journalban.state import detectorlog, historylog, schema

    steps: dict[int, Callable[[str], object]] = {
        4: detectorlog.unpack, 3: historylog.downgrade, 2: detectorlog.downgrade,
    }  # fmt: skip
    if not 1 <= to <= schema.VERSION:
        raise ValueError(f"no state format {to}: 1 to {schema.VERSION}")
    for version in range(schema.VERSION, to, -1):
        steps[version](path)
