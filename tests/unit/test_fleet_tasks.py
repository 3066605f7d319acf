"""The fleet's tasks stop when told, even when a cancellation was swallowed once
(Python 3.11's wait_for, gh-86296: nats-py awaits every reply with it)."""

from __future__ import annotations

import asyncio

import pytest

from journalban.fleet import tasks
from journalban.fleet.tasks import run_until_one_fails


async def _swallows_one_cancellation(state: dict[str, int]) -> None:
    """A loop whose first cancellation lands as a reply does: lost, it goes on."""
    while True:
        try:
            await asyncio.sleep(0.01)
        except asyncio.CancelledError:
            state["cancelled"] = state.get("cancelled", 0) + 1
            if state["cancelled"] == 1:
                continue  # what wait_for does with it on 3.11
            raise


def test_a_loop_that_loses_its_cancellation_is_stopped(monkeypatch: pytest.MonkeyPatch) -> None:
    async def scenario() -> tuple[bool, int]:
        state: dict[str, int] = {}
        outer = asyncio.create_task(run_until_one_fails([_swallows_one_cancellation(state)]))
        await asyncio.sleep(0.05)
        outer.cancel()  # once, as the agent's TaskGroup and a reload do
        done, _ = await asyncio.wait({outer}, timeout=5.0)
        return outer in done and outer.cancelled(), state["cancelled"]

    monkeypatch.setattr(tasks, "RECANCEL", 0.05)
    stopped, cancellations = asyncio.run(scenario())
    assert stopped, "the task is still running 5 s after its cancellation"
    assert cancellations == 2


def test_without_it_such_a_loop_outlives_its_cancellation() -> None:
    """What run_until_one_fails is for: the same loop awaited directly ignores one cancel."""

    async def scenario() -> bool:
        state: dict[str, int] = {}
        outer = asyncio.create_task(_swallows_one_cancellation(state))
        await asyncio.sleep(0.05)
        outer.cancel()
        done, _ = await asyncio.wait({outer}, timeout=0.5)
        running = outer not in done
        outer.cancel()
        await asyncio.wait({outer})
        return running

    assert asyncio.run(scenario())


def test_a_failing_loop_raises_its_error() -> None:
    async def fails() -> None:
        await asyncio.sleep(0)
        raise RuntimeError("stream gone")

    async def scenario() -> str:
        try:
            await run_until_one_fails([fails()])
        except RuntimeError as exc:
            return str(exc)
        return "no error"

    assert asyncio.run(scenario()) == "stream gone"
