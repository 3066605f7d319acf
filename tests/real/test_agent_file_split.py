"""The real agent matching a large file backlog on two cores (``agent.filesplit``).

A backlog of 8 MiB or more is read by the file reader child and a helper it
forks, taking turns. Killed with ``-9`` while both read, the agent, its child
and the helper all end; started again, it resumes from the position it
committed: every failure counted exactly once. Small appends to a live log
fork no helper.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import pytest

from journalban.agent.filesplit import SPLIT_AT, SPLIT_ENV
from journalban.cpus import usable_cpus
from support.agent import AgentProcess, StateReader, file_jail_config, running, write_config
from support.cgroup import cpu_quota
from support.cgroup import wrapper as cgroup_wrapper
from support.procs import child_pids, pid_alive

STAMP = "%b %e %H:%M:%S"

pytestmark = pytest.mark.skipif(usable_cpus() < 2, reason="a split needs two usable CPUs")


@pytest.fixture(autouse=True)
def _split_whatever_the_load(monkeypatch: pytest.MonkeyPatch) -> None:
    """The agents started here split on a busy machine too (their children inherit it)."""
    monkeypatch.setenv(SPLIT_ENV, "always")


def _poll(check: object, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not check():  # type: ignore[operator]
        assert time.monotonic() < deadline, what
        time.sleep(0.002)


def _backlog(bytes_wanted: int) -> tuple[str, int]:
    """sshd lines dated now, a third of them failures from 200 addresses; the failures."""
    stamp = time.strftime(STAMP, time.localtime())
    lines: list[str] = []
    size = failures = n = 0
    while size < bytes_wanted:
        if n % 3 == 0:
            addr = f"203.0.113.{n % 200 + 1}"
            line = f"{stamp} host sshd[{1000 + n % 30000}]: Failed password for root from {addr} port {n % 60000} ssh2\n"
            failures += 1
        else:
            line = f"{stamp} host sshd[{1000 + n % 30000}]: Accepted publickey for admin from 192.0.2.7 port {n % 60000} ssh2: ED25519 SHA256:abcdefghijklmnop\n"
        lines.append(line)
        size += len(line)
        n += 1
    return "".join(lines), failures


def _reader_child(agent: AgentProcess) -> int:
    _poll(lambda: child_pids(agent.proc.pid), 10, "no reader child")
    (child,) = child_pids(agent.proc.pid)
    return child


def test_kill_9_during_a_split_catch_up_counts_every_failure_once(tmp_path: Path) -> None:
    log = tmp_path / "auth.log"
    # In the file before the agent starts (a first start reads back findtime, so from its
    # start): appended while the child reads, a busy machine's child could see it grow
    # until less than SPLIT_AT was left unread, and read it all alone.
    text, failures = _backlog(3 * SPLIT_AT)
    log.write_text(text)
    cfg = file_jail_config(tmp_path, log, maxretry=1_000_000)
    reader = StateReader(tmp_path / "state")
    helpers: list[int] = []
    with running(cfg, kill9=True) as agent:
        child = _reader_child(agent)

        def both_reading_and_some_committed() -> bool:
            helpers.extend(h for h in child_pids(child) if h not in helpers)
            return bool(helpers) and pid_alive(helpers[0]) and reader.total_failed("ssh-files") > 0

        _poll(both_reading_and_some_committed, 30, "no helper seen while the backlog was read")
    counted = reader.total_failed("ssh-files")
    assert 0 < counted < failures, "killed in the middle of the catch-up"
    _poll(
        lambda: not pid_alive(child) and not pid_alive(helpers[0]),
        10,
        "the child or helper lived on",
    )

    restarted = AgentProcess(cfg)
    try:
        restarted.wait_for_log("running:")
        _poll(lambda: reader.total_failed("ssh-files") >= failures, 60, "the rest was not read")
        time.sleep(0.5)  # nothing more comes
        assert reader.total_failed("ssh-files") == failures
    finally:
        assert restarted.stop() == 0


def test_small_appends_to_a_live_log_fork_no_helper(tmp_path: Path) -> None:
    log = tmp_path / "auth.log"
    log.write_text("")
    cfg = file_jail_config(tmp_path, log, maxretry=1_000_000)
    reader = StateReader(tmp_path / "state")
    agent = AgentProcess(cfg)
    try:
        agent.wait_for_log("running:")
        child = _reader_child(agent)
        total = 0
        for _ in range(20):
            text, failures = _backlog(64 << 10)
            with log.open("a") as f:
                f.write(text)
            total += failures
            _poll(
                lambda w=total: reader.total_failed("ssh-files") >= w, 10, "an append not counted"
            )
            assert child_pids(child) == [], "no helper for a small append"
        assert reader.total_failed("ssh-files") == total
        assert os.path.getsize(log) < SPLIT_AT
    finally:
        assert agent.stop() == 0


def test_a_jail_with_detectors_reads_its_backlog_with_one_process(tmp_path: Path) -> None:
    """The packaged sshd jail (slow, subnet, account, attack_mode): deciding bounds it."""
    log = tmp_path / "auth.log"
    log.write_text("")
    cfg = write_config(
        tmp_path / "journalban.yaml",
        tmp_path / "state",
        firewall={"backend": "dry-run"},
        jails={"sshd": {"source": "files", "files": [str(log)], "maxretry": 1_000_000}},
    )
    reader = StateReader(tmp_path / "state")
    text, _ = _backlog(2 * SPLIT_AT)
    agent = AgentProcess(cfg)
    try:
        agent.wait_for_log("running:")
        child = _reader_child(agent)
        with log.open("a") as f:
            f.write(text)
        size = os.path.getsize(log)
        helpers: set[int] = set()

        def caught_up() -> bool:
            helpers.update(child_pids(child))
            position = reader.position("sshd")
            return position is not None and json.loads(position)["files"][0]["off"] == size

        _poll(caught_up, 60, "the backlog was not read")
        assert not helpers, "no helper for a jail whose deciding bounds the catch-up"
        assert reader.total_failed("sshd") > 0
    finally:
        assert agent.stop() == 0


def test_a_cpu_quota_of_one_cpu_reads_the_backlog_with_one_process(tmp_path: Path) -> None:
    """An agent in a cgroup allowed one CPU's time (``CPUQuota=100%`` on a larger host):
    the reader child forks no helper (journalban.cpus), and every failure is counted."""
    log = tmp_path / "auth.log"
    log.write_text("")
    cfg = file_jail_config(tmp_path, log, maxretry=1_000_000)
    reader = StateReader(tmp_path / "state")
    text, failures = _backlog(2 * SPLIT_AT)
    with cpu_quota(1.0, "filesplit") as group:
        agent = AgentProcess(cfg, wrapper=cgroup_wrapper(group))
        try:
            agent.wait_for_log("running:")
            child = _reader_child(agent)
            with log.open("a") as f:
                f.write(text)
            helpers: set[int] = set()

            def all_counted() -> bool:
                helpers.update(child_pids(child))
                return reader.total_failed("ssh-files") >= failures

            _poll(all_counted, 60, "the backlog was not read")
            assert helpers == set(), "a helper was forked under a quota of one CPU"
            assert reader.total_failed("ssh-files") == failures
        finally:
            assert agent.stop() == 0
