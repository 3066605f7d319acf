"""The loops of a fleet session, run together until the first one fails.

Like ``asyncio.TaskGroup``, with one difference that matters here: a loop still
running once the others were told to stop is cancelled again, until it stops.
Python 3.11's ``asyncio.wait_for`` returns the awaited result instead of raising
when its task is cancelled just as that result lands (CPython gh-86296, fixed in
3.12), and nats-py awaits every reply that way: the clock loop, cancelled as its
member message's acknowledgement arrived, went on to its next round, and a
TaskGroup (which cancels each task once) waited for it for ever. The session
never ended, the host followed the stream no more and did not stop at SIGTERM.
"""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine, Sequence
from typing import Any

RECANCEL = 0.5  # seconds between the cancellations of a loop that did not stop


async def run_until_one_fails(loops: Sequence[Coroutine[Any, Any, None]]) -> None:
    """Run ``loops`` as tasks; when one raises (or the caller is cancelled), stop the others.

    With one loop, what runs it stops it by cancelling once: the fleet task as a whole
    (the agent's stop, a reload's rejoin) meets the same lost cancellation in its waits
    outside a session.

    Raises:
        the first exception a loop raised (in the order given), once all have stopped.
    """
    tasks = [asyncio.create_task(loop) for loop in loops]
    try:
        await asyncio.wait(tasks, return_when=asyncio.FIRST_EXCEPTION)
    finally:
        await _stop(tasks)
    errors = [t.exception() for t in tasks if not t.cancelled()]  # (each one retrieved)
    for error in errors:
        if error is not None:
            raise error


async def _stop(tasks: Sequence[asyncio.Task[None]]) -> None:
    pending = {t for t in tasks if not t.done()}
    while pending:
        for task in pending:
            task.cancel()
        _, pending = await asyncio.wait(pending, timeout=RECANCEL)
