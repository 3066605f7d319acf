"""The follow loop against a fake link: where a new subscription starts, when it gives up.

The real link's tests are tests/real/test_fleet*.py (a real nats-server
cluster); this one holds the apply queue full, which takes more messages than a
real test should wait for.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from pathlib import Path

import pytest

from journalban.clock import FakeClock
from journalban.config.fleet import FleetConfig
from journalban.fleet import service as service_module
from journalban.fleet.ledger import FleetLedger
from journalban.fleet.link import StreamState
from journalban.fleet.service import APPLY_BATCH, FleetService, NoStream
from journalban.state.store import StateStore

NOW = 1_800_000_000.0
CFG = FleetConfig(servers=("nats://127.0.0.1:4222",), name="prod", host="b")
Handler = Callable[["_Msg"], Awaitable[None]]


class _Msg:
    """What the follow loop reads of a JetStream delivery."""

    def __init__(self, seq: int, cseq: int) -> None:
        self.subject = "journalban.prod.bans.a.sshd.203-0-113-5_32"
        self.data = b"{}"
        self.reply = f"$JS.ACK.JOURNALBAN_prod.C.1.{seq}.{cseq}.{int(NOW * 1e9)}.0"


class _Link:
    """Subscriptions as nats-py makes them: one delivery task each, cancelled by the next."""

    server = "127.0.0.1:4222"

    def __init__(self, last: int) -> None:
        self.last = last
        self.follows: list[int] = []
        self._handler: Handler | None = None
        self._task: asyncio.Task[None] | None = None

    async def follow(self, after: int, handler: Handler) -> None:
        if self._task is not None:
            self._task.cancel()  # unsubscribing stops the old subscription's task
        self.follows.append(after)
        self._handler = handler

    async def ensure_stream(self) -> StreamState:
        return StreamState(1, self.last, True)

    def deliver(self, msgs: list[_Msg]) -> None:
        handler = self._handler
        assert handler is not None

        async def run() -> None:
            for msg in msgs:
                await handler(msg)

        self._task = asyncio.create_task(run())


class _NoPort:
    async def apply_remote(self, orders: object, stream: str, seq: int) -> object:
        raise AssertionError("not called")


async def _until(predicate: Callable[[], bool]) -> None:
    for _ in range(1000):
        if predicate():
            return
        await asyncio.sleep(0.01)
    raise AssertionError("not reached in 10 s")


def test_a_delivery_waiting_for_room_is_asked_for_again_after_a_reconnect(tmp_path: Path) -> None:
    held = APPLY_BATCH * 4  # what the apply queue holds; nothing applies in this test

    async def scenario() -> list[int]:
        store = StateStore(tmp_path / "state.sqlite")
        service = FleetService(CFG, _NoPort(), FleetLedger(CFG, store.path), FakeClock(NOW), [])  # type: ignore[arg-type]
        link = _Link(last=held + 10)
        loop = asyncio.create_task(service._follow_loop(link))  # type: ignore[arg-type]
        try:
            await _until(lambda: link.follows == [0])
            link.deliver([_Msg(seq, seq) for seq in range(1, held + 2)])
            await _until(service._queue.full)
            await asyncio.sleep(0.05)  # the delivery after them waits for room
            service._event("reconnected", "")
            await _until(lambda: len(link.follows) == 2)
            return link.follows
        finally:
            loop.cancel()

    # The last one never reached the queue: the new subscription starts with it.
    assert asyncio.run(scenario()) == [0, held]


class _Unanswered(_Link):
    """A server that cannot reach the stream's leader: requests time out, or its copy answers."""

    def __init__(self, copy_answers: bool) -> None:
        super().__init__(last=5)
        self.copy_answers = copy_answers

    async def ensure_stream(self) -> StreamState:
        if self.copy_answers:
            return StreamState(1, self.last, False)
        raise TimeoutError("nats: timeout")


@pytest.mark.parametrize("copy_answers", [False, True])
def test_a_connection_without_the_streams_leader_is_given_up(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, copy_answers: bool
) -> None:
    monkeypatch.setattr(service_module, "NO_STREAM_AFTER", 0.5)

    async def scenario() -> None:
        store = StateStore(tmp_path / "state.sqlite")
        service = FleetService(CFG, _NoPort(), FleetLedger(CFG, store.path), FakeClock(NOW), [])  # type: ignore[arg-type]
        link = _Unanswered(copy_answers)
        async with asyncio.timeout(10):
            await service._follow_loop(link)  # type: ignore[arg-type]

    # The session ends (run() connects again, to a server picked at random).
    with pytest.raises(NoStream, match="no answer about the stream from its leader"):
        asyncio.run(scenario())


class _RaceLink(_Link):
    """The member message's acknowledgement and the refusal of the subscription land
    together (one read of the socket), as they did after a cluster outage."""

    def __init__(self) -> None:
        super().__init__(last=0)
        self.ack: asyncio.Future[int] | None = None
        self.published = 0

    async def publish_one(self, subject: str, body: bytes) -> int:
        self.published += 1
        self.ack = asyncio.get_running_loop().create_future()
        # as nats-py waits for every reply (Python 3.11's wait_for)
        return await asyncio.wait_for(self.ack, 5)

    async def message_time(self, seq: int) -> float:
        return NOW

    async def follow(self, after: int, handler: Handler) -> None:
        await _until(lambda: self.ack is not None)
        assert self.ack is not None
        self.ack.set_result(7)
        raise RuntimeError("JetStream system temporarily unavailable")


class _Port:
    async def committed_position(self, stream: str) -> int:
        return 0


def test_a_session_ends_when_a_loop_swallowed_its_cancellation(tmp_path: Path) -> None:
    async def scenario() -> BaseException | None:
        store = StateStore(tmp_path / "state.sqlite")
        service = FleetService(CFG, _Port(), FleetLedger(CFG, store.path), FakeClock(NOW), [])  # type: ignore[arg-type]
        session = asyncio.create_task(service._session(_RaceLink(), 0, 0))  # type: ignore[arg-type]
        done, _ = await asyncio.wait({session}, timeout=10)
        # (asyncio.run cancels what is left: every task, the swallowing loop too)
        assert done, "the session did not end: its clock loop went on"
        return session.exception()

    # The session ends with the subscription's error (run() connects again).
    error = asyncio.run(scenario())
    assert isinstance(error, RuntimeError)
    assert "temporarily unavailable" in str(error)
