"""Closing the state while a commit runs in another thread waits for it.

The agent commits in a worker thread; a stop cancels its wait for the commit,
not the thread, and then closes the store. Closing the SQLite connection under
a running COMMIT crashed the process (a segmentation fault, found by
tests/benchmarks/decide_corpus.py stopping the agent right after a flood).
"""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from journalban.errors import StateError
from journalban.state.detection import DetectorRow
from journalban.state.detectorlog import all_rows
from journalban.state.store import BatchCommit, StateStore


def _big_commit(n: int) -> list[BatchCommit]:
    rows: list[DetectorRow] = [
        ("slow", f"198.51.{i // 250}.{i % 250}/32", "[1, 2]") for i in range(n)
    ]
    failures = [(f"203.0.{i // 250}.{i % 250}/32", 1_700_000_000.0 + i) for i in range(n)]
    return [BatchCommit("sshd", "files:x", f"pos{n}", new_failures=failures, detector_rows=rows)]


def test_close_waits_for_a_commit_running_in_another_thread(tmp_path: Path) -> None:
    for attempt in range(5):
        store = StateStore(tmp_path / f"state{attempt}.sqlite")
        errors: list[BaseException] = []

        def commit(store: StateStore = store, errors: list[BaseException] = errors) -> None:
            try:
                store.commit(_big_commit(20_000))
            except StateError as exc:  # closed before it began: a named error
                errors.append(exc)

        thread = threading.Thread(target=commit)
        thread.start()
        store.close()  # while the commit runs (or before it begins)
        thread.join()
        reopened = StateStore(tmp_path / f"state{attempt}.sqlite")
        rows = len(all_rows(reopened.db))
        reopened.close()
        assert rows in (0, 20_000)  # all of the transaction or none of it
        assert bool(errors) == (rows == 0)


def test_a_commit_after_close_is_a_named_error(tmp_path: Path) -> None:
    store = StateStore(tmp_path / "state.sqlite")
    store.close()
    with pytest.raises(StateError):
        store.commit(_big_commit(1))
