"""A split catch-up's readers of some files set up no inotify watches; the directory reader does.

Closing a reader that watched its files (``sd_journal_get_fd``) waits in the
kernel until its inotify instance is freed (``fsnotify_destroy_group``): 10-60 ms
per reader on the benchmark machine, and a split catch-up opens one per turn,
per priming and per helper's last cursor. Only the directory reader, which
follows the journal after the catch-up, needs them: it watched every file
from before its first read, so entries appended while the parts are read are
handed out after them, and a later append wakes it. On real files from
journal-remote, in this process as the reader child (its helper forked).
"""

from __future__ import annotations

import dataclasses
import os
import select
import socket
from pathlib import Path

import pytest
from test_journal_child import small_fs, wait_entries
from test_journal_source import SSHD_GROUPS

from journalban.sources.journalhelper import receive_helper_pipe
from journalban.sources.journalsplit import Part
from journalban.sources.journalwire import DATA, SPLIT, Frame, Request
from journalban.sources.journalworker import Follower
from support.journal import JournalWriter, sshd_fields
from support.readerchild import frames_in, run_child, turns

pytestmark = pytest.mark.real
__all__ = ["small_fs"]  # a fixture used here

TOTAL = 6000
REQUEST = Request(
    matches=SSHD_GROUPS, batch_size=300, reopen_every=1000, split_at=1,
)  # fmt: skip


def inotify_instances() -> int:
    """This process's open inotify instances."""
    count = 0
    for fd in os.listdir("/proc/self/fd"):
        try:
            if os.readlink(f"/proc/self/fd/{fd}") == "anon_inode:inotify":
                count += 1
        except OSError:
            continue  # the listing's own descriptor, closed meanwhile
    return count


def handed_out(mine: list[Frame], theirs: list[Frame]) -> list[str]:
    return [m for _, f in turns(mine, theirs) if f.kind == DATA for m in f.messages]


def test_only_the_directory_reader_watches_the_files(
    small_fs: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with JournalWriter(small_fs) as writer:
        writer.write([sshd_fields(f"line {i}") for i in range(TOTAL)])
        wait_entries(small_fs, TOTAL)
    before = inotify_instances()
    seen: list[tuple[bool, int]] = []  # (a reader of some files, instances once it is open)
    original = Follower._open
    parent = os.getpid()

    def recording(self: Follower) -> object:
        reader = original(self)
        if os.getpid() == parent:  # (not in the forked helper)
            # Less those of reopened readers, held until the child is idle (reopen).
            seen.append((self.files is not None, inotify_instances() - len(self.held)))
        return reader

    monkeypatch.setattr(Follower, "_open", recording)
    run = run_child(
        dataclasses.replace(REQUEST, directory=str(small_fs)), small_fs.parent / "frames"
    )

    assert run.helper_status == 0  # split, the helper exited cleanly
    assert handed_out(run.mine, run.theirs) == [f"line {i}" for i in range(TOTAL)]
    directory = [count for some, count in seen if not some]
    parts = [count for some, count in seen if some]
    assert directory  # opened, and reopened every REQUEST.reopen_every entries
    assert set(directory) == {before + 1}  # the directory reader watches
    assert len(parts) >= 2  # this child's turns and the helper's last cursors
    assert set(parts) == {before + 1}  # none of them added an instance


def test_entries_appended_during_a_split_are_handed_out_and_wake_the_directory_reader(
    small_fs: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with JournalWriter(small_fs) as writer:
        writer.write([sshd_fields(f"line {i}") for i in range(TOTAL)])
        wait_entries(small_fs, TOTAL)
        original = Follower.read_group
        parent = os.getpid()
        appended: list[tuple[str, ...]] = []

        def appending(self: Follower, part: Part) -> bool:
            # Before this child's last part (it reads into the file still written to).
            if os.getpid() == parent and part.stop is None and not appended:
                writer.write([sshd_fields(f"late {i}") for i in range(50)])
                wait_entries(small_fs, TOTAL + 50)
                appended.append(part.files)
            return original(self, part)

        monkeypatch.setattr(Follower, "read_group", appending)
        frames = small_fs.parent / "frames"
        agent_end, child_end = socket.socketpair()
        request = dataclasses.replace(
            REQUEST, directory=str(small_fs), helper_socket=child_end.fileno()
        )
        fd = os.open(frames, os.O_WRONLY | os.O_CREAT | os.O_TRUNC)
        try:
            follower = Follower(request, fd, fd)
            follower.seek_start()
            follower.catch_up()
            follower.drain()
            assert appended  # the append came while the catch-up read
            # After the catch-up, an append wakes the directory reader.
            writer.write([sshd_fields("later")])
            poller = select.poll()
            poller.register(follower.reader.fileno(), follower.reader.get_events())
            assert poller.poll(10_000), "the directory reader was not woken"
            follower.reader.process()
            follower.drain()
            follower.close()
            child_end.detach()
        finally:
            os.close(fd)
    mine, theirs = _frames(frames, agent_end)
    expected = [f"line {i}" for i in range(TOTAL)] + [f"late {i}" for i in range(50)]
    assert handed_out(mine, theirs) == [*expected, "later"]


def _frames(out: Path, agent_end: socket.socket) -> tuple[list[Frame], list[Frame]]:
    """The child's frames (its SPLIT frame left out) and its helper's (reaped here)."""
    mine = frames_in(out.read_bytes())
    theirs: list[Frame] = []
    if mine and mine[0].kind == SPLIT:
        with receive_helper_pipe(agent_end) as pipe:
            theirs = frames_in(pipe.read())
        assert os.waitpid(int(mine[0].messages[0]), 0)[1] == 0
        mine = mine[1:]
    agent_end.close()
    return mine, theirs
