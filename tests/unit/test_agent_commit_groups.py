"""A backlog's batches are committed ``COMMIT_BATCHES`` at a time, not one queue's worth.

The agent runs in-process (dry-run, its real SQLite state). A source hands it more
batches than its queue holds, as a reader child does during a catch-up: the queue is
refilled while the group is decided, and the group takes up to ``COMMIT_BATCHES`` of
them into one transaction, in order, each with its own position.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from pathlib import Path

from journalban.agent.deciding import COMMIT_BATCHES, QUEUE_DEPTH
from journalban.agent.runtime import Agent
from journalban.events import LineBatch
from journalban.state.store import BatchCommit
from support.agent import auth_log_config

BATCHES = 12


def _config(tmp_path: Path) -> Path:
    return auth_log_config(tmp_path, maxretry=100)


def _batch(agent: Agent, n: int) -> LineBatch:
    address = f"198.51.100.{n + 1}"
    hit = (f"Failed password for root from {address} port 22 ssh2", address,
           agent.clock.now(), "root", 0)  # fmt: skip
    return LineBatch("policy", [hit[0]], str(n), prefixed=False, hits=[hit])


def test_a_backlog_commits_more_batches_than_the_queue_holds_at_once(tmp_path: Path) -> None:
    commits: list[list[str | None]] = []

    async def scenario() -> None:
        agent = Agent(_config(tmp_path))
        task = asyncio.create_task(agent.run())
        await agent.ready.wait()
        commit = agent.store.commit
        loop, landed = asyncio.get_running_loop(), asyncio.Event()

        def recorded(batches: Sequence[BatchCommit]) -> None:  # (in the commit thread)
            commits.append([b.position for b in batches])
            commit(batches)
            if sum(map(len, commits)) == BATCHES:
                loop.call_soon_threadsafe(landed.set)

        agent.store.commit = recorded  # type: ignore[method-assign]
        for n in range(BATCHES):  # waits while the queue is full, as a source does
            await agent.feed("sshd", _batch(agent, n))
        await landed.wait()
        agent.stop()
        await task

    asyncio.run(asyncio.wait_for(scenario(), 60))
    assert commits[0] == [str(n) for n in range(COMMIT_BATCHES)]
    assert len(commits[0]) > QUEUE_DEPTH + 1  # more than the queue and the batch taken
    assert [p for group in commits for p in group] == [str(n) for n in range(BATCHES)]
