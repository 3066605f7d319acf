"""Request/answer connections for the policy services, as asyncio protocols.

A policy service's connection is a stream of small requests, each answered
before the next (Postfix's smtpd, Dovecot's auth client). Parsing happens on
the bytes as they arrive, with no task or await per line, which is what
keeps the answers within a millisecond at thousands a second.

Bounds every connection keeps: ``max_request`` bytes of unanswered input,
about 64 KiB of answers its client has not read (reading stops until it does),
``request_timeout`` seconds from a request's first byte to its end,
``idle_timeout`` seconds between requests, and at most ``limit``
connections per service (more are closed at once: a flood). A client that
breaks them is answered what its protocol allows (``Refusal.answer``, maybe
nothing) and disconnected; the service logs it through ``Complaints``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import stat
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from journalban.config.enforcement import Listen

log = logging.getLogger("journalban.enforce")


class Refusal(Exception):
    """Input a service will not take: ``answer`` (maybe empty) is sent, then the connection closes."""

    def __init__(self, message: str, answer: bytes = b"") -> None:
        super().__init__(message)
        self.answer = answer


class Complaints:
    """Logs what clients did wrong: the first at once, then one summary line a period."""

    def __init__(self, service: str, period: float = 10.0) -> None:
        self.service, self.period = service, period
        self.total = 0
        self._held = 0
        self._last = -period

    def __call__(self, message: str) -> None:
        self.total += 1
        now = time.monotonic()
        if now - self._last >= self.period:
            more = f" (and {self._held} more since the last)" if self._held else ""
            log.warning("%s: %s%s", self.service, message, more)
            self._last, self._held = now, 0
        else:
            self._held += 1


WRITE_HIGH = 64 * 1024  # unread answers held for one connection, at most (about)

# Consumes one request from the front of the buffer: (answer, keep the connection
# open), or None while the request is incomplete. Raises Refusal.
Take = Callable[[bytearray], tuple[bytes, bool] | None]


@dataclass(frozen=True, slots=True)
class Bounds:
    limit: int = 256
    max_request: int = 32 * 1024
    request_timeout: float = 10.0
    idle_timeout: float = 600.0


class _Connection(asyncio.Protocol):
    def __init__(self, service: RequestServer) -> None:
        self.service = service
        self.buffer = bytearray()
        self.transport: asyncio.Transport | None = None
        self.timer: asyncio.TimerHandle | None = None
        self.counted = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        if not isinstance(transport, asyncio.Transport):  # pragma: no cover - streams only
            transport.close()
            return
        self.transport = transport
        service = self.service
        if service.open >= service.bounds.limit:
            service.complain(f"{service.bounds.limit} connections already open: refused one more")
            transport.abort()
            return
        service.open += 1
        self.counted = True
        transport.set_write_buffer_limits(high=WRITE_HIGH)
        self._arm(service.bounds.idle_timeout, "idle")

    def pause_writing(self) -> None:
        # A client that sends requests without reading the answers: stop
        # reading its requests until it does (answers never pile up).
        if self.transport is not None:
            self.transport.pause_reading()

    def resume_writing(self) -> None:
        if self.transport is not None and not self.transport.is_closing():
            self.transport.resume_reading()

    def connection_lost(self, exc: Exception | None) -> None:
        if self.counted:
            self.service.open -= 1
            self.counted = False
        if self.timer is not None:
            self.timer.cancel()

    def _arm(self, seconds: float, what: str) -> None:
        if self.timer is not None:
            self.timer.cancel()
        self.timer = asyncio.get_running_loop().call_later(seconds, self._expire, what)

    def _expire(self, what: str) -> None:
        if self.transport is None or self.transport.is_closing():
            return
        if what == "request":
            self.service.complain("a client took too long to send its request; closed")
        self.transport.close()

    def data_received(self, data: bytes) -> None:
        transport = self.transport
        if transport is None or transport.is_closing():
            return
        started = not self.buffer
        self.buffer += data
        try:
            while self.buffer:
                done = self.service.take(self.buffer)
                if done is None:
                    break
                answer, keep = done
                transport.write(answer)
                if not keep:
                    transport.close()
                    return
                started = bool(self.buffer)
            if len(self.buffer) > self.service.bounds.max_request:
                raise Refusal(f"a request over {self.service.bounds.max_request} bytes")
        except Refusal as exc:
            self.service.complain(f"{exc}; connection closed")
            if exc.answer:
                transport.write(exc.answer)
            transport.close()
            return
        if not self.buffer:
            self._arm(self.service.bounds.idle_timeout, "idle")
        elif started:
            self._arm(self.service.bounds.request_timeout, "request")

    def eof_received(self) -> bool | None:
        if self.buffer:
            self.service.complain("connection closed in the middle of a request")
        return None  # close


class RequestServer:
    """Serves ``take`` on a unix socket or a loopback port, within ``bounds``."""

    def __init__(self, where: Listen, take: Take, complain: Complaints, bounds: Bounds) -> None:
        self.where, self.take, self.complain, self.bounds = where, take, complain, bounds
        self.open = 0
        self._server: asyncio.Server | None = None

    @property
    def port(self) -> int:
        """The port listened on (0 before ``start`` or on a unix socket)."""
        if self._server is None or self.where.path is not None:
            return 0
        return int(self._server.sockets[0].getsockname()[1])

    async def start(self, mode: int = 0o666) -> None:
        """Listen. A unix socket is made ``mode``: who may connect is decided by the
        directory it lives in (Postfix's ``private/`` is the postfix user's alone).

        Raises:
            OSError: the socket cannot be made (in use, no such directory).
        """
        loop = asyncio.get_running_loop()
        backlog = self.bounds.limit
        if self.where.path is not None:
            remove_socket(self.where)  # a stale one, from a crash
            self._server = await loop.create_unix_server(
                lambda: _Connection(self), self.where.path, backlog=backlog
            )
            os.chmod(self.where.path, mode)
        else:
            self._server = await loop.create_server(
                lambda: _Connection(self), self.where.host, self.where.port,
                backlog=backlog, reuse_address=True,
            )  # fmt: skip

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
            with contextlib.suppress(Exception):
                await self._server.wait_closed()
            self._server = None
        remove_socket(self.where)


def remove_socket(where: Listen) -> None:
    """Remove the unix socket of ``where``, if there is one (never any other file)."""
    if where.path is not None:
        with contextlib.suppress(OSError):
            if stat.S_ISSOCK(Path(where.path).lstat().st_mode):
                Path(where.path).unlink()
