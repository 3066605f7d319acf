"""FileSource on real files in tmp_path: rotation variants, restarts, damaged input."""

from __future__ import annotations

import asyncio
import json
import shutil
from pathlib import Path

import pytest

from journalban.clock import Clock, FakeClock, SystemClock
from journalban.events import LineBatch
from journalban.sources.files import FileSource

pytestmark = pytest.mark.real


def epoch_prefix(line: str) -> float | None:
    """Test lines start with their epoch seconds: "1700000000 sshd[1]: ..."."""
    head = line.split(" ", 1)[0]
    return float(head) if head.isdigit() else None


def make_source(
    pattern: Path | str,
    position: str | None = None,
    clock: Clock | None = None,
    **options: object,
) -> FileSource:
    settings: dict[str, object] = {"poll_interval": 0.05, "retire_after": 0.5}
    settings.update(options)
    return FileSource(
        str(pattern),
        clock=clock or SystemClock(),
        findtime=600,
        line_time=epoch_prefix,
        position=position,
        **settings,  # type: ignore[arg-type]
    )


class Follower:
    """Runs a source's batches() in a task, so waiting for batches never cancels it."""

    def __init__(self, source: FileSource) -> None:
        self.source = source
        self.queue: asyncio.Queue[LineBatch] = asyncio.Queue()
        self.task = asyncio.ensure_future(self._pump())

    async def _pump(self) -> None:
        async for batch in self.source.batches():
            self.queue.put_nowait(batch)

    async def take(self, lines: int, within: float = 5.0) -> list[LineBatch]:
        got: list[LineBatch] = []
        async with asyncio.timeout(within):
            while sum(len(b.lines) for b in got) < lines:
                got.append(await self.queue.get())
        return got

    async def quiet(self, seconds: float = 0.3) -> bool:
        await asyncio.sleep(seconds)
        return self.queue.empty()

    async def stop(self) -> None:
        self.source.close()
        async with asyncio.timeout(2):
            await self.task


async def started(source: FileSource, log: Path, first: str) -> Follower:
    """A follower of the source, once it has read ``first`` appended to ``log``."""
    follower = Follower(source)
    await asyncio.sleep(0.1)
    append(log, first)
    await follower.take(1)
    return follower


def texts(batches: list[LineBatch]) -> list[str]:
    return [line for batch in batches for line in batch.lines]


def append(path: Path, data: str | bytes) -> None:
    with path.open("ab") as f:
        f.write(data.encode() if isinstance(data, str) else data)


@pytest.mark.parametrize("use_inotify", [True, False], ids=["inotify", "polling"])
def test_follows_appended_lines(tmp_path: Path, use_inotify: bool) -> None:
    log = tmp_path / "mail.log"
    log.write_text("old line\n")

    async def scenario() -> None:
        source = make_source(log, use_inotify=use_inotify)
        follower = await started(source, log, "one\n")
        assert source.uses_inotify is use_inotify
        append(log, "two\nthree\n")
        got = await follower.take(2)
        await follower.stop()
        assert texts(got) == ["two", "three"]
        assert all(b.prefixed and b.times == () and b.source == source.key for b in got)
        assert json.loads(got[-1].position)["file"] == str(log)

    asyncio.run(scenario())


def test_partial_last_line_waits_for_its_newline(tmp_path: Path) -> None:
    log = tmp_path / "mail.log"
    log.touch()

    async def scenario() -> None:
        source = make_source(log)
        follower = await started(source, log, "first\n")
        append(log, "half of a li")
        assert await follower.quiet()
        append(log, "ne\n")
        assert texts(await follower.take(1)) == ["half of a line"]
        await follower.stop()

    asyncio.run(scenario())


