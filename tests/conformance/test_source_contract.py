"""The Source contract, checked against every source on real input."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Protocol

import pytest

from journalban.clock import FakeClock
from journalban.events import LineBatch
from journalban.sources.base import Source
from journalban.sources.files import FileSource
from journalban.sources.journal import JournalSource
from support.journal import JournalWriter, sshd_fields

pytestmark = pytest.mark.real

FINDTIME = 86400.0


class Input(Protocol):
    """Something a source reads: lines go in, sources come out."""

    def write(self, lines: list[str]) -> None: ...

    def source(self, position: str | None = None) -> Source: ...


class JournalInput:
    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.writer = JournalWriter(directory)
        self.written = 0

    def write(self, lines: list[str]) -> None:
        self.writer.write([sshd_fields(line) for line in lines])
        self.written += len(lines)
        self.writer.wait_visible(self.written)

    def source(self, position: str | None = None) -> Source:
        return JournalSource(
            "journal:sshd",
            clock=FakeClock(time.time()),
            findtime=FINDTIME,
            matches=[{"_SYSTEMD_UNIT": "ssh.service"}],
            directory=str(self.directory),
            position=position,
            batch_size=3,
        )


class FileInput:
    def __init__(self, directory: Path) -> None:
        self.path = directory / "mail.log"
        self.path.touch()

    def write(self, lines: list[str]) -> None:
        with self.path.open("a") as f:
            f.write("".join(f"{line}\n" for line in lines))

    def source(self, position: str | None = None) -> Source:
        return FileSource(
            str(self.path),
            clock=FakeClock(time.time()),
            findtime=FINDTIME,
            line_time=lambda line: float(line.split(" ", 1)[0]),
            position=position,
            burst_bytes=40,  # a few lines per batch, so a backlog spans batches
        )


@pytest.fixture(params=["journal", "file"])
def log_input(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Input]:
    if request.param == "journal":
        journal = JournalInput(tmp_path)
        yield journal
        journal.writer.close()
    else:
        yield FileInput(tmp_path)


def dated(*names: str) -> list[str]:
    now = int(time.time())
    return [f"{now} {name}" for name in names]


async def take(source: Source, lines: int) -> list[LineBatch]:
    """Batches of a fresh ``batches()`` until ``lines`` lines, then close the source."""
    got: list[LineBatch] = []
    batches = source.batches()
    async with asyncio.timeout(5):
        while sum(len(b.lines) for b in got) < lines:
            got.append(await anext(batches))
    source.close()
    assert await anext(batches, None) is None  # a closed source's stream ends
    return got


def flat(batches: list[LineBatch]) -> list[str]:
    return [line for batch in batches for line in batch.lines]


def test_batches_carry_the_source_key_and_a_position(log_input: Input) -> None:
    lines = dated(*(f"line {i}" for i in range(8)))
    log_input.write(lines)
    source = log_input.source()
    batches = asyncio.run(take(source, 8))
    assert flat(batches) == lines
    assert len(batches) > 1
    assert all(b.source == source.key and b.position for b in batches)
    assert len({b.position for b in batches}) == len(batches)


def test_resume_from_any_position_gives_exactly_the_rest(log_input: Input) -> None:
    lines = dated(*(f"line {i}" for i in range(8)))
    log_input.write(lines)
    batches = asyncio.run(take(log_input.source(), 8))
    for index, batch in enumerate(batches[:-1]):
        rest = flat(batches[index + 1 :])
        resumed = asyncio.run(take(log_input.source(position=batch.position), len(rest)))
        assert flat(resumed) == rest


def test_resume_sees_lines_written_while_stopped(log_input: Input) -> None:
    log_input.write(dated("before"))
    (first,) = asyncio.run(take(log_input.source(), 1))
    log_input.write(dated("while stopped 1", "while stopped 2"))
    resumed = asyncio.run(take(log_input.source(position=first.position), 2))
    assert [line.split(" ", 1)[1] for line in flat(resumed)] == [
        "while stopped 1",
        "while stopped 2",
    ]


def test_close_ends_a_waiting_batches(log_input: Input) -> None:
    async def scenario() -> LineBatch | None:
        source = log_input.source()
        waiting = asyncio.ensure_future(anext(source.batches(), None))
        await asyncio.sleep(0.2)
        source.close()
        async with asyncio.timeout(2):
            return await waiting

    assert asyncio.run(scenario()) is None
