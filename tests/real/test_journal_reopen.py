"""The directory reader reopened during a catch-up keeps its inotify instance until idle.

``Follower.reopen`` drops a reader's file mappings every ``reopen_every``
entries. Closing the directory reader, which watches the journal
(``sd_journal_get_fd``), waits in the kernel until its inotify instance is
freed (``fsnotify_destroy_group``): 24 ms of a sshd catch-up on the benchmark
machine, with the reading stopped. A copy of the descriptor keeps the instance
until the child has nothing to read (``release``, at its next ``wait``), so the
reopen returns at once. On real files from journal-remote, in this process as
the reader child.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from test_journal_child import wait_entries
from test_journal_source import SSHD_GROUPS
from test_journal_split_watches import inotify_instances

from journalban.sources.journalwire import Request
from support.journal import JournalWriter, sshd_fields
from support.readerchild import follower_at_start, frames_in

pytestmark = pytest.mark.real

TOTAL = 3000


def test_a_reopened_directory_reader_holds_its_watches_until_idle(tmp_path: Path) -> None:
    journal_dir = tmp_path / "journal"
    out = tmp_path / "frames"
    with JournalWriter(journal_dir) as writer:
        writer.write([sshd_fields(f"line {i}") for i in range(TOTAL)])
        wait_entries(journal_dir, TOTAL)
        before = inotify_instances()
        request = Request(
            matches=SSHD_GROUPS, directory=str(journal_dir), batch_size=300, reopen_every=1000
        )
        with follower_at_start(request, out) as follower:
            follower.drain()
            # Reopened twice or more while reading: the old instances are still open,
            # the current reader's is one more.
            assert len(follower.held) >= 2
            assert inotify_instances() == before + 1 + len(follower.held)
            writer.write([sshd_fields("later")])
            assert follower.wait()  # idle: the held instances are closed, then it sleeps
            assert follower.held == []
            assert inotify_instances() == before + 1
            follower.drain()
            follower.close()
    messages = [m for frame in frames_in(out.read_bytes()) for m in frame.messages]
    assert messages == [*(f"line {i}" for i in range(TOTAL)), "later"]
    assert inotify_instances() == before
