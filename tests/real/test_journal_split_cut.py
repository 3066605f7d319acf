"""A split catch-up cut inside a journal file (sources.journalsplit), on real files from journal-remote.

The reader child reads up to the cut, its forked helper from the cut on, and
the agent takes their frames in turns: every entry of the jail once, in the
directory's order, never an entry of another uid (a local user's ``logger``
in sshd's unit), and the two shares about equal in entries.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from test_journal_child import make_cursor_of_first, small_fs, wait_entries
from test_journal_source import SSHD_GROUPS

from journalban.sources import journalsplit
from journalban.sources.journalfiles import catch_up_groups, journal_files
from journalban.sources.journalwire import DATA, DONE, HANDOVER, Frame, Request
from support.journal import JournalWriter, sshd_fields
from support.readerchild import run_child, turns

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


def read_split(directory: Path) -> tuple[list[Frame], list[Frame]]:
    """The catch-up and the files still written to, read in this process as the reader
    child: its frames and the helper's."""
    request = Request(
        matches=SSHD_GROUPS, directory=str(directory), batch_size=300, reopen_every=1000,
        split_at=1,
    )  # fmt: skip
    run = run_child(request, directory.parent / "frames")
    assert run.helper_status == 0  # the catch-up was split, the helper exited cleanly
    assert run.theirs[-1].kind == DONE
    return run.mine, run.theirs


def taken_in_turns(mine: list[Frame], theirs: list[Frame]) -> tuple[list[str], list[int]]:
    """The messages as the agent takes them, and how many entries each of the two read."""
    messages: list[str] = []
    read = [0, 0]
    for turn, frame in turns(mine, theirs):
        if frame.kind == DATA:
            messages += frame.lines
            read[turn] += frame.read
    return messages, read


def test_the_catch_up_is_cut_inside_a_file_and_read_once_in_order(small_fs: Path) -> None:
    write_corpus(small_fs)
    paths = journal_files(str(small_fs))
    assert paths is not None
    groups, _ = catch_up_groups(paths, make_cursor_of_first(small_fs))
    assert len(groups) >= 2

    mine, theirs = read_split(small_fs)
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

    mine, theirs = read_split(small_fs)
    messages, read_by = taken_in_turns(mine, theirs)
    assert messages == expected()
    child, helper = read_by
    assert abs(child - helper) < 0.15 * (child + helper)
    # The helper's turns: several, each handed back to the child.
    assert sum(1 for f in theirs if f.kind == HANDOVER) >= 2
