"""The state's page cache grows for a flood only (state.store.FLOOD_CACHE_KIB)."""

from __future__ import annotations

from pathlib import Path

from journalban.events import Ban
from journalban.netobjects import host_v4_network
from journalban.state import store
from journalban.state.store import BatchCommit, StateStore


def _commit(state: StateStore, first: int, count: int, lines: tuple[str, ...] = ()) -> None:
    bans = [
        Ban("sshd", host_v4_network(0x0A000000 + n), 1000.0, 2000.0, 1, "account", 5, "f", lines)
        for n in range(first, first + count)
    ]
    state.commit([BatchCommit(jail="sshd", bans=bans, history=[(b, False) for b in bans])])


def _cache(state: StateStore) -> int:
    return int(state.db.execute("PRAGMA cache_size").fetchone()[0])


def test_a_large_commit_into_a_small_state_keeps_the_small_cache(tmp_path: Path) -> None:
    state = StateStore(tmp_path / "state.sqlite")
    _commit(state, 0, store.FLOOD_ROWS)  # 2 rows a ban
    assert _cache(state) == -store.CACHE_KIB
    assert not state.flood_cache
    assert len(state.active_bans()) == store.FLOOD_ROWS


def test_a_flood_into_a_large_state_grows_it_once(tmp_path: Path) -> None:
    state = StateStore(tmp_path / "state.sqlite")
    line = ("x" * 1000,)
    for start in range(0, 10_000, 500):  # about 10 MB of lines, in small commits
        _commit(state, start, 500, line)
        assert _cache(state) == -store.CACHE_KIB
    _commit(state, 20_000, store.FLOOD_ROWS // 2)
    assert state.flood_cache
    assert _cache(state) == -store.FLOOD_CACHE_KIB
    _commit(state, 30_000, 10)
    assert _cache(state) == -store.FLOOD_CACHE_KIB
    assert len(state.active_bans()) == 10_000 + store.FLOOD_ROWS // 2 + 10
    assert state.ban_lines("sshd", host_v4_network(0x0A000000 + 9_999)) == line
    state.close()
