"""Deciding the next group while the last one commits (agent/overlap.py) decides the same.

The real ``Agent`` reads a benchmark corpus in small bursts (hundreds of
groups, so that commits run while groups are decided), once with the
overlap and once without, and the whole state database must end the same:
bans, history, detector rows, accounts, failure log, counters, positions.
Short ban times with the increment on and recidive make each network banned
again and again, so every ban reads a history that lies partly in the
committed snapshot and partly in the groups still committing.
"""

from __future__ import annotations

import functools
import sqlite3
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parents[1] / "benchmarks"))

import decide_corpus

from journalban.addresses import IPNetwork, stored_network
from journalban.agent import build, filereader
from journalban.agent.overlap import CommitOverlap
from journalban.decisions.banning import BanDeciding
from journalban.decisions.runtime import Changes
from journalban.decisions.unsaved import UnsavedBans
from journalban.events import Ban
from journalban.state.store import BatchCommit, StateStore

LINES = 60_000
SHORT = 300  # seconds: a network is banned again after its ban ends


def _config(log: Path, state: Path) -> dict[str, object]:
    detectors = {
        "slow": {"maxretry": 8, "findtime": 86400, "bantime": SHORT},
        "account": {"addresses": 10, "findtime": 3600, "hold": 600, "bantime": SHORT},
        "subnet": {"prefix4": 24, "prefix6": 48, "addresses": 5, "findtime": 3600,
                   "bantime": SHORT},
    }  # fmt: skip
    jail = {
        "maxretry": 1, "findtime": 2 * 86400, "bantime": SHORT, "source": "files", "files": [str(log)],
        "bantime_increment": {"enabled": True, "factor": 4}, **detectors,
    }  # fmt: skip
    return {
        "state_dir": str(state), "bus": False, "firewall": {"backend": "dry-run"},
        "recidive": {"findtime": 86400, "maxretry": 3},
        "jails": {"sshd": jail},
    }  # fmt: skip


def _run(
    tmp: Path, log: Path, monkeypatch: pytest.MonkeyPatch, *, overlap: bool
) -> tuple[dict[str, list[list[object]]], int, int]:
    """The state at the end; the commits run beside deciding; the history reads made
    while a commit ran that found earlier bans."""
    launched = found = 0
    launch, history = CommitOverlap._launch, BanDeciding._history

    def counting(self: CommitOverlap, changes: Changes) -> None:
        nonlocal launched
        launched += 1
        launch(self, changes)

    def reading(self: BanDeciding, network: IPNetwork, since: float) -> list[tuple[str, float]]:
        nonlocal found
        seen = history(self, network, since)
        found += bool(seen and self.unsaved.reader is not None)
        return seen

    with monkeypatch.context() as m:
        # Bursts of 16 KiB: about 150 lines a batch, hundreds of groups.
        m.setattr(build, "dated_file_source",
                  functools.partial(filereader.dated_file_source, burst_bytes=16 << 10))  # fmt: skip
        m.setattr(CommitOverlap, "_launch", counting)
        m.setattr(BanDeciding, "_history", reading)
        if not overlap:
            m.setattr(CommitOverlap, "_can_overlap", lambda self, changes: False)
        decide_corpus.run_config(
            _config(log, tmp / "state"), "sshd", log, tmp, decide_corpus.ENDS_AT + 60.0
        )
    return decide_corpus.state_rows(tmp / "state"), launched, found


@pytest.mark.parametrize("name", ["sshd-flood", "sshd"])
def test_overlapping_commits_store_the_same_state(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, name: str
) -> None:
    log = tmp_path / "corpus.log"
    decide_corpus.write_corpus(name, LINES, log)
    (tmp_path / "on").mkdir()
    (tmp_path / "off").mkdir()
    with_overlap, launched, found = _run(tmp_path / "on", log, monkeypatch, overlap=True)
    without, none, _ = _run(tmp_path / "off", log, monkeypatch, overlap=False)
    assert none == 0
    assert launched > 20  # commits did run while groups were decided
    assert found > 5  # and bans read a history then
    lengths = {round(float(str(r[3])) - float(str(r[2]))) for r in with_overlap["history"]}
    assert {SHORT, 4 * SHORT} <= lengths  # second bans: the increment counted the first once
    if name == "sshd":
        assert any(row[1] == "recidive" for row in with_overlap["history"])
    assert with_overlap == without


def _ban(network: str, at: float) -> Ban:
    return Ban("sshd", stored_network(network), at, at + 600, 1, "failures", 5, "test")


def test_history_is_read_from_the_snapshot_and_unsaved_bans_counted_once(
    tmp_path: Path,
) -> None:
    store = StateStore(tmp_path / "state.sqlite")
    unsaved = UnsavedBans(store)
    net = stored_network("192.0.2.7/32")
    first = _ban("192.0.2.7/32", 100.0)
    unsaved.add([BatchCommit("sshd", history=[(first, False)])])
    store.commit([BatchCommit("sshd", history=[(first, False)])])
    unsaved.sync()  # not committing in a thread: a commit since makes it readable
    assert unsaved.of(net, 0.0) == []
    assert store.ban_history(net, 0.0) == [("sshd", 100.0)]

    # Group 1 decided (a second ban), its commit about to run in a thread.
    second = _ban("192.0.2.7/32", 200.0)
    unsaved.add([BatchCommit("sshd", history=[(second, False)])])
    unsaved.committing()
    # Group 2 decided while group 1 commits: a third ban.
    third = _ban("192.0.2.7/32", 300.0)
    unsaved.add([BatchCommit("sshd", history=[(third, False)])])
    store.commit([BatchCommit("sshd", history=[(second, False)])])  # group 1's commit
    unsaved.sync()  # a commit happened, but reads still come from the snapshot
    seen = store.ban_history(net, 0.0, unsaved.reader) + unsaved.of(net, 0.0)
    assert sorted(seen) == [("sshd", 100.0), ("sshd", 200.0), ("sshd", 300.0)]
    # The store's own connection sees group 1: reading there would count it twice.
    assert len(store.ban_history(net, 0.0)) == 2

    unsaved.landed()  # group 1 landed: read from the store, group 2 still counted here
    assert unsaved.reader is None
    seen = store.ban_history(net, 0.0, unsaved.reader) + unsaved.of(net, 0.0)
    assert sorted(seen) == [("sshd", 100.0), ("sshd", 200.0), ("sshd", 300.0)]
    unsaved.close()
    store.close()


def test_a_snapshot_does_not_see_a_commit_made_after_it(tmp_path: Path) -> None:
    store = StateStore(tmp_path / "state.sqlite")
    unsaved = UnsavedBans(store)
    unsaved.committing()
    assert unsaved.reader is not None
    store.commit([BatchCommit("sshd", history=[(_ban("198.51.100.1/32", 5.0), False)])])
    count = "SELECT count(*) FROM history"
    assert unsaved.reader.execute(count).fetchone() == (0,)
    assert store.db.execute(count).fetchone() == (1,)
    unsaved.landed()
    unsaved.committing()  # taken again: now it does
    assert unsaved.reader.execute(count).fetchone() == (1,)
    unsaved.close()
    assert isinstance(store.db, sqlite3.Connection)
    store.close()
