"""The reader child's first frames are small, so that the agent starts deciding early.

The agent has nothing to decide until the first frame comes; a first batch of
``Request.batch_size`` entries (5,000) kept a core idle for 10-13 ms of sshd's
reading. The first batch reads ``FIRST_ENTRIES`` at most and each next one twice as
many, up to ``batch_size``. While following, a frame short of the batch it was
read as still means the reader reached the end. On real files from journal-remote,
in this process as the reader child.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from test_journal_child import wait_entries
from test_journal_source import SSHD_GROUPS

from journalban.sources.journalbatch import FIRST_ENTRIES
from journalban.sources.journalwire import Request
from support.journal import JournalWriter, sshd_fields
from support.readerchild import follower_at_start, frames_in

pytestmark = pytest.mark.real

BATCH = 4000
TOTAL = 3 * BATCH + 7


def test_the_first_frames_grow_to_the_batch_size(tmp_path: Path) -> None:
    journal_dir = tmp_path / "journal"
    out = tmp_path / "frames"
    with JournalWriter(journal_dir) as writer:
        writer.write([sshd_fields(f"line {i}") for i in range(TOTAL)])
        wait_entries(journal_dir, TOTAL)
        request = Request(matches=SSHD_GROUPS, directory=str(journal_dir), batch_size=BATCH)
        with follower_at_start(request, out) as follower:
            follower.drain()
            caught_up = len(frames_in(out.read_bytes()))
            # Following: a frame of fewer entries than its batch was read as ends the drain
            # (entries appended meanwhile wait for the next wake-up), one of a full batch not.
            writer.write([sshd_fields(f"later {i}") for i in range(3)])
            wait_entries(journal_dir, TOTAL + 3)
            follower.drain(live=True)
            follower.close()
    frames = frames_in(out.read_bytes())
    reads = [frame.read for frame in frames]
    grown = [FIRST_ENTRIES, 2 * FIRST_ENTRIES, 4 * FIRST_ENTRIES, BATCH, BATCH]
    assert reads[:caught_up] == [*grown, TOTAL - sum(grown)]
    assert reads[caught_up:] == [3]
    messages = [m for frame in frames for m in frame.lines]
    assert messages == [*(f"line {i}" for i in range(TOTAL)), *(f"later {i}" for i in range(3))]