@pytest.mark.parametrize("use_inotify", [True, False], ids=["inotify", "polling"])
def test_logrotate_create_reads_old_tail_then_new_file(tmp_path: Path, use_inotify: bool) -> None:
    log = tmp_path / "mail.log"
    log.touch()

    async def scenario() -> None:
        source = make_source(log, use_inotify=use_inotify)
        follower = await started(source, log, "before\n")
        append(log, "last of old\n")
        log.rename(tmp_path / "mail.log.1")
        append(tmp_path / "mail.log.1", "late write before the HUP\n")
        log.write_text("first of new\n")
        got = await follower.take(3)
        assert sorted(texts(got)) == sorted(
            ["last of old", "late write before the HUP", "first of new"]
        )
        assert texts(got).index("last of old") < texts(got).index("first of new")
        append(log, "second of new\n")
        assert texts(await follower.take(1)) == ["second of new"]
        await follower.stop()

    asyncio.run(scenario())


def test_copytruncate_restarts_at_the_top(tmp_path: Path) -> None:
    log = tmp_path / "mail.log"
    log.touch()

    async def scenario() -> None:
        source = make_source(log)
        follower = await started(source, log, "a line long enough to be past the new end\n")
        shutil.copy(log, tmp_path / "mail.log.1")
        with log.open("r+b") as f:
            f.truncate(0)
        append(log, "after truncate\n")
        assert texts(await follower.take(1)) == ["after truncate"]
        await follower.stop()

    asyncio.run(scenario())


def test_multilog_current_renamed_to_tai64n_archive(tmp_path: Path) -> None:
    current = tmp_path / "current"
    current.touch()

    async def scenario() -> None:
        source = make_source(current)
        follower = await started(source, current, "@4000000065a1b2c3 first\n")
        append(current, "@4000000065a1b2c4 last before rotation\n")
        current.rename(tmp_path / "@4000000065a1b2c5000000.s")
        current.write_text("@4000000065a1b2c6 in the new current\n")
        got = await follower.take(2)
        assert texts(got) == [
            "@4000000065a1b2c4 last before rotation",
            "@4000000065a1b2c6 in the new current",
        ]
        await follower.stop()

    asyncio.run(scenario())


@pytest.mark.parametrize("use_inotify", [True, False], ids=["inotify", "polling"])
def test_file_appearing_later_is_read_from_its_start(tmp_path: Path, use_inotify: bool) -> None:
    async def scenario() -> None:
        source = make_source(tmp_path / "*.log", use_inotify=use_inotify)
        follower = Follower(source)
        await asyncio.sleep(0.1)
        (tmp_path / "late.log").write_text("one\ntwo\n")
        assert texts(await follower.take(2)) == ["one", "two"]
        await follower.stop()

    asyncio.run(scenario())


def test_directory_appearing_later_is_found_by_rescan(tmp_path: Path) -> None:
    async def scenario() -> None:
        source = make_source(tmp_path / "qmail" / "current", rescan_interval=0.1)
        follower = Follower(source)
        await asyncio.sleep(0.1)
        (tmp_path / "qmail").mkdir()
        (tmp_path / "qmail" / "current").write_text("hello\n")
        assert texts(await follower.take(1)) == ["hello"]
        await follower.stop()

    asyncio.run(scenario())


def test_restart_resumes_after_the_last_batch(tmp_path: Path) -> None:
    log = tmp_path / "mail.log"
    log.touch()

    async def scenario() -> None:
        first = make_source(log)
        follower = await started(first, log, "one\n")
        append(log, "two\n")
        saved = (await follower.take(1))[-1].position
        await follower.stop()
        append(log, "three\nfour\n")
        again = Follower(make_source(log, position=saved))
        assert texts(await again.take(2)) == ["three", "four"]
        assert await again.quiet()
        await again.stop()

    asyncio.run(scenario())


