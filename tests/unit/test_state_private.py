"""The state database and its -wal/-shm files are private whatever the umask."""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest

from journalban.addresses import parse_network
from journalban.events import Ban
from journalban.state.store import BatchCommit, StateStore

NOW = 1_800_000_000.0


@pytest.fixture
def shell_umask() -> Iterator[None]:
    """The umask of an interactive shell (the README's first command runs from one)."""
    old = os.umask(0o022)
    try:
        yield
    finally:
        os.umask(old)


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def _write_a_ban(store: StateStore) -> None:
    ban = Ban("sshd", parse_network("203.0.113.5"), NOW, NOW + 600, 1, "failures",
              failures=3, source="journal", lines=("Failed password for root",))  # fmt: skip
    store.commit([BatchCommit("sshd", "journal", "cursor", bans=[ban], banned_delta=1)])


@pytest.mark.usefixtures("shell_umask")
def test_state_database_and_wal_files_are_0600_under_umask_022(tmp_path: Path) -> None:
    path = tmp_path / "state" / "state.sqlite"
    store = StateStore(path)
    try:
        _write_a_ban(store)
        files = [path, path.with_name("state.sqlite-wal"), path.with_name("state.sqlite-shm")]
        assert all(f.exists() for f in files)
        assert {f.name: oct(_mode(f)) for f in files} == {f.name: "0o600" for f in files}
    finally:
        store.close()


@pytest.mark.usefixtures("shell_umask")
def test_readable_database_left_by_an_older_agent_is_made_private(tmp_path: Path) -> None:
    path = tmp_path / "state.sqlite"
    first = StateStore(path)
    _write_a_ban(first)
    first.close()
    for name in ("state.sqlite", "state.sqlite-wal", "state.sqlite-shm"):
        if (tmp_path / name).exists():
            (tmp_path / name).chmod(0o644)
    store = StateStore(path)
    try:
        assert _mode(path) == 0o600
        assert [b.network for b in store.active_bans()] == [parse_network("203.0.113.5")]
        for name in ("state.sqlite-wal", "state.sqlite-shm"):
            if (tmp_path / name).exists():
                assert _mode(tmp_path / name) == 0o600
    finally:
        store.close()
