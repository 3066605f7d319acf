"""The forked helper of a split catch-up (sources.journalhelper) on real journal files.

A helper that dies before its share is read is a failed source: the agent
restarts it from the position it committed, and every entry is still handed
out once. A source closed while its helper is blocked on a full pipe leaves no
helper behind. A child that cannot fork reads every group itself. The helper is made to block by not running the event loop
for a while: its share (2 KB messages) is larger than its pipe.
"""

from __future__ import annotations

import asyncio
import errno
import os
import random
import signal
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from test_journal_child import gone, small_fs, wait_entries
from test_journal_source import make_source, messages, stays_quiet

from journalban.errors import SourceError
from journalban.events import LineBatch
from journalban.sources.journal import JournalSource
from journalban.sources.journalwire import DATA, Request
from support.journal import JournalWriter, sshd_fields
from support.readerchild import run_child

pytestmark = pytest.mark.real
__all__ = ["small_fs"]  # a fixture used here

TOTAL = 3000
# Messages journald cannot compress much: the files rotate (several groups to share),
# and the helper's share (about 3 MB of frames) is more than its pipe holds.
PADS = [random.Random(i).randbytes(1000).hex() for i in range(TOTAL)]


def line(i: int) -> str:
    return f"line {i} {PADS[i]}"


def write_corpus(directory: Path) -> None:
    with JournalWriter(directory) as writer:
        writer.write([sshd_fields(line(i)) for i in range(TOTAL)])
        wait_entries(directory, TOTAL)


def line_numbers(batches: list[LineBatch]) -> list[int]:
    return [int(message.split()[1]) for message in messages(batches)]


async def split_started(batches: AsyncIterator[LineBatch], source: JournalSource) -> LineBatch:
    first = await anext(batches)
    assert len(source.child_pids) == 2, "the catch-up was not split"
    hold_the_loop(0.5)  # both fill their pipes and block
    return first


def hold_the_loop(seconds: float) -> None:
    time.sleep(seconds)


async def read_all(batches: AsyncIterator[LineBatch], got: list[LineBatch]) -> None:
    while True:
        got.append(await anext(batches))


def test_a_helper_killed_before_its_share_is_a_failed_source_resumed_exactly(
    small_fs: Path,
) -> None:
    write_corpus(small_fs)

    async def until_failure() -> tuple[list[LineBatch], int]:
        source = make_source(small_fs, batch_size=100, split_at=1, findtime=10**9)
        batches = source.batches()
        got = [await split_started(batches, source)]
        helper = source.child_pids[1]
        os.kill(helper, signal.SIGKILL)
        with pytest.raises(SourceError, match=r"helper .* ended before its share"):
            await read_all(batches, got)
        return got, helper

    async def resumed(position: str | None) -> list[LineBatch]:
        source = make_source(small_fs, position=position, batch_size=100, split_at=1)
        batches = source.batches()
        got: list[LineBatch] = []
        async with asyncio.timeout(20):
            while not line_numbers(got[-1:]) or line_numbers(got[-1:])[-1] < TOTAL - 1:
                got.append(await anext(batches))
        assert await stays_quiet(batches)
        source.close()
        return got

    before, helper = asyncio.run(until_failure())
    assert gone(helper)
    read = line_numbers(before)
    assert read[-1] < TOTAL - 1  # it failed before the end
    rest = line_numbers(asyncio.run(resumed(before[-1].position)))
    # Every line once, in order. (journal-remote writes the entry that found a file
    # full in the next file too, under another sequence number: a reader of the
    # directory gives that line twice as well, one after the other.)
    numbers = read + rest
    assert numbers == sorted(numbers)
    assert set(numbers) == set(range(TOTAL))
    assert numbers[-1] == TOTAL - 1


def test_closing_the_source_ends_a_blocked_helper(small_fs: Path) -> None:
    write_corpus(small_fs)

    async def scenario() -> list[int]:
        source = make_source(small_fs, batch_size=100, split_at=1, findtime=10**9)
        batches = source.batches()
        await split_started(batches, source)
        pids = list(source.child_pids)
        source.close()
        assert await anext(batches, None) is None  # it ends
        return pids

    main, helper = asyncio.run(scenario())
    assert gone(main)
    assert gone(helper)  # its write failed once the agent's end was closed


def test_a_child_that_cannot_fork_reads_every_group_itself(
    small_fs: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    write_corpus(small_fs)

    def no_fork() -> int:
        raise BlockingIOError(errno.EAGAIN, "fork refused")

    monkeypatch.setattr(os, "fork", no_fork)
    run = run_child(Request(directory=str(small_fs), split_at=1), small_fs.parent / "frames")
    assert run.helper_status is None  # no helper: the child read it all itself
    frames = run.mine
    assert {frame.kind for frame in frames} == {DATA}  # no SPLIT, no HANDOVER
    numbers = [int(m.split()[1]) for frame in frames for m in frame.messages]
    assert numbers == sorted(numbers)
    assert set(numbers) == set(range(TOTAL))
