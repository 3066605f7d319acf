"""The reads the agent serves to its callers see the state as last committed.

The agent commits in a worker thread while its event loop answers D-Bus calls
(``GetBanDetails`` reads a ban's lines and account, recidive's status its
counters). On the commit's own connection those reads saw the rows of the
transaction in flight, before it committed, or rows a failed commit then
rolled back. They now go through a second, read-only connection: a real SQLite
file in WAL mode, a real commit held open in a thread by a writer of the same
transaction (``StateStore.writers``, as the fleet's outbox is).
"""

from __future__ import annotations

import ipaddress
import sqlite3
import threading
from collections.abc import Sequence
from ipaddress import IPv4Network, IPv6Network
from pathlib import Path

import pytest

from journalban.errors import StateError
from journalban.events import Ban
from journalban.state.store import MEMORY, BatchCommit, StateStore

NOW = 1_800_000_000.0
FIRST = ipaddress.ip_network("203.0.113.9/32")
SECOND = ipaddress.ip_network("198.51.100.7/32")


def _ban(net: IPv4Network | IPv6Network, account: str, line: str) -> Ban:
    return Ban("sshd", net, NOW, NOW + 600, 5, "account", 1, "journal", (line,), account)


def _batch(net: IPv4Network | IPv6Network, account: str, line: str) -> BatchCommit:
    return BatchCommit("sshd", bans=[_ban(net, account, line)], failed_delta=5, banned_delta=1)


class _HeldWriter:
    """Holds the transaction open after the batches' rows are written, until released;
    then fails it if told to."""

    def __init__(self, fail: bool = False) -> None:
        self.inside = threading.Event()
        self.release = threading.Event()
        self.fail = fail

    def write(self, cur: sqlite3.Cursor, batches: Sequence[BatchCommit]) -> None:
        self.inside.set()
        assert self.release.wait(10), "the test never released the commit"
        if self.fail:
            raise sqlite3.OperationalError("disk I/O error (the test's)")


def _commit_in_thread(
    store: StateStore, batch: BatchCommit
) -> tuple[threading.Thread, list[BaseException]]:
    errors: list[BaseException] = []

    def run() -> None:
        try:
            store.commit([batch])
        except StateError as exc:
            errors.append(exc)

    thread = threading.Thread(target=run)
    thread.start()
    return thread, errors


@pytest.mark.parametrize("fail", [False, True], ids=["then committed", "then rolled back"])
def test_a_commit_in_flight_is_not_read(tmp_path: Path, fail: bool) -> None:
    store = StateStore(tmp_path / "state.sqlite")
    store.commit([_batch(FIRST, "oracle", "first line")])
    held = _HeldWriter(fail)
    store.writers.append(held)
    thread, errors = _commit_in_thread(store, _batch(SECOND, "admin", "second line"))
    try:
        assert held.inside.wait(10), "the commit never reached its writer"
        # The transaction holds the second ban's row now; the reads do not wait for it.
        assert store.ban_lines("sshd", SECOND) == ()
        assert store.ban_account("sshd", SECOND) is None
        assert store.counters() == {"sshd": (5, 1)}
        assert store.ban_lines("sshd", FIRST) == ("first line",)
        assert store.ban_account("sshd", FIRST) == "oracle"
        # (on the commit's own connection the row is there, uncommitted)
        row = store.db.execute("SELECT account FROM bans WHERE network = ?", (str(SECOND),))
        assert row.fetchone() == ("admin",)
    finally:
        held.release.set()
        thread.join(10)
    assert not thread.is_alive()
    if fail:
        assert len(errors) == 1
        assert "disk I/O error" in str(errors[0])
        assert store.ban_lines("sshd", SECOND) == ()
        assert store.counters() == {"sshd": (5, 1)}
    else:
        assert errors == []
        assert store.ban_lines("sshd", SECOND) == ("second line",)
        assert store.ban_account("sshd", SECOND) == "admin"
        assert store.counters() == {"sshd": (10, 2)}
    store.close()


def test_the_reads_connection_cannot_write(tmp_path: Path) -> None:
    store = StateStore(tmp_path / "state.sqlite")
    store.commit([_batch(FIRST, "oracle", "first line")])
    assert store.counters() == {"sshd": (5, 1)}
    reading = store._read()
    assert reading is not store.db
    with pytest.raises(sqlite3.OperationalError, match="readonly"):
        reading.execute("DELETE FROM bans")
    assert store.ban_lines("sshd", FIRST) == ("first line",)
    store.close()
    assert store._reading is None


def test_a_state_in_memory_reads_its_own_connection() -> None:
    store = StateStore(MEMORY)
    store.commit([_batch(FIRST, "oracle", "first line")])
    assert store.ban_lines("sshd", FIRST) == ("first line",)
    assert store.ban_account("sshd", FIRST) == "oracle"
    assert store.counters() == {"sshd": (5, 1)}
    assert store._read() is store.db
    store.close()


def test_a_path_needing_quoting_is_read(tmp_path: Path) -> None:
    where = tmp_path / "state dir #1?x=%20"
    store = StateStore(where / "state.sqlite")
    store.commit([_batch(FIRST, "oracle", "first line")])
    assert store.ban_account("sshd", FIRST) == "oracle"
    store.close()
