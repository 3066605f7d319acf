"""A split catch-up cut inside a journal file (sources.journalsplit), on real files from journal-remote.

The reader child reads up to the cut, its forked helper from the cut on, and
the agent takes their frames in turns: every entry of the jail once, in the
directory's order, never an entry of another uid (a local user's ``logger``
in sshd's unit), and the two shares about equal in entries.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Callable
from pathlib import Path

import pytest
from test_journal_child import make_cursor_of_first, small_fs, wait_entries
from test_journal_reader_matching import _turns, frames_in
from test_journal_source import SSHD_GROUPS

from journalban.sources import journalsplit
from journalban.sources.journalfiles import catch_up_groups, journal_files
from journalban.sources.journalhelper import receive_helper_pipe
from journalban.sources.journalwire import DATA, DONE, HANDOVER, SPLIT, Frame, Request
from journalban.sources.journalworker import Follower
from support.journal import JournalWriter, sshd_fields

pytestmark = pytest.mark.real
__all__ = ["small_fs"]  # a fixture used here

TOTAL = 6000


def write_corpus(directory: Path) -> None:
    """sshd's lines, every third one from another uid in the same unit (never the jail's)."""
    with JournalWriter(directory) as writer:
        writer.write(
            [sshd_fields(f"line {i}", uid=1000 if i % 3 == 2 else 0) for i in range(TOTAL)]
        )
        writer.write([sshd_fields("live 0"), sshd_fields("live 1")])
        wait_entries(directory, TOTAL + 2)


def expected() -> list[str]:
    return [f"line {i}" for i in range(TOTAL) if i % 3 != 2] + ["live 0", "live 1"]


def run_child(directory: Path, read: Callable[[Follower], None]) -> tuple[list[Frame], list[Frame]]:
    """Run ``read(follower)`` in this process as the reader child: its frames and the helper's."""
    agent_end, child_end = socket.socketpair()
    request = Request(
        matches=SSHD_GROUPS, directory=str(directory), batch_size=300, reopen_every=1000,
        split_at=1, helper_socket=child_end.fileno(),
    )  # fmt: skip
    out = directory.parent / "frames"
    fd = os.open(out, os.O_WRONLY | os.O_CREAT | os.O_TRUNC)
    try:
        follower = Follower(request, fd, fd)
        follower.seek_start()
        read(follower)
        follower.close()
        child_end.detach()
    finally:
        os.close(fd)
    mine = frames_in(out.read_bytes())
    assert mine[0].kind == SPLIT
    with receive_helper_pipe(agent_end) as pipe:
        theirs = frames_in(pipe.read())
    agent_end.close()
    assert os.waitpid(int(mine[0].messages[0]), 0)[1] == 0
    assert theirs[-1].kind == DONE
    return mine[1:], theirs


def taken_in_turns(mine: list[Frame], theirs: list[Frame]) -> tuple[list[str], list[int]]:
    """The messages as the agent takes them, and how many entries each of the two read."""
    messages: list[str] = []
    read = [0, 0]
    for turn, frame in _turns(mine, theirs):
        if frame.kind == DATA:
            messages += frame.messages
            read[turn] += frame.read
    return messages, read


def test_the_catch_up_is_cut_inside_a_file_and_read_once_in_order(small_fs: Path) -> None:
    write_corpus(small_fs)
    paths = journal_files(str(small_fs))
    assert paths is not None
    groups, _ = catch_up_groups(paths, make_cursor_of_first(small_fs))
    assert len(groups) >= 2

    def read(follower: Follower) -> None:
        follower.catch_up()
        follower.drain()  # then the files still written to

    mine, theirs = run_child(small_fs, read)
    messages, read_by = taken_in_turns(mine, theirs)
    assert messages == expected()
    # Both read about half: the cut was placed by entries, not at a file's edge.
    child, helper = read_by
    assert child + helper == len(expected())
    assert abs(child - helper) < 0.15 * (child + helper)


@pytest.mark.parametrize("turn_entries", [300, 700])
def test_many_turns_cut_files_between_entries_of_another_uid(
    small_fs: Path, turn_entries: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Turns of a few hundred entries: cuts in every file, on entries of either uid."""
    monkeypatch.setattr(journalsplit, "TURN_ENTRIES", turn_entries)
    monkeypatch.setattr(journalsplit, "TURNS", 8)
    write_corpus(small_fs)

    def read(follower: Follower) -> None:
        follower.catch_up()
        follower.drain()

    mine, theirs = run_child(small_fs, read)
    messages, read_by = taken_in_turns(mine, theirs)
    assert messages == expected()
    child, helper = read_by
    assert abs(child - helper) < 0.15 * (child + helper)
    # The helper's turns: several, each handed back to the child.
    assert sum(1 for f in theirs if f.kind == HANDOVER) >= 2
