"""File reader children started ahead of their sources (``fileworker.start_ahead``).

The agent starts one per file jail as it starts running, before READY, so
that their interpreters and imports are done when the first lines come;
each source takes one and tells it its request, and one no source took is
ended. The agent tells it the request before READY (``FileWorkerSource.prepare``):
it builds the jail's matcher and reads nothing until its source starts.
"""

from __future__ import annotations

import asyncio
import select
import time
from pathlib import Path

from journalban.agent import fileworker
from journalban.agent.filereader import FileJob
from journalban.agent.fileworker import FileWorkerSource
from journalban.clock import SystemClock
from journalban.events import LineBatch
from journalban.matching.library import FilterLibrary
from journalban.matching.spec import MatcherSpec, pickle_filter
from support.agent import AgentProcess, StateReader, write_config
from support.procs import child_pids, pid_alive

STAMP = "%b %e %H:%M:%S"


def test_a_source_takes_a_child_started_ahead_and_the_rest_are_ended(tmp_path: Path) -> None:
    log = tmp_path / "auth.log"
    log.write_text("")
    job = FileJob(
        f"files:{log}", [str(log)], 86400.0, None, MatcherSpec("sshd", None, None), (),
        pickle_filter(FilterLibrary(None).load("sshd")),
    )  # fmt: skip
    fileworker.start_ahead(2)
    ahead = [c.process.pid for c in fileworker._AHEAD]
    assert len(ahead) == 2
    taken = fileworker._started(job)
    try:
        assert taken.process.pid == ahead[0], "the first child started ahead is taken"
        fileworker.stop_ahead()
        assert not fileworker._AHEAD
        assert not pid_alive(ahead[1]), "the child no source took is ended"
        assert taken.process.poll() is None, "the taken child reads on"
    finally:
        taken.stop()


def test_two_file_jails_each_read_by_a_child_started_ahead(tmp_path: Path) -> None:
    logs = [tmp_path / "a.log", tmp_path / "b.log"]
    for log in logs:
        log.write_text("")
    jails: dict[str, object] = {"sshd": {"enabled": False}}
    for n, log in enumerate(logs):
        jails[f"files-{n}"] = {
            "filter": "sshd", "source": "files", "files": [str(log)],
            "maxretry": 1000, "findtime": "1d",
        }  # fmt: skip
    cfg = write_config(
        tmp_path / "journalban.yaml", tmp_path / "state", firewall={"backend": "dry-run"},
        jails=jails,
    )  # fmt: skip
    reader = StateReader(tmp_path / "state")
    agent = AgentProcess(cfg)
    try:
        agent.wait_for_log("running:")
        children = child_pids(agent.proc.pid)
        assert len(children) == 2, "one reader child per file jail, no spare"
        stamp = time.strftime(STAMP, time.localtime())
        for n, log in enumerate(logs):
            with log.open("a") as f:
                for k in range(n + 3):
                    f.write(
                        f"{stamp} host sshd[{100 + k}]: Failed password for root "
                        f"from 203.0.113.{n + 1} port {k} ssh2\n"
                    )
        reader.wait(lambda: [reader.total_failed(f"files-{n}") for n in (0, 1)] == [3, 4])
        assert sorted(child_pids(agent.proc.pid)) == sorted(children), "the same children read"
    finally:
        assert agent.stop() == 0
    deadline = time.monotonic() + 5
    while any(pid_alive(c) for c in children) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not any(pid_alive(c) for c in children)


def _job(log: Path) -> FileJob:
    return FileJob(
        f"files:{log}", [str(log)], 86400.0, None, MatcherSpec("sshd", None, None), (),
        pickle_filter(FilterLibrary(None).load("sshd")),
    )  # fmt: skip


def _failures(log: Path, count: int) -> None:
    stamp = time.strftime(STAMP, time.localtime())
    with log.open("a") as f:
        for k in range(count):
            f.write(f"{stamp} host sshd[{100 + k}]: Failed password for root "
                    f"from 203.0.113.7 port {k} ssh2\n")  # fmt: skip


