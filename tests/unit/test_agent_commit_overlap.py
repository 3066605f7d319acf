"""The decisions task decides the next group while the last one commits, in order.

``committing.OVERLAP`` on (off by default: it measured slower on the benchmark
machine; the last test checks the default order). The agent runs in-process
(dry-run, its real SQLite state) with the store's
commit held at a gate in its worker thread. While group 1 is held: group 2 is
decided, and nothing of group 1 reaches the firewall or the listeners; a call
waits. Released, group 1 lands (firewall, news), then group 2, then the call
runs and sees both committed. Group 1's commit saw its rows unchanged by the
deciding of group 2. A stop waits for the group in flight and applies it; a
commit that fails stops the agent with its error, as before.
"""

from __future__ import annotations

import asyncio
import os
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import pytest

from journalban.agent import committing
from journalban.agent.runtime import Agent
from journalban.errors import StateError
from journalban.events import Ban, LineBatch
from journalban.firewall.base import BanEntry
from journalban.state.store import BatchCommit
from support.agent import StateReader, auth_log_config

GROUP1 = [f"198.51.100.{i}" for i in range(1, 4)]
GROUP2 = [f"203.0.113.{i}" for i in range(1, 4)]
DEADLINE = 20.0


@pytest.fixture
def overlap(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(committing, "OVERLAP", True)


class GatedStore:
    """The store's commit, held in its thread until the gate opens; what each commit saw."""

    def __init__(self, agent: Agent, *, fail: bool = False) -> None:
        self._commit = agent.store.commit
        self.fail = fail
        self.entered = threading.Event()
        self.gate = threading.Event()
        self.positions: list[list[str | None]] = []
        self.changed_while_held: list[str] = []
        agent.store.commit = self.commit  # type: ignore[method-assign]

    def commit(self, batches: Sequence[BatchCommit]) -> None:
        before = repr(batches)
        self.positions.append([b.position for b in batches])
        self.entered.set()
        assert self.gate.wait(DEADLINE)
        if repr(batches) != before:
            self.changed_while_held.append(before)
        if self.fail:
            raise StateError("cannot write state: disk I/O error")
        self._commit(batches)


class Seen:
    """The listener, and the firewall's applies: in order."""

    def __init__(self, agent: Agent) -> None:
        self.events: list[tuple[str, str]] = []
        apply = agent.backend.apply

        def applied(add: Sequence[BanEntry], remove: Sequence[BanEntry], now: float) -> None:
            self.events += [("applied", str(e.network.network_address)) for e in add]
            apply(add, remove, now)

        agent.backend.apply = applied  # type: ignore[method-assign]
        agent.subscribe(self)

    def banned(self, ban: Ban) -> None:
        self.events.append(("announced", ban.address))

    def unbanned(self, ban: Ban, reason: str) -> None:
        pass

    def reloaded(self) -> None:
        pass

    def status_changed(self, jails: Sequence[str]) -> None:
        pass

    def of(self, kind: str) -> list[str]:
        return [address for k, address in self.events if k == kind]


def _config(tmp_path: Path, maxretry: int = 1) -> Path:
    return auth_log_config(tmp_path, maxretry=maxretry)


def _batch(agent: Agent, addresses: Sequence[str], position: str) -> LineBatch:
    now = agent.clock.now()
    hits = [(f"Failed password for root from {a} port 22 ssh2", a, now, "root", 0)
            for a in addresses]  # fmt: skip
    return LineBatch("policy", [h[0] for h in hits], position, prefixed=False, hits=hits)


async def _until(what: Callable[[], bool]) -> None:
    deadline = time.monotonic() + DEADLINE
    while not what():
        assert time.monotonic() < deadline, "timed out"
        await asyncio.sleep(0.01)


async def _hold_group1(
    agent: Agent, second: Sequence[str]
) -> tuple[asyncio.Task[None], GatedStore, Seen]:
    """Start ``agent``; feed GROUP1 (position 1), which its commit holds at the gate,
    then ``second`` (position 2). The agent's task, the gated store, what is seen."""
    task = asyncio.create_task(agent.run())
    await agent.ready.wait()
    gated, seen = GatedStore(agent), Seen(agent)
    await agent.feed("sshd", _batch(agent, GROUP1, "1"))
    await _until(gated.entered.is_set)
    await agent.feed("sshd", _batch(agent, second, "2"))
    return task, gated, seen


def _decided(agent: Agent, addresses: Sequence[str]) -> bool:
    banned = {b.address for b in agent.decisions.list_bans("sshd")}
    return all(a in banned for a in addresses)


def test_the_next_group_is_decided_while_the_last_commits_and_lands_after_it(
    tmp_path: Path, overlap: None
) -> None:
    reader = StateReader(tmp_path / "state", dry_run=True)
    in_call: dict[str, object] = {}

    async def scenario() -> tuple[GatedStore, Seen]:
        agent = Agent(_config(tmp_path))
        task, gated, seen = await _hold_group1(agent, GROUP2)
        await _until(lambda: _decided(agent, GROUP2))  # decided while group 1 is held
        await asyncio.sleep(0.2)
        assert seen.events == []  # nothing of group 1 before its commit
        assert reader.bans() == set()
        assert reader.position("sshd") is None

        async def probe() -> None:
            in_call["bans"] = reader.bans()
            in_call["position"] = reader.position("sshd")
            in_call["events"] = list(seen.events)

        call = asyncio.create_task(agent._call(probe))
        await asyncio.sleep(0.2)
        assert not in_call  # the call waits for the commits of the groups decided before it
        gated.gate.set()
        await asyncio.wait_for(call, DEADLINE)
        await _until(lambda: len(seen.of("announced")) == len(GROUP1 + GROUP2))
        agent.stop()
        await task
        return gated, seen

    gated, seen = asyncio.run(asyncio.wait_for(scenario(), 60))
    assert gated.positions == [["1"], ["2"]]  # one commit in flight, in order
    assert gated.changed_while_held == []
    assert in_call["bans"] == {("sshd", f"{a}/32") for a in GROUP1 + GROUP2}
    assert in_call["position"] == "2"
    assert sorted(seen.of("applied")) == sorted(GROUP1 + GROUP2)
    # Each group: firewall, then news; group 1's before group 2's firewall.
    order = [f"{kind}:{address}" for kind, address in seen.events]
    for address in GROUP1 + GROUP2:
        assert order.index(f"applied:{address}") < order.index(f"announced:{address}")
    assert max(order.index(f"applied:{a}") for a in GROUP1) < min(
        order.index(f"applied:{a}") for a in GROUP2
    )


def test_a_held_group_is_not_changed_by_deciding_the_same_addresses_again(
    tmp_path: Path, overlap: None
) -> None:
    """Group 1 counts a failure of each address, group 2 (decided while group 1 is held)
    bans them: their counts are spent, their lines and detectors' rows change."""
    reader = StateReader(tmp_path / "state", dry_run=True)

    async def scenario() -> GatedStore:
        agent = Agent(_config(tmp_path, maxretry=2))
        task, gated, seen = await _hold_group1(agent, GROUP1)
        await _until(lambda: _decided(agent, GROUP1))
        gated.gate.set()
        await _until(lambda: len(seen.of("announced")) == len(GROUP1))
        agent.stop()
        await task
        return gated

    gated = asyncio.run(asyncio.wait_for(scenario(), 60))
    assert gated.positions == [["1"], ["2"]]
    assert gated.changed_while_held == []
    assert reader.bans() == {("sshd", f"{a}/32") for a in GROUP1}


def test_a_stop_waits_for_the_group_in_flight_and_applies_it(tmp_path: Path, overlap: None) -> None:
    reader = StateReader(tmp_path / "state", dry_run=True)

    async def scenario() -> Seen:
        agent = Agent(_config(tmp_path))
        task, gated, seen = await _hold_group1(agent, GROUP2)
        await _until(lambda: _decided(agent, GROUP2))
        agent.stop()
        await asyncio.sleep(0.2)
        assert not task.done()  # waiting for the commit in flight
        gated.gate.set()
        await asyncio.wait_for(task, DEADLINE)
        return seen

    seen = asyncio.run(asyncio.wait_for(scenario(), 60))
    # Group 1: committed, in the firewall, announced. Group 2, decided and not
    # committed, is read again from position 1 at the next start.
    assert reader.bans() == {("sshd", f"{a}/32") for a in GROUP1}
    assert reader.position("sshd") == "1"
    assert sorted(seen.of("applied")) == sorted(seen.of("announced")) == sorted(GROUP1)


def test_a_failed_commit_in_flight_stops_the_agent_with_its_error(
    tmp_path: Path, overlap: None
) -> None:
    async def scenario() -> None:
        agent = Agent(_config(tmp_path))
        task = asyncio.create_task(agent.run())
        await agent.ready.wait()
        gated = GatedStore(agent, fail=True)
        gated.gate.set()
        await agent.feed("sshd", _batch(agent, GROUP1, "1"))
        # Nothing more is queued: the decisions task, waiting for batches, is woken.
        await asyncio.wait_for(task, DEADLINE)

    with pytest.raises(ExceptionGroup) as raised:
        asyncio.run(asyncio.wait_for(scenario(), 60))
    assert raised.group_contains(StateError)


def test_by_default_a_group_lands_before_the_next_is_decided(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Off unless JOURNALBAN_COMMIT_OVERLAP=1 (an A/B of it runs the suite so too).
    assert committing.OVERLAP is (os.environ.get(committing.OVERLAP_ENV) == "1")
    monkeypatch.setattr(committing, "OVERLAP", False)

    async def scenario() -> Seen:
        agent = Agent(_config(tmp_path))
        task, gated, seen = await _hold_group1(agent, GROUP2)
        await asyncio.sleep(0.3)
        assert not _decided(agent, GROUP2)  # waits for group 1 to land
        gated.gate.set()
        await _until(lambda: len(seen.of("announced")) == len(GROUP1 + GROUP2))
        agent.stop()
        await task
        return seen

    seen = asyncio.run(asyncio.wait_for(scenario(), 60))
    assert seen.of("applied") == seen.of("announced") == GROUP1 + GROUP2
