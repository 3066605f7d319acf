"""The firewall integrity chore acts on the firewall's own trouble, not a source's.

A source that fails puts the agent in the ``degraded`` state while its task
restarts it; the integrity chore used to take any ``degraded`` for a lost
firewall, set the table up again and restore every ban (100,000 of them on a
busy host) under the warning "the firewall lost journalban's table".
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

import pytest

from journalban.agent import chores
from journalban.agent.chores import AgentChores
from journalban.events import Ban


class Backend:
    def __init__(self, intact: bool) -> None:
        self.is_intact = intact
        self.setups = 0

    def intact(self) -> bool:
        return self.is_intact

    def setup(self, rules: object) -> None:
        self.setups += 1


class Decisions:
    def list_bans(self) -> list[Ban]:
        return []


class Chores(AgentChores):
    def __init__(self, backend: Backend, state: str, reason: str) -> None:
        self.backend = backend  # type: ignore[assignment]
        self.decisions = Decisions()  # type: ignore[assignment]
        self._state = state
        self.degraded_reason = reason
        self.restores = 0

    async def _call(self, fn: Callable[[], Awaitable[Any]]) -> Any:
        return await fn()

    async def _restore(self, bans: Sequence[Ban]) -> None:
        self.restores += 1

    def _all_rules(self) -> list[Any]:
        return []


def run_checks(agent: Chores, checks: int, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(chores, "INTEGRITY_INTERVAL", 0.001)

    async def scenario() -> None:
        task = asyncio.create_task(agent._integrity_loop())
        await asyncio.sleep(0.001 * checks * 20)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    asyncio.run(scenario())


def test_a_failed_source_does_not_make_the_firewall_be_set_up_again(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    agent = Chores(Backend(intact=True), "degraded", "source journal of sshd failed")
    with caplog.at_level(logging.WARNING, logger="journalban.agent"):
        run_checks(agent, 5, monkeypatch)
    assert (agent.backend.setups, agent.restores) == (0, 0)  # type: ignore[attr-defined]
    assert agent._state == "degraded"  # the source's task sets it running again
    assert "firewall" not in caplog.text


def test_a_refused_batch_is_set_up_again_once_and_the_agent_runs(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    agent = Chores(Backend(intact=True), "degraded", "netlink: operation not permitted")
    with caplog.at_level(logging.WARNING, logger="journalban.agent"):
        run_checks(agent, 5, monkeypatch)
    assert (agent.backend.setups, agent.restores) == (1, 1)  # type: ignore[attr-defined]
    assert agent._state == "running"
    assert "refused a batch before" in caplog.text
    assert "lost journalban's table" not in caplog.text


def test_a_lost_table_is_re_created_even_while_a_source_is_down(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    agent = Chores(Backend(intact=False), "degraded", "source journal of sshd failed")
    with caplog.at_level(logging.WARNING, logger="journalban.agent"):
        run_checks(agent, 3, monkeypatch)
    assert agent.backend.setups >= 1  # type: ignore[attr-defined]
    # Each set-up is followed by its restore (the task may be cancelled between the two).
    assert agent.restores in (agent.backend.setups, agent.backend.setups - 1)  # type: ignore[attr-defined]
    assert agent._state == "degraded"  # still the source's to clear
    assert "lost journalban's table" in caplog.text
