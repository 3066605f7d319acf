"""JournalSource against real journal files written live by systemd-journal-remote."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Mapping
from pathlib import Path

import pytest

from journalban.clock import FakeClock
from journalban.events import LineBatch
from journalban.sources.journal import JournalSource
from support.journal import JournalWriter, sshd_fields

pytestmark = pytest.mark.real

SSHD_GROUPS = [
    {"_SYSTEMD_UNIT": "ssh.service", "_UID": "0"},
    {"_SYSTEMD_UNIT": "sshd.service", "_UID": "0"},
]


def make_source(directory: Path, position: str | None = None, **kwargs: object) -> JournalSource:
    options: dict[str, object] = {"findtime": 3600.0, "matches": SSHD_GROUPS}
    options.update(kwargs)
    return JournalSource(
        "journal:sshd",
        clock=FakeClock(time.time()),
        directory=str(directory),
        position=position,
        **options,  # type: ignore[arg-type]
    )


async def take(
    batches: AsyncIterator[LineBatch], lines: int, within: float = 5.0
) -> list[LineBatch]:
    """Batches until they hold ``lines`` lines in all."""
    got: list[LineBatch] = []
    async with asyncio.timeout(within):
        while sum(len(b.lines) for b in got) < lines:
            got.append(await anext(batches))
    return got


async def stays_quiet(batches: AsyncIterator[LineBatch], seconds: float = 0.3) -> bool:
    try:
        async with asyncio.timeout(seconds):
            await anext(batches)
    except TimeoutError:
        return True
    return False


def messages(batches: list[LineBatch]) -> list[str]:
    return [line for batch in batches for line in batch.lines]


async def all_of(source: JournalSource, lines: int) -> list[str]:
    """The messages of the first ``lines`` lines ``source`` reads, nothing after them (it
    stays quiet); the source closed."""
    batches = source.batches()
    got = await take(batches, lines)
    assert await stays_quiet(batches)
    source.close()
    return messages(got)


def sshd(n: int, **extra: str | int) -> list[Mapping[str, str | int | bytes]]:
    return [{**sshd_fields(f"line {i}"), **extra} for i in range(n)]


def test_follows_entries_written_live(tmp_path: Path) -> None:
    async def scenario() -> None:
        with JournalWriter(tmp_path) as writer:
            writer.write(sshd(3))
            writer.wait_visible(3)
            source = make_source(tmp_path)
            batches = source.batches()
            first = await take(batches, 3)
            writer.write([sshd_fields("later one"), sshd_fields("later two")])
            second = await take(batches, 2)
            source.close()
        assert messages(first) == ["line 0", "line 1", "line 2"]
        assert messages(second) == ["later one", "later two"]
        assert all(not b.prefixed and len(b.times) == len(b.lines) for b in first + second)

    asyncio.run(scenario())


def test_match_groups_read_only_sshd_units_of_root(tmp_path: Path) -> None:
    async def scenario() -> list[str]:
        with JournalWriter(tmp_path) as writer:
            writer.write(
                [
                    sshd_fields("from ssh.service", unit="ssh.service"),
                    sshd_fields("user unit posing as sshd", unit="evil.service", uid=1000),
                    sshd_fields("ssh.service but uid 1000", unit="ssh.service", uid=1000),
                    sshd_fields("from sshd.service", unit="sshd.service"),
                    {"_SYSTEMD_UNIT": "cron.service", "_UID": 0, "MESSAGE": "cron"},
                ]
            )
            writer.wait_visible(5)
            return await all_of(make_source(tmp_path), 2)

    assert asyncio.run(scenario()) == ["from ssh.service", "from sshd.service"]


def test_resume_from_cursor_misses_nothing_and_repeats_nothing(tmp_path: Path) -> None:
    async def scenario() -> None:
        with JournalWriter(tmp_path) as writer:
            writer.write(sshd(10))
            writer.wait_visible(10)
            first = make_source(tmp_path, batch_size=4)
            head = await anext(first.batches())
            first.close()
            writer.write([sshd_fields("written while stopped")])
            writer.wait_visible(11)
            second = make_source(tmp_path, position=head.position)
            rest = await take(second.batches(), 7)
            second.close()
        assert list(head.lines) == [f"line {i}" for i in range(4)]
        expected = [f"line {i}" for i in range(4, 10)] + ["written while stopped"]
        assert messages(rest) == expected

    asyncio.run(scenario())


def test_vacuumed_cursor_resumes_at_oldest_entry_still_there(tmp_path: Path) -> None:
    async def scenario() -> None:
        with JournalWriter(tmp_path, "old.journal") as old:
            old.write(sshd(5))
            old.wait_visible(5)
        source = make_source(tmp_path, batch_size=3)
        seen = await anext(source.batches())
        source.close()
        with JournalWriter(tmp_path, "new.journal") as new:
            new.write([sshd_fields("kept 1"), sshd_fields("kept 2")])
            new.wait_visible(2)
        (tmp_path / "old.journal").unlink()  # vacuum
        resumed = make_source(tmp_path, position=seen.position)
        assert await all_of(resumed, 2) == ["kept 1", "kept 2"]

    asyncio.run(scenario())


def test_survives_rotation_to_a_new_file_and_deletion_of_the_old(tmp_path: Path) -> None:
    async def scenario() -> None:
        old = JournalWriter(tmp_path, "system@1.journal")
        old.write(sshd(2))
        old.wait_visible(2)
        source = make_source(tmp_path)
        batches = source.batches()
        before = await take(batches, 2)
        old.close()
        with JournalWriter(tmp_path, "system.journal") as new:
            new.write([sshd_fields("after rotation 1")])
            got = await take(batches, 1)
            (tmp_path / "system@1.journal").unlink()
            new.write([sshd_fields("after rotation 2")])
            got += await take(batches, 1)
        assert await stays_quiet(batches)
        source.close()
        assert messages(before) == ["line 0", "line 1"]
        assert messages(got) == ["after rotation 1", "after rotation 2"]
        assert source.invalidations >= 1

    asyncio.run(scenario())


def test_first_start_reads_back_findtime_only(tmp_path: Path) -> None:
    now = time.time()
    ages = [7200, 900, 299, 10]
    entries = [
        {**sshd_fields(f"{age}s ago"), "__REALTIME_TIMESTAMP": int((now - age) * 1e6)}
        for age in ages
    ]

    async def scenario() -> list[str]:
        with JournalWriter(tmp_path) as writer:
            writer.write(entries)
            writer.wait_visible(4)
        source = JournalSource(
            "journal:sshd",
            clock=FakeClock(now),
            findtime=300,
            matches=SSHD_GROUPS,
            directory=str(tmp_path),
        )
        return await all_of(source, 2)

    assert asyncio.run(scenario()) == ["299s ago", "10s ago"]


def test_line_time_is_the_entrys_receive_time_not_its_source_timestamp(tmp_path: Path) -> None:
    """The time journald received the entry (its ``__REALTIME_TIMESTAMP``), whether or not
    it carries a ``_SOURCE_REALTIME_TIMESTAMP`` (sources.journalbatch says why)."""

    async def scenario() -> LineBatch:
        with JournalWriter(tmp_path) as writer:
            writer.write(
                [
                    {
                        **sshd_fields("sent earlier"),
                        "_SOURCE_REALTIME_TIMESTAMP": 1_700_000_000_250_000,
                        "__REALTIME_TIMESTAMP": 1_700_000_001_500_000,
                    },
                    {
                        **sshd_fields("no source time"),
                        "__REALTIME_TIMESTAMP": 1_700_000_100_000_000,
                    },
                ]
            )
            writer.wait_visible(2)
        source = make_source(tmp_path, findtime=10 * 365 * 86400)
        batch = await anext(source.batches())
        source.close()
        return batch

    batch = asyncio.run(scenario())
    assert list(batch.times) == [1_700_000_001.5, 1_700_000_100.0]


def test_message_that_is_not_utf8_is_replaced_and_counted(tmp_path: Path) -> None:
    async def scenario() -> LineBatch:
        with JournalWriter(tmp_path) as writer:
            writer.write([{**sshd_fields(""), "MESSAGE": b"Invalid user \xff\xfe from 192.0.2.1"}])
            writer.wait_visible(1)
        source = make_source(tmp_path)
        batch = await anext(source.batches())
        source.close()
        return batch

    batch = asyncio.run(scenario())
    assert list(batch.lines) == ["Invalid user \ufffd\ufffd from 192.0.2.1"]
    assert batch.unreadable == 1


def test_close_ends_a_waiting_reader(tmp_path: Path) -> None:
    async def scenario() -> list[LineBatch]:
        with JournalWriter(tmp_path) as writer:
            writer.write(sshd(1))
            writer.wait_visible(1)
            source = make_source(tmp_path)
            batches = source.batches()
            await take(batches, 1)
            waiting = asyncio.ensure_future(anext(batches, None))
            await asyncio.sleep(0.05)
            source.close()
            async with asyncio.timeout(2):
                last = await waiting
        return [] if last is None else [last]

    assert asyncio.run(scenario()) == []


def test_new_entry_reaches_a_batch_quickly_when_idle(tmp_path: Path) -> None:
    """A sanity bound only: the measured figures live in tests/benchmarks."""

    async def scenario() -> float:
        with JournalWriter(tmp_path) as writer:
            writer.write(sshd(1))
            writer.wait_visible(1)
            source = make_source(tmp_path)
            batches = source.batches()
            await take(batches, 1)
            delays = []
            for i in range(5):
                started = time.monotonic()
                writer.write([sshd_fields(f"probe {i}")])
                await take(batches, 1)
                delays.append(time.monotonic() - started)
            source.close()
        return max(delays)

    assert asyncio.run(scenario()) < 1.0
