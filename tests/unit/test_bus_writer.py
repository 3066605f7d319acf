"""GatheringWriter: one write per loop turn, in order, and nothing left behind.

Over a real socketpair, as dbus-fast's writer is tested in
test_bus_full_socket.py; the agent's bus connection uses it
(tests/real/test_agent_dbus.py and the other real bus tests).
"""

from __future__ import annotations

import asyncio
import socket
import time
from types import SimpleNamespace
from typing import Any

from dbus_fast import Message

from journalban.bus.writer import GatheringWriter, write_after_reading


class CountingSocket:
    """The socket, with its ``send`` calls counted."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.sends = 0

    def send(self, data: Any) -> int:
        self.sends += 1
        return self.sock.send(data)


def _signals(count: int, size: int) -> list[Message]:
    return [
        Message.new_signal(
            "/org/jailban", "org.jailban.Manager1", "Banned", "s", [f"{i:06}" * size]
        )
        for i in range(count)
    ]


def _writer(ours: socket.socket, finalized: list[object]) -> tuple[GatheringWriter, CountingSocket]:
    counting = CountingSocket(ours)
    bus = SimpleNamespace(
        _sock=counting, _fd=ours.fileno(), _loop=asyncio.get_running_loop(),
        _finalize=finalized.append, _user_disconnect=False,
    )  # fmt: skip
    return GatheringWriter(bus), counting


async def _receive(theirs: socket.socket, expected: int, limit: float = 10.0) -> bytes:
    got = bytearray()
    loop = asyncio.get_running_loop()
    deadline = loop.time() + limit
    while len(got) < expected and loop.time() < deadline:
        try:
            got += theirs.recv(65536)
        except BlockingIOError:
            await asyncio.sleep(0.001)
    return bytes(got)


def test_the_messages_of_one_turn_go_out_in_one_write_in_order() -> None:
    async def scenario() -> tuple[bytes, bytes, int, bool]:
        ours, theirs = socket.socketpair()
        ours.setblocking(False)
        theirs.setblocking(False)
        finalized: list[object] = []
        writer, counting = _writer(ours, finalized)
        messages = _signals(90, 10)
        futures = [asyncio.get_running_loop().create_future() for _ in messages]
        for msg, future in zip(messages, futures, strict=True):
            writer.schedule_write(msg, future)
        expected = b"".join(bytes(m._marshall(False)) for m in messages)
        got = await _receive(theirs, len(expected))
        written_at = await asyncio.gather(*futures)  # when: for the call traces
        ours.close()
        theirs.close()
        in_time = all(isinstance(t, float) and t <= time.monotonic() for t in written_at)
        return got, expected, counting.sends, not finalized and in_time

    got, expected, sends, connected = asyncio.run(scenario())
    assert got == expected
    assert sends == 1
    assert connected


def test_what_a_full_socket_did_not_take_goes_out_with_no_later_message() -> None:
    # The bytes a full buffer refused must not wait for the next message to be queued
    # (which under the stream could be a Banned signal a quarter of a second later).
    async def scenario() -> tuple[bytes, bytes, int, int, bool]:
        ours, theirs = socket.socketpair()
        ours.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4096)
        ours.setblocking(False)
        theirs.setblocking(False)
        finalized: list[object] = []
        writer, counting = _writer(ours, finalized)
        messages = _signals(200, 500)  # 3 kB each, far more than the buffer holds
        futures = [asyncio.get_running_loop().create_future() for _ in messages]
        for msg, future in zip(messages, futures, strict=True):
            writer.schedule_write(msg, future)
        expected = b"".join(bytes(m._marshall(False)) for m in messages)
        await asyncio.sleep(0.01)
        half_done = sum(f.done() for f in futures)
        got = await _receive(theirs, len(expected))  # nothing else is ever queued
        await asyncio.wait_for(asyncio.gather(*futures), 5)
        ours.close()
        theirs.close()
        return got, expected, half_done, counting.sends, not finalized and writer.pending == 0

    got, expected, half_done, sends, clean = asyncio.run(scenario())
    assert got == expected
    assert half_done < 200  # the futures wait for their bytes to be in the socket
    assert sends > 1
    assert clean


def test_messages_queued_while_the_socket_is_full_follow_in_order() -> None:
    async def scenario() -> tuple[bytes, bytes]:
        ours, theirs = socket.socketpair()
        ours.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4096)
        ours.setblocking(False)
        theirs.setblocking(False)
        writer, _ = _writer(ours, [])
        first, second = _signals(100, 500), _signals(50, 300)
        for msg in first:
            writer.schedule_write(msg)
        await asyncio.sleep(0.005)  # written in part; the rest waits for the socket
        for msg in second:
            writer.schedule_write(msg)
        expected = b"".join(bytes(m._marshall(False)) for m in first + second)
        got = await _receive(theirs, len(expected))
        ours.close()
        theirs.close()
        return got, expected

    got, expected = asyncio.run(scenario())
    assert got == expected


def test_a_broken_socket_ends_the_connection_and_fails_the_waiting_sends() -> None:
    async def scenario() -> tuple[list[object], bool]:
        ours, theirs = socket.socketpair()
        ours.setblocking(False)
        theirs.close()  # the bus daemon is gone: EPIPE
        finalized: list[object] = []
        writer, _ = _writer(ours, finalized)
        future = asyncio.get_running_loop().create_future()
        writer.schedule_write(_signals(1, 1)[0], future)
        await asyncio.sleep(0.01)
        ours.close()
        return finalized, future.done() and isinstance(future.exception(), OSError)

    finalized, failed = asyncio.run(scenario())
    assert len(finalized) == 1
    assert isinstance(finalized[0], OSError)
    assert failed


def test_replies_made_while_reading_are_written_before_the_rest_of_the_turn() -> None:
    # A read answered inside the reader's callback: its reply must not wait behind the
    # callbacks the turn runs next (under the stream, the decisions task's slices).
    async def scenario(wrapped: bool) -> bool:
        loop = asyncio.get_running_loop()
        bus_end, client = socket.socketpair()
        ours, theirs = socket.socketpair()  # the writer's socket
        for s in (bus_end, client, ours, theirs):
            s.setblocking(False)
        writer, _ = _writer(ours, [])
        seen: list[bool] = []

        def probe() -> None:  # the next callback of the turn: is the reply out already?
            try:
                seen.append(len(theirs.recv(65536)) > 0)
            except BlockingIOError:
                seen.append(False)

        def reader() -> None:
            bus_end.recv(4096)
            loop.call_soon(probe)
            writer.schedule_write(_signals(1, 10)[0])

        loop.add_reader(bus_end.fileno(), reader)
        if wrapped:
            bus = SimpleNamespace(_loop=loop, _fd=bus_end.fileno())
            assert write_after_reading(bus, writer)  # type: ignore[arg-type]
        client.send(b"a call")
        for _ in range(50):
            await asyncio.sleep(0.001)
            if seen:
                break
        loop.remove_reader(bus_end.fileno())
        for s in (bus_end, client, ours, theirs):
            s.close()
        return seen[0]

    assert asyncio.run(scenario(wrapped=True))
    assert not asyncio.run(scenario(wrapped=False))  # the turn's next callback came first