def test_a_prepared_child_reads_nothing_until_its_source_starts(tmp_path: Path) -> None:
    """Told its job before READY (``prepare``), the child builds its matcher and holds;
    the lines already there are read once the source starts, and every failure counts."""
    log = tmp_path / "auth.log"
    log.write_text("")
    _failures(log, 3)
    fileworker.start_ahead(1)
    ahead = fileworker._AHEAD[0].process
    source = FileWorkerSource(_job(log), SystemClock())
    source.prepare()
    try:
        assert not fileworker._AHEAD, "the source took the child started ahead"
        assert ahead.stdout is not None
        # Held: no frame, though the file holds three failures.
        assert select.select([ahead.stdout], [], [], 0.5)[0] == []
        _failures(log, 2)

        async def first_batches() -> list[LineBatch]:
            got: list[LineBatch] = []
            batches = source.batches()
            async with asyncio.timeout(10):
                while sum(len(b.hits or ()) for b in got) < 5:
                    got.append(await anext(batches))
            return got

        got = asyncio.run(first_batches())
        assert [h[1] for b in got for h in b.hits or ()] == ["203.0.113.7"] * 5
        assert source._child is not None
        assert source._child.process.pid == ahead.pid, "the prepared child read them"
    finally:
        source.close()
    assert not pid_alive(ahead.pid)


def test_a_prepared_child_whose_source_never_starts_is_ended(tmp_path: Path) -> None:
    log = tmp_path / "auth.log"
    log.write_text("")
    fileworker.start_ahead(1)
    ahead = fileworker._AHEAD[0].process
    source = FileWorkerSource(_job(log), SystemClock())
    source.prepare()
    assert pid_alive(ahead.pid)
    source.close()  # (close_unstarted, at the agent's stop)
    deadline = time.monotonic() + 5
    while pid_alive(ahead.pid) and time.monotonic() < deadline:
        time.sleep(0.02)
    assert not pid_alive(ahead.pid)


def test_a_files_source_in_the_configuration_starts_a_child_before_it_is_loaded(
    tmp_path: Path,
) -> None:
    """``journalban run`` starts a file reader child from the configuration's text, before
    loading it (``cli.run.start_file_reader_ahead``): a files source in the main file or
    a drop-in starts one, none without; the agent's own start tops up to one per file
    jail (``start_ahead``), and the children no source takes are ended."""
    from journalban.cli.run import start_file_reader_ahead

    for sub in ("a", "b"):
        (tmp_path / sub).mkdir()
    journal_only = write_config(tmp_path / "a" / "journalban.yaml", tmp_path / "state")
    files = {"filter": "sshd", "source": "files", "files": [str(tmp_path / "x.log")]}
    with_files = write_config(
        tmp_path / "b" / "journalban.yaml", tmp_path / "state", jails={"x": files}
    )
    dropin_dir = tmp_path / "c" / "jail.d"
    dropin_dir.mkdir(parents=True)
    in_dropin = write_config(tmp_path / "c" / "journalban.yaml", tmp_path / "state")
    (dropin_dir / "x.yaml").write_text('jails:\n  x:\n    source: "files"\n    files: [/x]\n')
    try:
        start_file_reader_ahead(journal_only)
        assert not fileworker._AHEAD, "no files source, no child"
        start_file_reader_ahead(tmp_path / "missing" / "journalban.yaml")
        assert not fileworker._AHEAD
        for cfg in (with_files, in_dropin):
            start_file_reader_ahead(cfg)
            assert len(fileworker._AHEAD) == 1, cfg
            first = fileworker._AHEAD[0].process.pid
            fileworker.start_ahead(2)  # the agent's own, once the configuration is loaded
            assert len(fileworker._AHEAD) == 2
            assert fileworker._AHEAD[0].process.pid == first, "topped up, not started anew"
            fileworker.start_ahead(1)
            assert len(fileworker._AHEAD) == 2
            pids = [c.process.pid for c in fileworker._AHEAD]
            fileworker.stop_ahead()
            assert not any(pid_alive(p) for p in pids)
    finally:
        fileworker.stop_ahead()
