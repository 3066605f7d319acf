"""A file jail reads and matches in a child process: nothing lost, nothing twice, no orphan."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

from support.agent import AgentProcess, StateReader, file_jail_config
from support.procs import child_pids, pid_alive

STAMP = "%b %e %H:%M:%S"


def _line(addr: str, n: int) -> str:
    stamp = time.strftime(STAMP, time.localtime())
    return f"{stamp} host sshd[{1000 + n}]: Failed password for root from {addr} port {n} ssh2\n"


def _noise(n: int) -> str:
    stamp = time.strftime(STAMP, time.localtime())
    return f"{stamp} host sshd[{1000 + n}]: Accepted publickey for admin from 192.0.2.7 port {n}\n"


def _reader_children(pid: int) -> list[int]:
    """The agent's reader children, once it started them (they come up just after "running:")."""
    deadline = time.monotonic() + 10
    while not (children := child_pids(pid)) and time.monotonic() < deadline:
        time.sleep(0.05)
    return children


def test_kill_9_mid_stream_loses_nothing_and_counts_nothing_twice(tmp_path: Path) -> None:
    log = tmp_path / "auth.log"
    log.write_text("")
    cfg = file_jail_config(tmp_path, log, maxretry=1000)
    reader = StateReader(tmp_path / "state")
    # Enough that the agent cannot read it all between two looks at its state (50 ms
    # apart): 60,000 lines written line by line let it keep up with the writes and
    # commit the last before the kill (CI, 2026-12-06).
    total = 300_000
    lines = [
        _line(f"203.0.113.{n % 200 + 1}", n) if n % 3 == 0 else _noise(n) for n in range(total)
    ]
    agent = AgentProcess(cfg)
    agent.wait_for_log("running:")
    workers = _reader_children(agent.proc.pid)
    assert len(workers) == 1, "one reader child for the file jail"
    with log.open("a") as f:
        f.write("".join(lines))  # the backlog at once
    reader.wait(lambda: reader.total_failed("ssh-files") > 0)
    agent.kill9()
    counted = reader.total_failed("ssh-files")
    assert 0 < counted < total // 3, "killed while the backlog was being read"
    deadline = time.monotonic() + 5
    while any(pid_alive(w) for w in workers) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not any(pid_alive(w) for w in workers), "the reader child outlived the agent"
    restarted = AgentProcess(cfg)
    try:
        restarted.wait_for_log("running:")
        workers = _reader_children(restarted.proc.pid)
        reader.wait(lambda: reader.total_failed("ssh-files") >= total // 3)
        time.sleep(0.5)  # nothing more comes
        assert reader.total_failed("ssh-files") == total // 3
    finally:
        assert restarted.stop() == 0
    assert workers
    assert not any(pid_alive(w) for w in workers), "stopping the agent stops its reader"


def test_a_dead_reader_child_is_replaced_and_resumes_where_it_stood(tmp_path: Path) -> None:
    log = tmp_path / "auth.log"
    log.write_text("")
    cfg = file_jail_config(tmp_path, log, maxretry=1000)
    reader = StateReader(tmp_path / "state")
    agent = AgentProcess(cfg)
    try:
        agent.wait_for_log("running:")
        with log.open("a") as f:
            f.writelines(_line("203.0.113.9", n) for n in range(10))
        reader.wait(lambda: reader.total_failed("ssh-files") == 10)
        (worker,) = _reader_children(agent.proc.pid)
        os.kill(worker, signal.SIGKILL)
        agent.wait_for_log("failed; restarting it")
        with log.open("a") as f:
            f.writelines(_line("203.0.113.9", n) for n in range(10, 15))
        reader.wait(lambda: reader.total_failed("ssh-files") >= 15, timeout=30)
        time.sleep(0.5)
        assert reader.total_failed("ssh-files") == 15
        assert child_pids(agent.proc.pid) not in ([], [worker])
    finally:
        assert agent.stop() == 0