def test_restart_finds_the_rotated_file_by_inode(tmp_path: Path) -> None:
    log = tmp_path / "mail.log"
    log.touch()

    async def scenario() -> None:
        follower = Follower(make_source(log))
        await asyncio.sleep(0.1)
        append(log, "seen before the stop\n")
        saved = (await follower.take(1))[-1].position
        await follower.stop()
        append(log, "written while stopped\n")
        log.rename(tmp_path / "mail.log.1")
        log.write_text("new file while stopped\n")
        again = Follower(make_source(log, position=saved))
        got = texts(await again.take(2))
        assert got == ["written while stopped", "new file while stopped"]
        assert await again.quiet()
        await again.stop()

    asyncio.run(scenario())


def test_restart_after_truncate_and_refill_starts_at_the_top(tmp_path: Path) -> None:
    log = tmp_path / "mail.log"
    log.touch()

    async def scenario() -> None:
        first = make_source(log)
        follower = await started(first, log, "1 old first line\n")
        append(log, "2 old second line\n")
        saved = (await follower.take(1))[-1].position
        await follower.stop()
        log.write_text("3 new first line, longer than what was read before\n")
        again = Follower(make_source(log, position=saved))
        got = texts(await again.take(1))
        await again.stop()
        assert got == ["3 new first line, longer than what was read before"]

    asyncio.run(scenario())


def test_invalid_utf8_is_replaced_and_counted(tmp_path: Path) -> None:
    log = tmp_path / "mail.log"
    log.touch()

    async def scenario() -> LineBatch:
        source = make_source(log)
        follower = await started(source, log, "x\n")
        append(log, b"user \xff\xfe from 192.0.2.7\nclean\n")
        (batch,) = await follower.take(2)
        await follower.stop()
        return batch

    batch = asyncio.run(scenario())
    assert list(batch.lines) == ["user \ufffd\ufffd from 192.0.2.7", "clean"]
    assert batch.unreadable == 1


def test_overlong_line_is_cut_at_64_kib_and_counted(tmp_path: Path) -> None:
    log = tmp_path / "mail.log"
    log.touch()

    async def scenario() -> list[LineBatch]:
        source = make_source(log)
        follower = await started(source, log, "x\n")
        append(log, "A" * 200_000)  # no newline yet: the buffer must not grow past 64 KiB
        got = await follower.take(1)
        append(log, "B" * 1000 + "\nafter\n")
        got += await follower.take(1)
        await follower.stop()
        return got

    got = asyncio.run(scenario())
    assert texts(got) == ["A" * 65536, "after"]
    assert sum(b.truncated for b in got) == 1


def test_first_start_reads_back_findtime_by_line_dates(tmp_path: Path) -> None:
    log = tmp_path / "mail.log"
    now = 1_700_000_000
    log.write_text("".join(f"{now - 5000 + i} line {i}\n" for i in range(0, 5000, 2)))

    async def scenario() -> list[str]:
        source = make_source(log, clock=FakeClock(now))
        follower = Follower(source)
        got = await follower.take(300)
        assert await follower.quiet()
        await follower.stop()
        return texts(got)

    got = asyncio.run(scenario())
    assert got[0] == f"{now - 600} line 4400"
    assert got[-1] == f"{now - 2} line 4998"
    assert len(got) == 300


def test_first_start_without_dates_starts_at_the_end(tmp_path: Path) -> None:
    log = tmp_path / "mail.log"
    log.write_text("no date here\n" * 100)

    async def scenario() -> list[str]:
        source = make_source(log)
        follower = Follower(source)
        await asyncio.sleep(0.1)
        append(log, "new\n")
        got = texts(await follower.take(1))
        await follower.stop()
        return got

    assert asyncio.run(scenario()) == ["new"]


def test_close_ends_a_waiting_source(tmp_path: Path) -> None:
    log = tmp_path / "mail.log"
    log.touch()

    async def scenario() -> bool:
        follower = Follower(make_source(log))
        await asyncio.sleep(0.1)
        await follower.stop()  # times out if batches() kept waiting
        return follower.task.done()

    assert asyncio.run(scenario())
