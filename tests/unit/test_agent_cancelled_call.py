"""A caller cancelled while its call runs in the decisions task does not stop the agent.

The fleet's task is cancelled so (a reload that changes ``fleet:``, a stream
made anew) while its batch of remote bans is being decided and committed.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import yaml

from journalban.agent.runtime import Agent


def test_a_cancelled_caller_leaves_the_decisions_task_running(tmp_path: Path) -> None:
    config = tmp_path / "journalban.yaml"
    config.write_text(yaml.safe_dump({
        "state_dir": str(tmp_path / "state"), "bus": False, "recidive": {"enabled": False},
        "firewall": {"backend": "dry-run"}, "jails": {"sshd": {"enabled": False}},
    }))  # fmt: skip
    done: list[str] = []

    async def scenario() -> None:
        agent = Agent(config)
        task = asyncio.create_task(agent.run())
        await agent.ready.wait()
        started = asyncio.Event()

        async def slow(result: str) -> str:
            started.set()
            await asyncio.sleep(0.2)
            done.append(result)
            return result

        async def failing() -> None:
            started.set()
            await asyncio.sleep(0.2)
            raise ValueError("refused")

        for call in (lambda: slow("first"), failing):
            started.clear()
            caller = asyncio.create_task(agent._call(call))
            await started.wait()
            caller.cancel()
            await asyncio.wait([caller])
            assert caller.cancelled()
        # The decisions task went on: the call ran to its end, the next one answers.
        assert await agent._call(lambda: slow("second")) == "second"
        agent.stop()
        await task

    asyncio.run(asyncio.wait_for(scenario(), 30))
    assert done == ["first", "second"]
