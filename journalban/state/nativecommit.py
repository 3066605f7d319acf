"""A commit's statements of new bans stepped in C, the GIL let go once (issue 19).

Python's sqlite3 lets go of the GIL around each ``sqlite3_step`` and takes it back
after: beside a busy thread (the agent deciding the next batches while the last group
commits) a flood's commit of a thousand statements waited for the GIL a thousand times
(docs/benchmarks.md, "The commit on sshd-flood from a file"). ``journalban.state._commitext``
is both a CPython module and a SQLite loadable extension: ``attach`` loads the package's
own built file into the store's connection (the load switched on for that one call
only), which gives it the API table of the very SQLite library the sqlite3 module uses.
A ``Job`` holds statements and their parameters' values (read with the GIL, texts bound
without a copy); ``run`` steps them in one step of ``SELECT journalban_commit_run(?, ?)``,
during which the sqlite3 module holds no GIL. The extension never keeps the connection's
handle: its SQL function takes it from its own call.

Optional: ``JOURNALBAN_NATIVE_COMMIT=0``, a module not built or a sqlite3 module without
``load_extension`` leave the statements to Python (commitrows), with the same rows
(tests/unit/test_native_commit.py).
"""

from __future__ import annotations

import logging
import os
import sqlite3
from collections.abc import Sequence
from contextlib import suppress
from typing import Protocol

log = logging.getLogger("journalban.state")

# Set it to "0" for the statements in Python.
NATIVE_ENV = "JOURNALBAN_NATIVE_COMMIT"
RUN = "SELECT journalban_commit_run(?, ?)"
RELEASE = "SELECT journalban_commit_release()"
# (sql, parameters, rows: the rows it inserts when all are new; below 0: not checked)
Statement = tuple[str, Sequence[object], int]


class Job(Protocol):
    """``_commitext.Job``: statements run from where the last run stopped."""

    def __init__(self, statements: list[Statement]) -> None: ...
    @property
    def token(self) -> int: ...
    @property
    def left(self) -> int: ...
    def ran(self) -> list[tuple[int, int]]: ...


def _job_type() -> type[Job] | None:
    if os.environ.get(NATIVE_ENV, "1") == "0":
        return None
    try:
        from journalban.state._commitext import Job as NativeJob
    except ImportError:
        return None
    return NativeJob


JOB: type[Job] | None = _job_type()


def attach(db: sqlite3.Connection) -> bool:
    """Whether ``db`` runs jobs: the package's own extension loaded into it (its absolute
    path, never another file; loading switched off again at once) and a first empty job run
    by it. False without the module, with ``JOURNALBAN_NATIVE_COMMIT=0``, or where the
    sqlite3 module cannot load extensions (the commit's statements stay Python's)."""
    if JOB is None:
        return False
    from journalban.state import _commitext

    path = os.path.abspath(_commitext.__file__)
    enable = getattr(db, "enable_load_extension", None)
    if enable is None:
        return False
    try:
        enable(True)
        try:
            db.load_extension(path)
        finally:
            enable(False)
        job = JOB([])
        db.execute(RUN, (job.token, -1)).fetchall()
    except sqlite3.Error as exc:
        log.warning("the commit's statements run in Python: %s", exc)
        return False
    return True


def release(db: sqlite3.Connection) -> None:
    """The statements the extension keeps prepared on ``db`` finalized: before ``db`` closes
    (a statement left prepared would keep the closed connection's file open). Nothing on a
    closed connection."""
    with suppress(sqlite3.ProgrammingError):  # (closed already: nothing more to do)
        db.execute(RELEASE).fetchall()


def job(statements: list[Statement]) -> Job | None:
    """A job of ``statements``; None where a parameter is not one the job binds as the
    sqlite3 module would without an adapter (exact str, int, float, bytes, None)."""
    if JOB is None:
        return None
    try:
        return JOB(statements)
    except (TypeError, OverflowError, ValueError):
        return None


def run(cur: sqlite3.Cursor, job: Job, expect: int) -> list[tuple[int, int]]:
    """The job's statements from where it stopped, up to the end or to the first checked one
    that stops it (``_commitext``'s rule, ``expect`` the rowid the rows before it ended at,
    -1 if none): (changes, last rowid) of each statement run.

    Raises: sqlite3.Error (a statement failed: the transaction is the caller's to roll
    back)."""
    cur.execute(RUN, (job.token, expect)).fetchall()
    return job.ran()


def execute(
    cur: sqlite3.Cursor, statements: Sequence[tuple[str, Sequence[object]]], native: bool
) -> list[int | None]:
    """``statements`` run in their order, in one job where ``native`` (the connection
    attached) and the values allow, else each by ``cur``: the cursor's ``lastrowid`` after
    each. Raises: sqlite3.Error."""
    if native and statements:
        built = job([(sql, params, -1) for sql, params in statements])
        if built is not None:
            return [last for _, last in run(cur, built, -1)]
    rowids: list[int | None] = []
    for sql, params in statements:
        rowids.append(cur.execute(sql, params).lastrowid)
    return rowids
