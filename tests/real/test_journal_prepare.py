"""A journal reader child told its request before the agent is ready (JournalSource.prepare).

The child started ahead (``sources.journal.start_ahead``) gets the request with
``hold``: it opens the journal (and builds its finder) at once, reads nothing
until the source starts and says go, then reads as any child; a prepared source
closed before it started ends its child. On real files from journal-remote.
"""

from __future__ import annotations

import asyncio
import os
import select
import subprocess
import time
from pathlib import Path

import pytest
from test_journal_source import SSHD_GROUPS, make_source, messages, sshd, take

from journalban.sources import journal
from journalban.sources.frames import FRAME_HEADER
from journalban.sources.journalwire import GO, Frame, Request
from support.journal import JournalWriter, sshd_fields

pytestmark = pytest.mark.real


def holds_journal_open(pid: int, directory: Path) -> bool:
    """Whether the process has a journal file of ``directory`` open."""
    fds = Path(f"/proc/{pid}/fd")
    for fd in fds.iterdir():
        try:
            target = os.readlink(fd)
        except OSError:
            continue
        if target.startswith(str(directory)) and target.endswith(".journal"):
            return True
    return False


def wait_until(check: object, within: float = 10.0) -> None:
    deadline = time.monotonic() + within
    while not check():  # type: ignore[operator]
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.01)


def test_a_prepared_child_opens_the_journal_and_reads_once_started(tmp_path: Path) -> None:
    async def scenario() -> None:
        with JournalWriter(tmp_path) as writer:
            writer.write(sshd(5))
            writer.wait_visible(5)
            journal.start_ahead()
            try:
                source = make_source(tmp_path)
                source.prepare()
                assert journal._AHEAD == []  # the child started ahead was taken
                assert source._prepared is not None
                child = source._prepared[1]
                wait_until(lambda: holds_journal_open(child.pid, tmp_path))
                # Ready, and nothing read: no frame before the source starts.
                assert child.process.stdout is not None
                assert select.select([child.process.stdout], [], [], 0.3)[0] == []
                batches = source.batches()
                first = await take(batches, 5)
                assert source.child_pids == [child.pid]  # the prepared child reads
                writer.write([sshd_fields("later")])
                second = await take(batches, 1)
                source.close()
            finally:
                journal.stop_ahead()
        assert messages(first) == [f"line {i}" for i in range(5)]
        assert messages(second) == ["later"]

    asyncio.run(scenario())


def test_a_prepared_source_closed_before_it_started_ends_its_child(tmp_path: Path) -> None:
    with JournalWriter(tmp_path) as writer:
        writer.write(sshd(1))
        writer.wait_visible(1)
        journal.start_ahead()
        try:
            source = make_source(tmp_path)
            source.prepare()
            assert source._prepared is not None
            child = source._prepared[1]
            source.close()
            assert child.process.poll() is not None  # stopped and reaped
        finally:
            journal.stop_ahead()


def _child(request: bytes) -> subprocess.Popen[bytes]:
    process = subprocess.Popen(list(journal.WORKER), stdin=subprocess.PIPE, stdout=subprocess.PIPE)
    assert process.stdin is not None
    process.stdin.write(request)
    process.stdin.flush()
    return process


def _first_frame(process: subprocess.Popen[bytes], within: float = 10.0) -> Frame:
    assert process.stdout is not None
    assert select.select([process.stdout], [], [], within)[0], "no frame"
    (size,) = FRAME_HEADER.unpack(process.stdout.read(FRAME_HEADER.size))
    return Frame.decode(process.stdout.read(size))


def test_a_request_that_holds_and_its_go_in_one_write_are_both_read(tmp_path: Path) -> None:
    with JournalWriter(tmp_path) as writer:
        writer.write(sshd(3))
        writer.wait_visible(3)
        request = Request(matches=SSHD_GROUPS, directory=str(tmp_path), hold=True)
        with _child(request.encode() + GO) as process:
            try:
                assert _first_frame(process).messages == ["line 0", "line 1", "line 2"]
            finally:
                process.kill()


def test_a_child_whose_agent_goes_before_saying_go_ends_without_reading(tmp_path: Path) -> None:
    with JournalWriter(tmp_path) as writer:
        writer.write(sshd(3))
        writer.wait_visible(3)
        request = Request(matches=SSHD_GROUPS, directory=str(tmp_path), hold=True)
        with _child(request.encode()) as process:
            wait_until(lambda: holds_journal_open(process.pid, tmp_path))
            assert process.stdin is not None
            process.stdin.close()  # the agent is gone
            assert process.wait(timeout=10) == 0
            assert process.stdout is not None
            assert process.stdout.read() == b""  # not one frame


