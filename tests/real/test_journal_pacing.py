"""Following a live journal, the reader child sends a frame at most every ``FRAME_GAP``.

journal-remote appends a stream a few entries at a time; a frame per wake-up
cost the agent a batch, a decision pass and a commit each (about 7 entries
per frame in bench_dbus_agent's 1M-line stream). Paced, every entry still
arrives, once and in order, in far fewer frames; an entry after a quiet
spell is sent at once.
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import pytest
from test_journal_source import make_source

from journalban.events import LineBatch
from journalban.sources.journalwire import FRAME_GAP
from support.journal import JournalWriter, sshd_fields

pytestmark = pytest.mark.real

WRITES, PER_WRITE = 120, 2


def line(n: int) -> str:
    return f"Failed password for root from 192.0.2.{n % 250 + 1} port {n} ssh2"


async def follow(
    directory: Path, gap: float, writer: JournalWriter
) -> tuple[list[LineBatch], float, float]:
    """Batches of a live stream of WRITES small writes; (batches, seconds of the stream, lone delay)."""
    source = make_source(directory, frame_gap=gap)
    batches = source.batches()
    first = await anext(batches)  # the entry written before: caught up
    got: list[LineBatch] = []
    began = time.monotonic()

    async def write() -> None:
        for w in range(WRITES):
            writer.write([sshd_fields(line(w * PER_WRITE + k)) for k in range(PER_WRITE)])
            await asyncio.sleep(0.001)

    writing = asyncio.create_task(write())
    async with asyncio.timeout(30):
        while sum(len(b.lines) for b in got) < WRITES * PER_WRITE:
            got.append(await anext(batches))
    await writing
    streamed = time.monotonic() - began
    await asyncio.sleep(3 * FRAME_GAP + 0.2)  # quiet
    sent = time.monotonic()
    writer.write([sshd_fields("Failed password for root from 192.0.2.99 port 1 ssh2")])
    async with asyncio.timeout(10):
        lone = await anext(batches)
    delay = time.monotonic() - sent
    source.close()
    assert list(first.lines) == ["Failed password for root from 192.0.2.250 port 0 ssh2"]
    assert list(lone.lines) == ["Failed password for root from 192.0.2.99 port 1 ssh2"]
    return got, streamed, delay


def test_a_live_stream_arrives_whole_in_paced_frames(tmp_path: Path) -> None:
    async def scenario() -> tuple[list[LineBatch], float, float]:
        with JournalWriter(tmp_path) as writer:
            writer.write([sshd_fields("Failed password for root from 192.0.2.250 port 0 ssh2")])
            writer.wait_visible(1)
            return await follow(tmp_path, FRAME_GAP, writer)

    got, streamed, delay = asyncio.run(scenario())
    assert [m for b in got for m in b.lines] == [line(n) for n in range(WRITES * PER_WRITE)]
    assert len(got) <= streamed / FRAME_GAP + 2
    # An entry after a quiet spell is handed out too (paced or not, within FRAME_GAP).
    assert delay < 5.0
