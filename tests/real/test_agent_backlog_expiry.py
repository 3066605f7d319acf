"""A backlog read from the journal while the expiry chore runs by the clock (the real agent).

The agent counts failures by the entries' own times and runs its expiry chore
by the clock, every second, also while it catches up a backlog. What a
catch-up decides must not depend on how many chores ran during it (on the
load): a ban the clock ends before the reading reaches its end keeps its span
(the failures read after it was lifted counted: the likely cause of a journal
catch-up of a benchmark corpus that once counted 9,549 failures instead of
9,555, with 16 more bans), and a backlog older than findtime keeps its counts
(each chore forgot them all). Here the rest of the backlog is written to the journal only after
the chore has run: the order a slow catch-up gives, made certain.
"""

from __future__ import annotations

import time
from pathlib import Path

from support.agent import (
    PER_ADDRESS_ONLY,
    AgentProcess,
    StateReader,
    last_cursor,
    running,
    write_config,
)
from support.journal import JournalWriter, sshd_fields

BANTIME = 60.0
ADDRESS = "203.0.113.5"


def config(tmp_path: Path, **jail: object) -> Path:
    return write_config(tmp_path / "c.yaml", tmp_path / "state", journal_dir=tmp_path / "journal",
                        firewall={"backend": "dry-run"},
                        jails={"sshd": {**jail, **PER_ADDRESS_ONLY}})  # fmt: skip


def failure(address: str, when: float, port: int) -> dict[str, str | int]:
    """A failure logged and received at ``when`` (the entry's time, the failure's)."""
    usec = int(when * 1e6)
    fields = sshd_fields(f"Failed password for root from {address} port {port} ssh2")
    return {**fields, "_SOURCE_REALTIME_TIMESTAMP": usec, "__REALTIME_TIMESTAMP": usec}


def test_a_ban_lifted_before_the_lines_read_pass_its_end_keeps_its_span(tmp_path: Path) -> None:
    jdir = tmp_path / "journal"
    cfg = config(tmp_path, findtime="1h", bantime=f"{BANTIME:.0f}s", maxretry=2)
    reader = StateReader(tmp_path / "state")
    # Its ban ends 12 s from now: time enough for the agent to start and decide it.
    start = time.time() - BANTIME + 12
    with JournalWriter(jdir) as writer:
        writer.write([failure(ADDRESS, start, 1000), failure(ADDRESS, start + 1, 1001)])
        writer.wait_visible(2)
        agent = AgentProcess(cfg)
        try:
            reader.wait(lambda: reader.bans() == {("sshd", f"{ADDRESS}/32")}, timeout=30)
            assert time.time() < start + 1 + BANTIME, "decided as a running ban"
            # The chore lifts it once its end has passed by the clock.
            reader.wait(lambda: not reader.bans(), timeout=BANTIME)
            assert reader.total_failed("sshd") == 2
            # The rest of its span, and a later failure of another address.
            writer.write(
                [
                    failure(ADDRESS, start + 20, 1002),
                    failure(ADDRESS, start + 30, 1003),
                    failure("198.51.100.7", start + 40, 1004),
                ]
            )
            writer.wait_visible(5)
            end = last_cursor(jdir)
            reader.wait(lambda: reader.position("sshd") == end, timeout=30)
        finally:
            agent.stop()
    assert reader.total_failed("sshd") == 3  # the other address's; none inside the ban
    assert not reader.bans()
    assert [network for network, _ in reader.history()] == [f"{ADDRESS}/32"]


def test_a_backlog_older_than_findtime_keeps_its_counts_across_chores(tmp_path: Path) -> None:
    """Lines received two hours ago, read from the agent's stored position (a first start
    reads back findtime only: an agent with a findtime of 3h stored a position before
    them, on a line of no failure)."""
    jdir = tmp_path / "journal"
    reader = StateReader(tmp_path / "state")
    start = time.time() - 7200  # two hours back: findtime before the clock
    with JournalWriter(jdir) as writer:
        usec = int((start - 60) * 1e6)
        writer.write([{**sshd_fields("Server listening on 0.0.0.0 port 22."),
                       "_SOURCE_REALTIME_TIMESTAMP": usec, "__REALTIME_TIMESTAMP": usec}])  # fmt: skip
        writer.wait_visible(1)
        anchor = last_cursor(jdir)
        first = AgentProcess(config(tmp_path, findtime="3h", bantime="1d", maxretry=3))
        try:
            reader.wait(lambda: reader.position("sshd") == anchor, timeout=30)
        finally:
            first.stop()
        writer.write([failure(ADDRESS, start, 1000), failure(ADDRESS, start + 60, 1001)])
        writer.wait_visible(3)
        agent = AgentProcess(config(tmp_path, findtime="10m", bantime="1d", maxretry=3))
        try:
            reader.wait(lambda: reader.total_failed("sshd") == 2, timeout=30)
            time.sleep(2.5)  # expiry chores run (one a second)
            writer.write([failure(ADDRESS, start + 120, 1002)])  # the third within 10m
            agent.wait_for_log(f"Ban {ADDRESS} in jail sshd", timeout=30)
        finally:
            agent.stop()
    assert reader.bans() == {("sshd", f"{ADDRESS}/32")}


def test_a_ban_ended_while_the_agent_was_down_keeps_its_span(tmp_path: Path) -> None:
    """A ban decided, the agent stopped, more failures of that address logged within the
    ban's span while it is down, its end passed by the clock, the agent restarted: they
    were read while the ban stood for an agent left running, and must not count (the
    restart dropped the ended ban and counted them, banning again). The firewall (the
    dry run's) is never given the ended ban."""
    bantime = 15.0
    jdir = tmp_path / "journal"
    cfg = config(tmp_path, findtime="1h", bantime=f"{bantime:.0f}s", maxretry=2)
    reader = StateReader(tmp_path / "state")
    start = time.time()
    with JournalWriter(jdir) as writer:
        writer.write([failure(ADDRESS, start, 1000), failure(ADDRESS, start + 0.5, 1001)])
        writer.wait_visible(2)
        agent = AgentProcess(cfg)
        try:
            reader.wait(lambda: reader.bans() == {("sshd", f"{ADDRESS}/32")}, timeout=30)
        finally:
            agent.stop()
        assert time.time() < start + 0.5 + bantime - 3, "the ban must still run when stopped"
        assert reader.total_failed("sshd") == 2
        now = time.time()
        writer.write([failure(ADDRESS, now, 1002), failure(ADDRESS, now + 0.5, 1003),
                      failure("198.51.100.7", now + 1, 1004)])  # fmt: skip
        writer.wait_visible(5)
        end = last_cursor(jdir)
        time.sleep(max(0.0, start + 0.5 + bantime + 1 - time.time()))  # its end passes
        with running(cfg) as again:
            reader.wait(lambda: reader.position("sshd") == end, timeout=30)
            time.sleep(1.5)  # an expiry chore runs
    assert reader.total_failed("sshd") == 3  # the other address's; none inside the ban
    assert [network for network, _ in reader.history()] == [f"{ADDRESS}/32"]
    assert f"Restore ban of {ADDRESS}" not in again.log
    assert f"Ban {ADDRESS}" not in again.log
    assert f"would ban in sshd: {ADDRESS}" in agent.log
    assert "would ban" not in again.log  # the dry run's firewall: given nothing
