"""A full socket buffer must not cost the agent its bus connection.

dbus-fast's real message writer over a socketpair whose other end reads
slowly: a burst of signals fills the send buffer, as Banned signals do when
dbus-daemon is busy.
"""

from __future__ import annotations

import asyncio
import socket
from types import SimpleNamespace

from dbus_fast import Message
from dbus_fast.aio.message_bus import _MessageWriter

from journalban.bus.service import tolerate_full_socket


async def send_burst(count: int) -> tuple[int, int, list[object]]:
    """(bytes sent, bytes received, errors the writer gave up on)."""
    ours, theirs = socket.socketpair()
    ours.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4096)
    ours.setblocking(False)
    theirs.setblocking(False)
    gave_up: list[object] = []
    fake_bus = SimpleNamespace(
        _negotiate_unix_fd=False, _sock=ours, _loop=asyncio.get_running_loop(),
        _fd=ours.fileno(), unique_name=":1.7", _user_disconnect=False, _finalize=gave_up.append,
    )  # fmt: skip
    writer = _MessageWriter(fake_bus)  # type: ignore[arg-type]
    tolerate_full_socket(SimpleNamespace(_writer=writer))  # type: ignore[arg-type]
    signals = [
        Message.new_signal("/org/jailban", "org.jailban.Manager1", "Banned", "s", ["x" * 3000])
        for _ in range(count)
    ]
    expected = sum(len(m._marshall(False)) for m in signals)
    for signal in signals:
        writer.schedule_write(signal)
    received = 0
    try:
        for _ in range(5000):
            if received >= expected or gave_up:
                break
            await asyncio.sleep(0.001)
            try:
                received += len(theirs.recv(8192))
            except BlockingIOError:
                continue
    finally:
        ours.close()
        theirs.close()
    return expected, received, gave_up


def test_a_burst_of_signals_waits_for_a_full_socket() -> None:
    expected, received, gave_up = asyncio.run(send_burst(200))
    assert gave_up == []
    assert received == expected
