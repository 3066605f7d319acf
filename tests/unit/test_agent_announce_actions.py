"""A committed run of bans runs each ban's actions, in order, in the jails that have any.

The agent (in-process, dry-run: an action is logged as what it would run) decides
a group of bans; its announcement asks once per run's jails whether any runs
actions (most jails run none, and a flood's thousands of bans then call nothing
per ban), and runs them ban by ban where they do.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Sequence
from pathlib import Path

import pytest

from journalban.agent.runtime import Agent
from journalban.events import LineBatch
from support.agent import auth_log_config

# (each in a /24 of its own: no prefix ban beside them)
ADDRESSES = ["198.51.100.7", "203.0.113.8", "192.0.2.9", "198.18.3.10", "198.19.4.11"]
DEADLINE = 20.0


def _config(tmp_path: Path, actions: list[dict[str, object]] | None) -> Path:
    if actions is None:
        return auth_log_config(tmp_path, maxretry=1)
    return auth_log_config(tmp_path, maxretry=1, actions=actions)


def _batch(agent: Agent, addresses: Sequence[str]) -> LineBatch:
    now = agent.clock.now()
    hits = [(f"Failed password for root from {a} port 22 ssh2", a, now, "root", 0)
            for a in addresses]  # fmt: skip
    return LineBatch("policy", [h[0] for h in hits], "1", prefixed=False, hits=hits)


def _announced(tmp_path: Path, actions: list[dict[str, object]] | None) -> None:
    async def scenario() -> None:
        agent = Agent(_config(tmp_path, actions))
        task = asyncio.create_task(agent.run())
        await agent.ready.wait()
        await agent.feed("sshd", _batch(agent, ADDRESSES))
        deadline = time.monotonic() + DEADLINE
        while not _all_banned(agent):
            assert time.monotonic() < deadline, "timed out"
            await asyncio.sleep(0.01)
        await asyncio.sleep(0.2)  # (announced after the commit)
        agent.stop()
        await task

    asyncio.run(asyncio.wait_for(scenario(), 60))


def _all_banned(agent: Agent) -> bool:
    banned = {b.address for b in agent.decisions.list_bans("sshd")}
    return all(a in banned for a in ADDRESSES) and not agent._news and agent._flight is None


def _would_run(caplog: pytest.LogCaptureFixture) -> list[str]:
    prefix = "would run the ban actions of jail sshd for "
    return [r.getMessage()[len(prefix) :] for r in caplog.records
            if r.getMessage().startswith(prefix)]  # fmt: skip


def test_a_runs_bans_run_their_jails_actions_in_order(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="journalban")
    _announced(tmp_path, [{"type": "firewall"}, {"type": "command", "ban": ["/bin/true"]}])
    assert _would_run(caplog) == ADDRESSES


def test_a_jail_without_actions_runs_none(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="journalban")
    _announced(tmp_path, None)
    assert _would_run(caplog) == []
    logged = [r.getMessage() for r in caplog.records]
    assert [a for a in ADDRESSES if any(m.startswith(f"Ban {a} ") for m in logged)] == ADDRESSES
