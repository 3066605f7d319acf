"""JournalSource's reader child on real journal files: prefilter, lifetime, reopening, catch-up."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from systemd import journal
from test_journal_source import make_source, messages, sshd, stays_quiet

from journalban.events import LineBatch
from journalban.sources.journalfiles import file_groups, journal_files
from support.agent import last_cursor
from support.journal import JournalWriter, sshd_fields
from support.real import need_root

pytestmark = pytest.mark.real

LITERALS = ("Failed ", "nvalid user ")
MIXED = [
    "Failed password for root from 192.0.2.1 port 22 ssh2",
    "Accepted publickey for alice from 192.0.2.9 port 22 ssh2",
    "Connection closed by 192.0.2.7 port 22",
    "Invalid user bob from 192.0.2.2 port 22",
    "pam_unix(sshd:session): session opened for user alice",
]


async def take_read(
    batches: AsyncIterator[LineBatch], entries: int, within: float = 5.0
) -> list[LineBatch]:
    """Batches until they stand for ``entries`` entries read (handed out or not)."""
    got: list[LineBatch] = []
    async with asyncio.timeout(within):
        while sum(b.count for b in got) < entries:
            got.append(await anext(batches))
    return got


def gone(pid: int, within: float = 5.0) -> bool:
    """Whether process ``pid`` has exited (a zombie left for init counts as exited)."""
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        try:
            with open(f"/proc/{pid}/stat") as f:
                if f.read().rsplit(")", 1)[1].split()[0] == "Z":
                    return True
        except FileNotFoundError:
            return True
        time.sleep(0.02)
    return False


def test_prefilter_hands_out_candidates_while_position_covers_every_entry(tmp_path: Path) -> None:
    async def scenario() -> list[LineBatch]:
        with JournalWriter(tmp_path) as writer:
            writer.write([sshd_fields(m) for m in MIXED])
            writer.wait_visible(len(MIXED))
            source = make_source(tmp_path, prefilter=LITERALS, batch_size=2)
            batches = source.batches()
            got = await take_read(batches, len(MIXED))
            assert await stays_quiet(batches)
            source.close()
        return got

    got = asyncio.run(scenario())
    assert messages(got) == [MIXED[0], MIXED[3]]
    assert [b.count for b in got] == [2, 2, 1]
    assert got[-1].position == last_cursor(tmp_path)
    assert all(len(b.times) == len(b.lines) for b in got)


def test_unreadable_counts_only_entries_handed_out(tmp_path: Path) -> None:
    async def scenario() -> LineBatch:
        with JournalWriter(tmp_path) as writer:
            writer.write(
                [
                    {**sshd_fields(""), "MESSAGE": b"Invalid user \xff from 192.0.2.1"},
                    {**sshd_fields(""), "MESSAGE": b"noise \xff\xfe"},
                ]
            )
            writer.wait_visible(2)
        source = make_source(tmp_path, prefilter=LITERALS)
        batch = await anext(source.batches())
        source.close()
        return batch

    batch = asyncio.run(scenario())
    assert list(batch.lines) == ["Invalid user \ufffd from 192.0.2.1"]
    assert (batch.unreadable, batch.count) == (1, 2)


def test_non_ascii_literal_turns_the_prefilter_off(tmp_path: Path) -> None:
    async def scenario() -> LineBatch:
        with JournalWriter(tmp_path) as writer:
            writer.write([sshd_fields(m) for m in MIXED])
            writer.wait_visible(len(MIXED))
        source = make_source(tmp_path, prefilter=("Ungültig ", "Failed "))
        batch = await anext(source.batches())
        source.close()
        return batch

    assert list(asyncio.run(scenario()).lines) == MIXED


def test_child_exits_when_the_source_is_closed_or_its_task_cancelled(tmp_path: Path) -> None:
    async def scenario() -> list[int]:
        with JournalWriter(tmp_path) as writer:
            writer.write(sshd(2))
            writer.wait_visible(2)
        closed = make_source(tmp_path)
        await anext(closed.batches())
        pids = [closed.child_pids[0]]
        closed.close()
        cancelled = make_source(tmp_path)

        async def follow() -> None:
            async for _ in cancelled.batches():
                pass

        task = asyncio.create_task(follow())
        await asyncio.sleep(0.5)  # read, then waiting on the journal
        pids.append(cancelled.child_pids[0])
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        return pids

    pids = asyncio.run(scenario())
    assert len(pids) == 2
    for pid in pids:
        with pytest.raises(ProcessLookupError):
            os.kill(pid, 0)  # exited and reaped


PARENT = """
import asyncio, json, sys, time
from journalban.clock import FakeClock
from journalban.sources.journal import JournalSource

async def main():
    source = JournalSource("journal:sshd", clock=FakeClock(time.time()), findtime=3600,
                           matches=[{"_SYSTEMD_UNIT": "ssh.service"}], directory=sys.argv[1],
                           batch_size=3)
    async for batch in source.batches():
        print(json.dumps([source.child_pids[0], batch.position, list(batch.lines)]), flush=True)

