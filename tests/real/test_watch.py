"""`journalban watch` following the real agent on a private bus with polkitd."""

from __future__ import annotations

import json
import os
import select
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from support.agent import AgentProcess, write_config
from support.bus import PrivateBus, as_user, run_client
from support.busagent import bus_with_journal
from support.journal import JournalWriter, sshd_fields
from support.real import REPO

pytestmark = pytest.mark.real
JOURNALBAN = [str(REPO / ".venv" / "bin" / "python"), "-m", "journalban"]
KEYS = {"event", "time", "jail", "address", "reason", "until", "origin", "state"}


class Watcher:
    """`journalban watch --json` as an unprivileged user; its events as they arrive."""

    def __init__(self, bus: PrivateBus, user: str | None = "nobody") -> None:
        self.proc = subprocess.Popen(
            as_user(user, [*JOURNALBAN, "watch", "--json"]),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            # Without the server's guid, which changes when the bus restarts.
            env={**bus.env(), "DBUS_SYSTEM_BUS_ADDRESS": bus.socket_address},
            cwd="/",
        )
        self.events: list[dict[str, Any]] = []
        self._partial = b""

    def wait_for(self, timeout: float = 20.0, since: int = 0, **want: object) -> dict[str, Any]:
        """The first event from index ``since`` (seen or arriving) holding every ``want`` pair."""
        assert self.proc.stdout is not None
        fd = self.proc.stdout.fileno()
        deadline = time.monotonic() + timeout
        seen = since
        while True:
            for event in self.events[seen:]:
                if all(event.get(k) == v for k, v in want.items()):
                    return event
            seen = len(self.events)
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise AssertionError(f"no event {want}; saw {self.events}")
            ready, _, _ = select.select([fd], [], [], min(remaining, 0.1))
            if ready:
                chunk = os.read(fd, 65536)
                if not chunk:
                    raise AssertionError(f"watch ended: {self.stderr()}; saw {self.events}")
                *complete, self._partial = (self._partial + chunk).split(b"\n")
                self.events.extend(json.loads(line) for line in complete)

    def stderr(self) -> str:
        if self.proc.poll() is None:
            return ""
        assert self.proc.stderr is not None
        return self.proc.stderr.read().decode(errors="replace")

    def close(self) -> None:
        self.proc.terminate()
        self.proc.wait(5)
        for pipe in (self.proc.stdout, self.proc.stderr):
            if pipe is not None:
                pipe.close()


@dataclass
class Setup:
    bus: PrivateBus
    writer: JournalWriter
    config: Path


@pytest.fixture
def setup() -> Iterator[Setup]:
    tmp = Path(tempfile.mkdtemp(prefix="jb-watch-"))
    os.chmod(tmp, 0o755)  # noqa: S103
    jdir = tmp / "journal"
    jdir.mkdir()
    cfg = write_config(tmp / "journalban.yaml", tmp / "state", journal_dir=jdir, bus=True,
                       firewall={"backend": "dry-run"}, jails={"sshd": {"maxretry": 2}})  # fmt: skip
    try:
        with bus_with_journal(jdir) as (bus, writer):
            yield Setup(bus, writer, cfg)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def start_agent(s: Setup) -> AgentProcess:
    agent = AgentProcess(s.config, bus_address=s.bus.address)
    try:
        agent.wait_serving(s.bus)
    except BaseException:
        agent.stop()
        raise
    return agent


def fail_twice(s: Setup, address: str) -> None:
    s.writer.write([sshd_fields(f"Failed password for root from {address} port 22 ssh2")] * 2)


def test_watch_prints_bans_unbans_and_follows_a_restarted_agent(setup: Setup) -> None:
    agent = start_agent(setup)
    watcher = Watcher(setup.bus)
    try:
        assert watcher.wait_for(event="state")["state"] == "running"
        fail_twice(setup, "203.0.113.70")
        ban = watcher.wait_for(event="ban", address="203.0.113.70")
        assert set(ban) == KEYS
        assert (ban["jail"], ban["reason"], ban["state"]) == ("sshd", "failures", None)
        assert ban["origin"] == "journal"  # the source the failures were read from
        banned_at = datetime.fromisoformat(ban["time"])
        assert banned_at.utcoffset() is not None
        assert datetime.fromisoformat(ban["until"]) > banned_at

        unbanned = run_client(setup.bus, [*JOURNALBAN, "unban", "203.0.113.70", "sshd"])
        assert unbanned.returncode == 0, unbanned.stderr
        unban = watcher.wait_for(event="unban", address="203.0.113.70")
        assert (unban["jail"], unban["reason"], unban["until"]) == ("sshd", "manual", None)

        assert run_client(setup.bus, [*JOURNALBAN, "reload"]).returncode == 0
        watcher.wait_for(event="reload")

        agent.stop()
        stopped = watcher.events.index(watcher.wait_for(event="state", state="stopped"))
        agent = start_agent(setup)
        watcher.wait_for(since=stopped, event="state", state="running", timeout=10)
        fail_twice(setup, "203.0.113.71")
        again = watcher.wait_for(since=stopped, event="ban", address="203.0.113.71")
        assert again["jail"] == "sshd"
        assert watcher.proc.poll() is None, watcher.stderr()
    finally:
        watcher.close()
        agent.stop()


def test_watch_connects_again_when_the_bus_restarts(tmp_path: Path) -> None:
    jdir = tmp_path / "journal"
    jdir.mkdir()
    cfg = write_config(tmp_path / "journalban.yaml", tmp_path / "state", journal_dir=jdir,
                       bus=True, firewall={"backend": "dry-run"})  # fmt: skip
    # No polkitd (it would not come back with the bus): root reads, as the fallback allows.
    with bus_with_journal(jdir, polkit=False) as (bus, _):
        agent = AgentProcess(cfg, bus_address=bus.socket_address)
        watcher = Watcher(bus, user=None)
        try:
            agent.wait_for_log("running:")
            watcher.wait_for(event="state", state="running")
            seen = len(watcher.events)
            bus.stop_daemon()
            bus.start_daemon()
            assert bus.wait_for_name("org.jailban", timeout=15), agent.log
            watcher.wait_for(since=seen, event="state", state="running", timeout=15)
            ban = run_client(bus, [*JOURNALBAN, "ban", "sshd", "203.0.113.72"])
            assert ban.returncode == 0, ban.stderr
            watcher.wait_for(since=seen, event="ban", address="203.0.113.72")
        finally:
            watcher.close()
            agent.stop()
