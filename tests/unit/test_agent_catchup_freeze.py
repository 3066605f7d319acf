"""agent.catchup: what is alive while a source's batches wait is frozen; the catch-up ends
once the agent keeps up, and catch-ups freeze a bounded number of objects at most."""

from __future__ import annotations

import asyncio
import gc
import weakref
from collections.abc import Iterator

import pytest

from journalban.agent.catchup import FULL_READ, QUIET, CatchUps, behind
from journalban.events import LineBatch


class Node:
    """An object of a reference cycle: only the collector frees it."""

    def __init__(self) -> None:
        self.other: Node | None = None


def cycle() -> weakref.ref[Node]:
    a, b = Node(), Node()
    a.other, b.other = b, a
    return weakref.ref(a)


@pytest.fixture(autouse=True)
def thawed() -> Iterator[None]:
    gc.collect()
    gc.unfreeze()
    yield
    gc.unfreeze()
    gc.collect()


def test_behind_freezes_what_is_alive() -> None:
    catchups = CatchUps()
    catchups.started("j")
    kept = cycle()
    catchups.queued("j", behind=True)
    assert catchups.catching_up
    assert catchups.frozen > 0
    assert gc.get_freeze_count() >= catchups.frozen
    gc.collect()
    assert kept() is not None  # frozen: out of the collector's passes
    gc.unfreeze()
    gc.collect()
    assert kept() is None


def test_catch_up_ends_when_the_agent_keeps_up() -> None:
    catchups = CatchUps()
    catchups.started("j")
    for _ in range(QUIET - 1):
        catchups.queued("j", behind=False)
    catchups.queued("j", behind=True)  # behind again: the quiet batches count from 0
    for _ in range(QUIET - 1):
        catchups.queued("j", behind=False)
    assert catchups.catching_up
    catchups.queued("j", behind=False)
    assert not catchups.catching_up
    frozen = gc.get_freeze_count()
    gc.unfreeze()
    after = cycle()
    catchups.queued("j", behind=True)  # ended: the live agent collects as before
    catchups.started("j")  # (a restart of the source does not open it again)
    catchups.queued("j", behind=True)
    assert gc.get_freeze_count() == 0 < frozen
    gc.collect()
    assert after() is None


def test_unknown_and_stopped_sources_freeze_nothing() -> None:
    catchups = CatchUps()
    catchups.queued("never started", behind=True)
    catchups.started("j")
    catchups.stopped("j")
    catchups.queued("j", behind=True)
    assert gc.get_freeze_count() == 0
    assert catchups.frozen == 0
    assert not catchups.catching_up


def test_freezing_stops_at_its_limit() -> None:
    catchups = CatchUps(limit=1)
    catchups.started("j")
    catchups.queued("j", behind=True)
    frozen = catchups.frozen
    assert frozen >= 1
    gc.unfreeze()
    late = cycle()
    catchups.queued("j", behind=True)  # still behind, but the catch-ups froze enough
    assert catchups.frozen == frozen
    assert gc.get_freeze_count() == 0
    gc.collect()
    assert late() is None


def batch(lines: int, read: int = -1) -> LineBatch:
    return LineBatch(source="j", lines=["x"] * lines, position="p", read=read)


def test_behind_when_others_wait_or_the_batch_is_full() -> None:
    queue: asyncio.Queue[object] = asyncio.Queue(4)
    assert not behind(batch(3), queue)
    assert not behind(batch(0, read=FULL_READ - 1), queue)
    assert behind(batch(0, read=FULL_READ), queue)  # a backlog's frame: its lines left out
    assert behind(batch(FULL_READ), queue)
    queue.put_nowait(None)
    assert behind(batch(1), queue)
