"""Listening sockets for the policy services, and their bounded, quiet error reporting."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import stat
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

from journalban.config.enforcement import Listen

log = logging.getLogger("journalban.enforce")

Handler = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]


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


class Gate:
    """At most ``limit`` connections at once; more are closed at once (a flood)."""

    def __init__(self, limit: int, complain: Complaints, handler: Handler) -> None:
        self.limit, self.complain, self.handler = limit, complain, handler
        self.open = 0

    async def __call__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if self.open >= self.limit:
            self.complain(f"{self.limit} connections already open: refused one more")
            writer.transport.abort()
            return
        self.open += 1
        try:
            await self.handler(reader, writer)
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        finally:
            self.open -= 1
            writer.close()
            with contextlib.suppress(ConnectionError, OSError):
                await writer.wait_closed()


async def start_server(
    where: Listen, handler: Handler, *, limit: int, line_limit: int, mode: int = 0o666
) -> asyncio.Server:
    """Listen at ``where``: a unix socket (replacing a stale one) or a loopback port.

    A unix socket is made ``mode``: who may connect is decided by the
    directory it lives in (Postfix's ``private/`` is the postfix user's alone).

    Raises:
        OSError: the socket cannot be made (in use, no such directory).
    """
    if where.path is not None:
        remove_socket(where)  # a stale one, from a crash
        server = await asyncio.start_unix_server(
            handler, where.path, limit=line_limit, backlog=limit
        )
        os.chmod(where.path, mode)
        return server
    return await asyncio.start_server(
        handler, where.host, where.port, limit=line_limit, backlog=limit, reuse_address=True
    )


def remove_socket(where: Listen) -> None:
    """Remove the unix socket of ``where``, if there is one (never any other file)."""
    if where.path is not None:
        with contextlib.suppress(OSError):
            if stat.S_ISSOCK(Path(where.path).lstat().st_mode):
                Path(where.path).unlink()
