"""The state's WAL checkpointed from a connection of its own, not inside the agent's commits."""

from __future__ import annotations

import asyncio
import ipaddress
import sqlite3
import threading
import time
from pathlib import Path

from journalban.agent.runtime import Agent
from journalban.events import Ban
from journalban.state.checkpoint import INTERVAL as CHECKPOINT_INTERVAL
from journalban.state.checkpoint import Checkpointer, detach
from journalban.state.store import BatchCommit, StateStore
from support.agent import auth_log_config


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
    (threshold,) = store.db.execute("PRAGMA wal_autocheckpoint").fetchone()
    assert threshold * store.db.execute("PRAGMA page_size").fetchone()[0] == 1000 * 4096
    detach(store.db)
    assert store.db.execute("PRAGMA wal_autocheckpoint").fetchone()[0] == 0
    _commit_bans(store, 8000, 10)
    checkpointer = Checkpointer(path)
    log_pages, copied = checkpointer.checkpoint()
    # SQLite alone would have checkpointed inside a commit once the log passed 1,000 pages
    # of 4 KiB (state.store: ``threshold`` pages of the file's size).
    assert log_pages > threshold
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
    (threshold,) = store.db.execute("PRAGMA wal_autocheckpoint").fetchone()
    assert log_pages < 1.5 * threshold  # the log was reset by an automatic checkpoint
    checkpointer.close()
    store.close()


def test_the_agent_checkpoints_its_state_beside_its_commits(tmp_path: Path) -> None:
    config = auth_log_config(tmp_path)

    def in_database_file(path: Path) -> bool:
        # immutable=1 reads the database file alone, not the write-ahead log
        db = sqlite3.connect(f"file:{path}?immutable=1", uri=True)
        try:
            rows = db.execute("SELECT 1 FROM bans WHERE network = '192.0.2.77/32'").fetchall()
        except sqlite3.OperationalError:  # not even the tables there yet
            return False
        finally:
            db.close()
        return bool(rows)

    async def scenario() -> tuple[int, bool, bool]:
        agent = Agent(config)
        task = asyncio.create_task(agent.run())
        await agent.ready.wait()
        await asyncio.sleep(0)  # the task group started
        autocheckpoint = agent.store.db.execute("PRAGMA wal_autocheckpoint").fetchone()[0]
        await agent.ban("sshd", ipaddress.ip_network("192.0.2.77"), 3600.0)
        right_after = in_database_file(agent.store.path)
        await asyncio.sleep(CHECKPOINT_INTERVAL * 2.5)
        later = in_database_file(agent.store.path)
        agent.stop()
        await task
        return autocheckpoint, right_after, later

    autocheckpoint, right_after, later = asyncio.run(asyncio.wait_for(scenario(), 30))
    assert autocheckpoint == 0
    assert not right_after  # committed to the log only
    assert later  # copied into the database file by the checkpointer


class _SlowConnection:
    """The checkpointer's connection, its checkpoint held until ``release`` is set."""

    def __init__(self, db: sqlite3.Connection) -> None:
        self.db = db
        self.entered = threading.Event()
        self.release = threading.Event()
        self.closed_during_checkpoint = False
        self.in_checkpoint = False

    def execute(self, sql: str) -> sqlite3.Cursor:
        self.in_checkpoint = True
        self.entered.set()
        self.release.wait(5)
        try:
            return self.db.execute(sql)
        finally:
            self.in_checkpoint = False

    def close(self) -> None:
        self.closed_during_checkpoint = self.in_checkpoint
        self.db.close()


def test_close_waits_for_a_checkpoint_running_in_its_thread(tmp_path: Path) -> None:
    # The agent's task awaiting a checkpoint can be cancelled (asyncio.run's end does it)
    # while the worker thread is still inside SQLite: closing then crashed the interpreter.
    path = tmp_path / "state.sqlite"
    store = StateStore(path)
    detach(store.db)
    _commit_bans(store, 100, 2)
    checkpointer = Checkpointer(path)
    slow = _SlowConnection(checkpointer._db)
    checkpointer._db = slow  # type: ignore[assignment]
    worker = threading.Thread(target=checkpointer.checkpoint)
    worker.start()
    assert slow.entered.wait(5)
    closer = threading.Thread(target=checkpointer.close)
    closer.start()
    closer.join(0.2)
    assert closer.is_alive()  # close waits for the checkpoint
    slow.release.set()
    worker.join(5)
    closer.join(5)
    assert not slow.closed_during_checkpoint
    assert checkpointer.checkpoint() == (0, 0)  # closed: nothing more, no error
    store.close()
