"""The frames of a split catch-up's helper wait in the agent's memory up to a bound
(sources.journal.STREAM_LIMIT, FrameStream.most_waiting), on real journal files.

A slow agent (it sleeps before each batch, so that the readers run ahead) takes the
child's share first while the helper has read its own: beyond the bound the helper's
frames wait in its pipe and then in the helper itself, blocked in its write. Every
entry is still handed out, in the journal's order, as often as without the bound (the
same batches and positions as the same catch-up taken at once with no bound), and the
last batch's position is the last entry's cursor.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from systemd import journal
from test_journal_child import gone, small_fs
from test_journal_helper import TOTAL, line, write_corpus
from test_journal_source import make_source, messages, stays_quiet

from journalban.events import LineBatch
from journalban.sources import journal as journal_source
from journalban.sources.child import PIPE_BYTES, READ_BYTES
from journalban.sources.journal import STREAM_LIMIT

pytestmark = pytest.mark.real
__all__ = ["small_fs"]  # a fixture used here


def line_numbers(batches: list[LineBatch]) -> list[int]:
    return [int(message.split()[1]) for message in messages(batches)]


def last_cursor(directory: Path) -> str:
    reader = journal.Reader(path=str(directory))
    reader.seek_tail()
    reader._previous()
    cursor: str = reader._get_cursor()
    reader.close()
    return cursor


async def unbounded(directory: Path) -> list[LineBatch]:
    """The same catch-up taken at once, with no bound on what waits (as before it)."""
    source = make_source(directory, batch_size=20, split_at=1, findtime=10**9)
    batches = source.batches()
    got = [await anext(batches)]
    assert len(source.child_pids) == 2
    async with asyncio.timeout(60):
        while not line_numbers(got[-1:]) or line_numbers(got[-1:])[-1] < TOTAL - 1:
            got.append(await anext(batches))
    assert await stays_quiet(batches)
    source.close()
    return got


def test_a_slow_agent_holds_a_bounded_part_of_the_helper_s_frames_and_loses_none(
    small_fs: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    write_corpus(small_fs)
    last = last_cursor(small_fs)

    async def scenario() -> tuple[list[LineBatch], dict[int, int], int]:
        source = make_source(small_fs, batch_size=20, split_at=1, findtime=10**9)
        batches = source.batches()
        got = [await anext(batches)]
        main, helper = source.child_pids  # the catch-up was split
        highest = dict.fromkeys((main, helper), 0)
        async with asyncio.timeout(60):
            while not line_numbers(got[-1:]) or line_numbers(got[-1:])[-1] < TOTAL - 1:
                await asyncio.sleep(0.005)  # a slow agent: the readers read on meanwhile
                for pid, waiting in zip(source.child_pids, source.waiting, strict=True):
                    highest[pid] = max(highest[pid], waiting)
                got.append(await anext(batches))
        assert await stays_quiet(batches)
        source.close()
        return got, highest, helper

    got, highest, helper = asyncio.run(scenario())
    numbers = line_numbers(got)
    assert numbers == sorted(numbers)  # in the journal's order
    assert set(numbers) == set(range(TOTAL))  # none lost
    assert got[-1].position == last
    with monkeypatch.context() as patch:
        patch.setattr(journal_source, "STREAM_LIMIT", 1 << 40)
        reference = asyncio.run(unbounded(small_fs))
    # Each entry as often as without the bound (journal-remote writes an entry that
    # found a file full again in the next file: those few lines come twice both ways).
    assert messages(got) == messages(reference)
    assert [b.position for b in got] == [b.position for b in reference]
    # FrameStream.most_waiting: twice the limit, and one read of asyncio's pipe transport.
    assert vars(asyncio.unix_events)["_UnixReadPipeTransport"].max_size == READ_BYTES
    most = 2 * STREAM_LIMIT + READ_BYTES
    assert max(highest.values()) <= most, highest
    # The bound was reached: the helper's share (2 KB messages) is more than its pipe and
    # the bound hold, and it had read ahead up to where the stream stops reading.
    share = sum(len(line(i)) for i in range(TOTAL // 2, TOTAL))
    assert share > PIPE_BYTES + most
    assert highest[helper] > 2 * STREAM_LIMIT


def test_with_sessions_the_helper_reads_first_and_is_gone_during_the_child_s_turn(
    small_fs: Path,
) -> None:
    """A jail with sessions takes one turn per reader, the helper's first
    (journalsplit.turns): the helper ends once its share is read and handed out, and
    does not wait, blocked, while the agent takes the other share (its memory with it).
    Past 60% of the lines (the cut is near 54%: the child's share and the live file's
    entries after it) the helper is gone; with the child's share first, the helper's
    frames from there on (2.4 MB) are more than its pipe and the bound hold, and it was
    still there, blocked in its write."""
    write_corpus(small_fs)

    async def scenario() -> tuple[list[LineBatch], bool]:
        source = make_source(
            small_fs, batch_size=20, split_at=1, findtime=10**9, session_field="_PID"
        )
        batches = source.batches()
        got = [await anext(batches)]
        _, helper = source.child_pids  # the catch-up was split
        gone_after_cut = True
        async with asyncio.timeout(60):
            while not line_numbers(got[-1:]) or line_numbers(got[-1:])[-1] < TOTAL - 1:
                await asyncio.sleep(0.002)  # a slow agent
                got.append(await anext(batches))
                last = line_numbers(got[-1:])
                if gone_after_cut and last and last[0] >= 3 * TOTAL // 5:
                    gone_after_cut = await asyncio.to_thread(gone, helper, 1.0)
        assert await stays_quiet(batches)
        source.close()
        return got, gone_after_cut

    got, gone_after_cut = asyncio.run(scenario())
    numbers = line_numbers(got)
    assert numbers == sorted(numbers)
    assert set(numbers) == set(range(TOTAL))
    assert line_numbers(got[:1])[0] == 0  # the helper's half came first
    assert gone_after_cut