def test_the_agent_prepares_its_journal_reader_before_it_is_ready(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The agent tells the child started ahead its request before READY (the agent still
    starting), and that child is the jail's reader once the source starts."""
    from journalban.agent.journalreader import WORKER
    from journalban.agent.runtime import Agent
    from journalban.firewall.dryrun import DryRunBackend
    from support.agent import write_config

    journal_dir = tmp_path / "journal"
    config = write_config(
        tmp_path / "journalban.yaml", tmp_path / "state", journal_dir=journal_dir,
        recidive={"enabled": False}, jails={"sshd": {"maxretry": 1000}},
    )  # fmt: skip
    states: list[str] = []
    prepare = journal.JournalSource.prepare

    def recorded(source: journal.JournalSource) -> None:
        states.append(agent.state)
        prepare(source)

    monkeypatch.setattr(journal.JournalSource, "prepare", recorded)

    async def scenario(writer: JournalWriter) -> tuple[list[int], int]:
        task = asyncio.create_task(agent.run())
        await agent.ready.wait()
        writer.write([sshd_fields("Failed password for root from 203.0.113.9 port 22 ssh2")])
        jail = agent.decisions.jails["sshd"]
        for _ in range(500):
            if jail.total_failed == 1:
                break
            await asyncio.sleep(0.01)
        pids = [pid for src in agent._sources["sshd"] for pid in src.child_pids]  # type: ignore[attr-defined]
        agent.stop()
        await task
        return pids, jail.total_failed

    with JournalWriter(journal_dir) as writer:
        writer.write([sshd_fields("Server listening on :: port 22.")])
        writer.wait_visible(1)
        journal.start_ahead(WORKER)
        ahead = journal._AHEAD[0].child.pid
        try:
            agent = Agent(config, backend=DryRunBackend())
            pids, failed = asyncio.run(scenario(writer))
        finally:
            journal.stop_ahead()
    assert states == ["starting"]  # told before READY
    assert pids == [ahead]  # the prepared child reads
    assert failed == 1


def test_journalban_run_tells_the_request_before_the_agent_builds_its_jails(
    tmp_path: Path,
) -> None:
    """With ``readers_ahead`` (``journalban run``) the journal jail's request goes out from the
    agent's constructor, before the agent has compiled the jail's filter: the child takes its
    finder's prefilter (``Request.prefilter_from_finder``) and, once the source starts,
    counts every failure and not the forged line of another uid."""
    from journalban.agent.journalreader import WORKER
    from journalban.agent.runtime import Agent
    from journalban.firewall.dryrun import DryRunBackend
    from support.agent import write_config

    journal_dir = tmp_path / "journal"
    config = write_config(
        tmp_path / "journalban.yaml", tmp_path / "state", journal_dir=journal_dir,
        recidive={"enabled": False}, jails={"sshd": {"maxretry": 1000}},
    )  # fmt: skip
    lines = [
        sshd_fields("Server listening on :: port 22."),
        sshd_fields("Failed password for root from 203.0.113.9 port 22 ssh2"),
        sshd_fields("Failed password for root from 192.0.2.66 port 22 ssh2", uid=1000),
        sshd_fields("Invalid user admin from 203.0.113.10 port 4022"),
        sshd_fields("Accepted publickey for alice from 198.51.100.7 port 50000 ssh2"),
    ]

    async def scenario() -> tuple[list[int], int]:
        task = asyncio.create_task(agent.run())
        await agent.ready.wait()
        jail = agent.decisions.jails["sshd"]
        for _ in range(500):
            if jail.total_failed == 2:
                break
            await asyncio.sleep(0.01)
        await asyncio.sleep(0.1)  # (the forged line would come after)
        pids = [pid for src in agent._sources["sshd"] for pid in src.child_pids]  # type: ignore[attr-defined]
        agent.stop()
        await task
        return pids, jail.total_failed

    with JournalWriter(journal_dir) as writer:
        writer.write(lines)
        writer.wait_visible(len(lines))
        journal.start_ahead(WORKER)
        ahead = journal._AHEAD[0].child.pid
        try:
            agent = Agent(config, backend=DryRunBackend(), readers_ahead=True)
            assert journal._AHEAD == []  # told in the constructor
            assert agent.parts == {}  # before any jail (its filter) was built
            (source,) = agent._early["sshd"]
            assert isinstance(source, journal.JournalSource)
            assert source._prepared is not None
            assert source._request().prefilter_from_finder
            pids, failed = asyncio.run(scenario())
        finally:
            journal.stop_ahead()
    assert pids == [ahead]  # the child told first reads
    assert failed == 2
