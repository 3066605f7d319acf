"""The last commands callers gave, kept in the state across restarts (agent/commandstore.py)."""

from __future__ import annotations

import logging
import threading
from pathlib import Path

import pytest

from journalban.agent.callers import Caller, CommandLog, calling
from journalban.agent.commandstore import CommandStore
from journalban.state.store import StateStore


def opened(path: Path, size: int = 20) -> tuple[StateStore, CommandLog, CommandStore]:
    store = StateStore(path)
    commands = CommandLog(size)
    kept = CommandStore(store, size)
    commands.restore(kept.load())
    commands.on_record = kept.recorded
    return store, commands, kept


def test_commands_come_back_after_a_restart_oldest_first(tmp_path: Path) -> None:
    store, commands, _ = opened(tmp_path / "state.sqlite")
    with calling(Caller(0, ":1.5")):
        commands.record("ban", "198.51.100.1 in sshd", 100.0)
        commands.record("reload", "", 101.0)
    commands.record("unban", "the agent's own doing is no command", 102.0)
    with calling(Caller(None, ":1.9")):
        commands.record("unban", "198.51.100.1", 103.0)
    before = commands.recent()
    store.close()
    store, again, _ = opened(tmp_path / "state.sqlite")
    assert again.recent() == before
    assert [r.kind for r in before] == ["ban", "reload", "unban"]
    assert before[-1].caller == Caller(None, ":1.9")
    store.close()


def test_only_the_last_commands_are_kept(tmp_path: Path) -> None:
    store, commands, _ = opened(tmp_path / "state.sqlite", size=5)
    with calling(Caller(1000, ":1.7")):
        for n in range(12):
            commands.record("ban", f"198.51.100.{n} in sshd", float(n))
    rows = store.db.execute("SELECT count(*) FROM recent_commands").fetchone()[0]
    assert rows == 5
    store.close()
    store, again, _ = opened(tmp_path / "state.sqlite", size=5)
    assert [r.what for r in again.recent()] == [f"198.51.100.{n} in sshd" for n in range(7, 12)]
    store.close()


def test_workers_flushing_at_once_write_each_command_once(tmp_path: Path) -> None:
    store = StateStore(tmp_path / "state.sqlite")
    kept = CommandStore(store)
    commands = CommandLog()
    with calling(Caller(0, ":1.1")):
        for n in range(10):
            commands.record("ban", f"198.51.100.{n}", float(n))
    kept._pending.extend(commands.recent())
    workers = [threading.Thread(target=kept.flush) for _ in range(4)]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    assert [r.what for r in kept.load()] == [f"198.51.100.{n}" for n in range(10)]
    store.close()


def test_a_damaged_command_row_is_skipped_and_counted(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """A time or a uid that is no number (by hand, by a disk) stopped the agent's start
    (float()/int() at load): the row is skipped, counted, the others kept."""
    store, commands, _ = opened(tmp_path / "state.sqlite")
    with calling(Caller(0, ":1.5")):
        commands.record("ban", "198.51.100.1 in sshd", 100.0)
        commands.record("reload", "", 101.0)
    store.db.execute("UPDATE recent_commands SET at = 'yesterday' WHERE kind = 'ban'")
    store.db.execute(
        "INSERT INTO recent_commands (at, kind, uid, bus_name, what) "
        "VALUES (102.0, 'unban', 'root', ':1.7', 'x')"
    )
    store.close()
    with caplog.at_level(logging.WARNING, logger="journalban.agent.commandstore"):
        store, again, _ = opened(tmp_path / "state.sqlite")
    assert [(r.kind, r.at) for r in again.recent()] == [("reload", 101.0)]
    assert [r.getMessage() for r in caplog.records] == [
        "unreadable state rows: 2 stored row(s) of table recent_commands could not be read "
        "and were skipped"
    ]
    store.close()
