"""The bus service's task started before the restore (agent.readiness): ``joined`` waits for
it in the agent's task group, ``stopped`` ends it when the start fails before the group."""

from __future__ import annotations

import asyncio

import pytest

from journalban.agent.readiness import joined, stopped


def test_stopped_cancels_a_running_task_and_waits_for_its_end() -> None:
    ended: list[str] = []

    async def scenario() -> None:
        async def serve() -> None:
            try:
                await asyncio.sleep(60)
            finally:
                ended.append("cleaned up")

        task = asyncio.create_task(serve())
        await asyncio.sleep(0)
        await stopped(task)
        assert task.cancelled()
        await stopped(task)  # (ended already: nothing)
        await stopped(None)  # (no bus wanted)

    asyncio.run(scenario())
    assert ended == ["cleaned up"]


def test_joined_cancelled_with_its_group_cancels_the_task() -> None:
    async def scenario() -> asyncio.Task[None]:
        task = asyncio.create_task(asyncio.sleep(60))
        waiter = asyncio.create_task(joined(task))
        await asyncio.sleep(0)
        waiter.cancel()
        with pytest.raises(asyncio.CancelledError):
            await waiter
        return task

    assert asyncio.run(scenario()).cancelled()


def test_joined_passes_the_task_s_failure_on() -> None:
    async def scenario() -> None:
        async def fail() -> None:
            raise RuntimeError("bus task failed")

        with pytest.raises(RuntimeError, match="bus task failed"):
            await joined(asyncio.create_task(fail()))

    asyncio.run(scenario())
