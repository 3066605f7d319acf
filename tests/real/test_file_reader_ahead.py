"""File reader children started ahead of their sources (``fileworker.start_ahead``).

The agent starts one per file jail as it starts running, before READY, so
that their interpreters and imports are done when the first lines come;
each source takes one and tells it its request, and one no source took is
ended.
"""

from __future__ import annotations

import time
from pathlib import Path

from journalban.agent import fileworker
from journalban.agent.filereader import FileJob
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
