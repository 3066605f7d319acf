"""JOURNALBAN_CALL_TRACE: the real agent stamps each D-Bus call's stages, in order."""

from __future__ import annotations

import json
import shutil
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from support.agent import AgentProcess, write_config
from support.bus import PrivateBus, run_client
from support.busagent import bus_with_journal, serving

pytestmark = pytest.mark.real
MANAGER = ["org.jailban", "/org/jailban", "org.jailban.Manager1"]


@pytest.fixture(scope="module")
def traced() -> Iterator[tuple[PrivateBus, AgentProcess, Path]]:
    tmp = Path(tempfile.mkdtemp(prefix="jb-call-trace-"))
    jdir, trace = tmp / "journal", tmp / "calls.jsonl"
    cfg = write_config(tmp / "journalban.yaml", tmp / "state", journal_dir=jdir, bus=True,
                       firewall={"backend": "dry-run"}, jails={"sshd": {}})  # fmt: skip
    try:
        with pytest.MonkeyPatch.context() as mp, bus_with_journal(jdir) as (bus, _):
            mp.setenv("JOURNALBAN_CALL_TRACE", str(trace))
            with serving(AgentProcess(cfg, bus_address=bus.address), bus) as agent:
                yield bus, agent, trace
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def busctl(bus: PrivateBus, *args: str) -> None:
    done = run_client(bus, ["busctl", f"--address={bus.address}", "call", *MANAGER, *args])
    assert done.returncode == 0, done.stderr


def traces(path: Path, member: str) -> list[dict[str, float]]:
    """The marks of ``member``'s calls (the line is written just after the reply is sent)."""
    deadline = time.monotonic() + 10
    while True:
        records = [json.loads(line) for line in path.read_text().splitlines()]
        found = [r["marks"] for r in records if r.get("member") == member]
        if found or time.monotonic() > deadline:
            return found
        time.sleep(0.05)


def in_order(marks: dict[str, float], *stages: str) -> bool:
    times = [marks[s] for s in stages]
    return times == sorted(times)


def test_a_read_is_stamped_from_receipt_to_reply(
    traced: tuple[PrivateBus, AgentProcess, Path],
) -> None:
    bus, _agent, path = traced
    busctl(bus, "GetStatus")
    (marks,) = traces(path, "GetStatus")
    assert in_order(marks, "received", "serving", "authorised", "handled", "replied", "written")
    assert "queued" not in marks  # a read never waits for the decisions task


def test_a_ban_is_stamped_through_the_decisions_task_and_its_commit(
    traced: tuple[PrivateBus, AgentProcess, Path],
) -> None:
    bus, agent, path = traced
    busctl(bus, "Ban", "ssta{sv}", "sshd", "198.51.100.61", "3600000000", "0")
    agent.wait_for_log("Ban 198.51.100.61 in jail sshd")
    (marks,) = traces(path, "Ban")
    stages = ("received", "authorised", "caller known", "queued", "started", "commit",
              "committed", "handled", "replied", "written")  # fmt: skip
    assert in_order(marks, *stages)
    # The agent's own steps are written beside the calls: the Ban's commit, its wall time.
    records = [json.loads(line) for line in path.read_text().splitlines()]
    commits = [r for r in records if "commit" in r and r["bans"] == 1]
    assert commits
    assert all(0 <= r["commit"] < 60 for r in commits)
