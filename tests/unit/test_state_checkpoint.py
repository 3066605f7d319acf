"""The state's WAL checkpointed from a connection of its own, not inside the agent's commits."""

from __future__ import annotations

import ipaddress
import time
from pathlib import Path

from journalban.events import Ban
from journalban.state.checkpoint import Checkpointer, detach
from journalban.state.store import BatchCommit, StateStore


def _commit_bans(store: StateStore, count: int, batches: int) -> None:
    now = time.time()
    for b in range(batches):
        bans = [
            Ban("sshd", ipaddress.ip_network(f"10.{b}.{i >> 8}.{i & 255}/32"), now, now + 3600,
                reason="failures", failures=5, source="journal")
            for i in range(count)
        ]  # fmt: skip
        store.commit([BatchCommit(jail="sshd", bans=bans, banned_delta=count)])


def test_commits_leave_the_log_to_the_checkpointer_which_copies_it_whole(tmp_path: Path) -> None:
    path = tmp_path / "state.sqlite"
    store = StateStore(path)
    detach(store.db)
    assert store.db.execute("PRAGMA wal_autocheckpoint").fetchone()[0] == 0
    _commit_bans(store, 8000, 10)
    checkpointer = Checkpointer(path)
    log_pages, copied = checkpointer.checkpoint()
    # SQLite alone would have checkpointed inside a commit once the log passed 1,000 pages.
    assert log_pages > 1000
    assert copied == log_pages
    checkpointer.close()
    store.close()
    reopened = StateStore(path)
    try:
        assert len(reopened.active_bans(running_at=time.time())) == 80_000
    finally:
        reopened.close()


def test_a_store_left_alone_checkpoints_inside_its_commits(tmp_path: Path) -> None:
    path = tmp_path / "state.sqlite"
    store = StateStore(path)
    _commit_bans(store, 8000, 10)
    checkpointer = Checkpointer(path)
    log_pages, _ = checkpointer.checkpoint()
    assert log_pages < 1000 + 500  # the log was reset by an automatic checkpoint
    checkpointer.close()
    store.close()
