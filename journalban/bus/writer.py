"""The bus connection's writer: the messages of one loop turn go out in one write.

dbus-fast (5.2) writes each message with its own ``send()`` as it is queued:
a burst of 90 replies, or a commit's Banned signals, is 90 system calls, each
waking dbus-daemon, which on a machine of two cores then competes with the
agent for the one the load generator leaves. Under the 1M-line stream a
fifth of the agent's busy samples were in those ``send()`` calls
(docs/benchmarks.md, D-Bus, third round).

``GatheringWriter`` takes dbus-fast's place (``bus._writer``): a message is
marshalled when queued, as before, and the bytes of every message queued
during one turn of the event loop are written together at the start of the
next (``loop.call_soon``), in the order they were queued. What the socket does
not take (a full buffer: ``EAGAIN``, or a partial write) waits for the socket
to become writable, with the writer registered for exactly that; nothing is
left for an unrelated later message to push out. A full buffer never counts
as a lost connection (python-dbus-next #153, inherited by dbus-fast); any
other error of the socket ends the connection as dbus-fast's own writer does.

Each message's future (``bus.send`` returns one) is resolved once all of its
bytes are in the socket, as dbus-fast does; its result is the
``time.monotonic()`` of that write (dbus-fast's is None, and nothing in
dbus-fast reads it), for the call traces of ``journalban.agent.calltrace``.

The replies to calls answered while dbus-fast's reader hands them over (reads
polkit's kept yes covers, ``dispatch``) are written as soon as the reader has
handed over all it read (``write_after_reading``): one write per batch read,
not a wait behind the rest of the turn.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from typing import Any

from dbus_fast import Message
from dbus_fast.aio import MessageBus

_log = logging.getLogger(__name__)


class GatheringWriter:
    """Writes the messages queued in one loop turn with one ``send()``."""

    def __init__(self, bus: Any) -> None:
        self._bus = bus
        self._sock = bus._sock
        self._fd: int = bus._fd
        self._loop: asyncio.AbstractEventLoop = bus._loop
        self._queued: list[bytes | bytearray] = []  # marshalled, not yet tried
        self._unsent: memoryview | None = None  # the part of a write the socket did not take
        self._ends: deque[tuple[int, asyncio.Future[Any]]] = deque()  # (end offset, future)
        self._offset = 0  # bytes handed to the socket so far (the futures' offsets count these)
        self._total = 0  # bytes queued so far
        self._flush_soon: asyncio.Handle | None = None
        self._waiting_writable = False
        self.writes = 0  # send() calls made, for tests and benchmarks

    def schedule_write(self, msg: Message | None = None, future: Any = None) -> None:
        """Queue ``msg`` (dbus-fast's interface); it is written at the loop's next turn."""
        if msg is None:
            self._flush_later()
            return
        self.queue_wire(msg._marshall(False))
        if future is not None:
            self._ends.append((self._total, future))

    def queue_wire(self, data: bytes | bytearray) -> None:
        """Queue a message already marshalled (its serial in it), with no future to resolve."""
        self._queued.append(data)
        self._total += len(data)
        self._flush_later()

    def _flush_later(self) -> None:
        """Write what is queued at the loop's next turn (unless a flush is due already)."""
        if self._flush_soon is None and not self._waiting_writable:
            self._flush_soon = self._loop.call_soon(self._flush)

    def write_now(self) -> None:
        """Write what is queued at once, not at the next turn (unless the socket is full)."""
        if self._flush_soon is not None and not self._waiting_writable:
            self._flush_soon.cancel()
            self._flush()

    @property
    def pending(self) -> int:
        """Bytes queued and not yet taken by the socket."""
        return self._total - self._offset

    def _flush(self) -> None:
        self._flush_soon = None
        if self._unsent is None:
            if not self._queued:
                return
            data = self._queued[0] if len(self._queued) == 1 else b"".join(self._queued)
            self._queued = []
            self._unsent = memoryview(data)
        elif self._queued:  # behind what waited for the socket, in order
            data = bytes(self._unsent) + b"".join(self._queued)
            self._queued = []
            self._unsent = memoryview(data)
        try:
            sent = self._sock.send(self._unsent)
        except (BlockingIOError, InterruptedError):
            sent = 0
        except Exception as exc:
            self._fail(exc)
            return
        self.writes += 1
        self._offset += sent
        self._unsent = self._unsent[sent:] if sent < len(self._unsent) else None
        written_at = time.monotonic()
        while self._ends and self._ends[0][0] <= self._offset:
            _resolve(self._ends.popleft()[1], written_at)
        if self._unsent is not None:
            if not self._waiting_writable:
                self._loop.add_writer(self._fd, self._flush)
                self._waiting_writable = True
        elif self._waiting_writable:
            self._loop.remove_writer(self._fd)
            self._waiting_writable = False

    def _fail(self, exc: Exception) -> None:
        if self._waiting_writable:
            self._loop.remove_writer(self._fd)
            self._waiting_writable = False
        user_disconnect = getattr(self._bus, "_user_disconnect", False)
        while self._ends:
            future = self._ends.popleft()[1]
            if future.done():
                continue
            if user_disconnect:
                future.set_result(None)
            else:
                future.set_exception(exc)
                future.exception()  # nobody need wait for it: the connection is gone
        self._queued = []
        self._unsent = None
        self._bus._finalize(exc)


def _resolve(future: asyncio.Future[Any], result: float | None = None) -> None:
    if not future.done():
        future.set_result(result)


def write_after_reading(bus: MessageBus, writer: GatheringWriter) -> bool:
    """Write the replies a batch of incoming messages produced as soon as it is read.

    dbus-fast's reader hands each message it reads to the handlers, and a read
    answered there (``dispatch``) queues its reply; written at the next turn, it
    would wait behind whatever other tasks the turn runs first (under the stream
    the decisions task's slices, a few ms each). So the reader's callback is
    wrapped to write right after it. This finds the callback through asyncio's
    selector (the loop keeps no public way to read it back); where that is not
    possible the replies go at the next turn, as before. False in that case.
    """
    loop = bus._loop
    fd = bus._fd
    if fd is None:
        return False
    try:
        handle = loop._selector.get_key(fd).data[0]  # type: ignore[attr-defined]
        read, args = handle._callback, handle._args
    except (AttributeError, KeyError, LookupError, TypeError, ValueError):
        return False

    def read_then_write() -> None:
        read(*args)
        writer.write_now()

    loop.add_reader(fd, read_then_write)
    return True


def gather_writes(bus: MessageBus) -> bool:
    """Give ``bus`` a ``GatheringWriter``; False when it keeps dbus-fast's writer.

    Only on a connected bus whose writer has nothing queued (right after
    ``connect()``), and not when Unix file descriptors are negotiated (they go
    with their own message).
    """
    old = getattr(bus, "_writer", None)
    if old is None or isinstance(old, GatheringWriter) or getattr(bus, "_negotiate_unix_fd", True):
        return isinstance(old, GatheringWriter)
    if old.buf is not None or old.messages or bus._fd is None:
        return False
    writer = bus._writer = GatheringWriter(bus)  # type: ignore[assignment]
    # dbus-fast's writer may still be registered for writability (after Hello); it has
    # nothing to write, and from now on only the new writer registers.
    bus._loop.remove_writer(bus._fd)
    write_after_reading(bus, writer)
    return True