asyncio.run(main())
"""


def test_child_exits_when_the_parent_is_killed_and_a_restart_resumes_exactly(
    tmp_path: Path,
) -> None:
    script = tmp_path / "parent.py"
    script.write_text(PARENT)
    journal_dir = tmp_path / "journal"
    with JournalWriter(journal_dir) as writer:
        writer.write(sshd(10))
        writer.wait_visible(10)
        parent = subprocess.Popen(
            [sys.executable, str(script), str(journal_dir)], stdout=subprocess.PIPE, text=True
        )
        assert parent.stdout is not None
        child_pid, position, first = json.loads(parent.stdout.readline())
        parent.kill()
        parent.wait()
        parent.stdout.close()
        assert gone(child_pid)
        writer.write([sshd_fields("written while stopped")])
        writer.wait_visible(11)

        async def resume() -> list[str]:
            source = make_source(journal_dir, position=position)
            batches = source.batches()
            got = await take_read(batches, 11 - len(first))
            assert await stays_quiet(batches)
            source.close()
            return messages(got)

        rest = asyncio.run(resume())
    assert first == ["line 0", "line 1", "line 2"]
    assert rest == [f"line {i}" for i in range(3, 10)] + ["written while stopped"]


def test_reopening_keeps_every_entry_once_across_rotation_and_vacuum(tmp_path: Path) -> None:
    async def scenario() -> list[str]:
        old = JournalWriter(tmp_path, "system@1.journal")
        old.write(sshd(5))
        old.wait_visible(5)
        source = make_source(tmp_path, batch_size=2, reopen_every=2)
        batches = source.batches()
        got = await take_read(batches, 5)
        old.close()
        with JournalWriter(tmp_path, "system.journal") as new:
            new.write([sshd_fields(f"new {i}") for i in range(3)])
            got += await take_read(batches, 3)
            (tmp_path / "system@1.journal").unlink()
            new.write([sshd_fields(f"after vacuum {i}") for i in range(3)])
            got += await take_read(batches, 3)
        assert await stays_quiet(batches)
        source.close()
        return messages(got)

    expected = [f"line {i}" for i in range(5)]
    expected += [f"new {i}" for i in range(3)] + [f"after vacuum {i}" for i in range(3)]
    assert asyncio.run(scenario()) == expected


@pytest.fixture
def small_fs(tmp_path: Path) -> Iterator[Path]:
    """A 8 MB tmpfs: journal-remote sizes its files from the file system, and rotates at 512 KB."""
    need_root()
    mount = tmp_path / "small"
    mount.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=8M", "tmpfs", str(mount)], check=True)
    yield mount
    subprocess.run(["umount", str(mount)], check=True)


@pytest.mark.parametrize("split_at", [10**9, 1], ids=["one child", "split with a helper"])
def test_catch_up_over_rotated_files_gives_the_directory_order_once(
    small_fs: Path, split_at: int
) -> None:
    total = 6000
    helpers: list[int] = []

    async def scenario(position: str | None, entries: int) -> list[LineBatch]:
        source = make_source(
            small_fs, position=position, batch_size=700, reopen_every=1000, split_at=split_at
        )
        batches = source.batches()
        got = [await anext(batches)]
        helpers.append(len(source.child_pids) - 1)
        got += await take_read(batches, entries - got[0].count, within=20)
        assert await stays_quiet(batches)
        source.close()
        return got

    with JournalWriter(small_fs) as writer:
        writer.write([sshd_fields(f"line {i}") for i in range(total)])
        writer.write([sshd_fields("live 0"), sshd_fields("live 1")])
        wait_entries(small_fs, total + 2)
        paths = journal_files(str(small_fs))
        assert paths is not None
        first = make_cursor_of_first(small_fs)
        assert len(file_groups(paths, first)) >= 3  # the catch-up reads archived files apart
        everything = asyncio.run(scenario(None, total + 2))
        done = sum(b.count for b in everything[:4])
        resumed = asyncio.run(scenario(everything[3].position, total + 2 - done))
    expected = [f"line {i}" for i in range(total)] + ["live 0", "live 1"]
    assert messages(everything) == expected
    assert messages(resumed) == expected[done:]
    assert all(b.position for b in everything + resumed)
    assert helpers == ([1, 1] if split_at == 1 else [0, 0])


def wait_entries(directory: Path, count: int, within: float = 10.0) -> None:
    """Wait until a directory reader sees ``count`` entries (across rotated files)."""
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        reader = journal.Reader(path=str(directory))
        seen = sum(1 for _ in iter(reader._next, False))
        reader.close()
        if seen >= count:
            return
        time.sleep(0.05)
    raise TimeoutError(f"{count} entries did not appear in {directory}")


def make_cursor_of_first(directory: Path) -> str:
    reader = journal.Reader(path=str(directory))
    reader.seek_head()
    reader._next()
    cursor = reader._get_cursor()
    reader.close()
    return cursor
