"""Postfix SMTP access policy delegation (``check_policy_service``).

The protocol (Postfix's SMTPD_POLICY_README): the client sends ``name=value``
lines ending with an empty line, the server answers ``action=...`` and an
empty line; a connection carries any number of requests. journalban answers
``action=REJECT <text>`` (or ``DEFER``) when ``client_address`` is banned in
one of the configured jails, else ``action=DUNNO`` (no opinion: Postfix goes
on with its other restrictions). The text is the configured fixed one:
never a user name nor why the address was banned.

Bounds, against a client that is not Postfix: a line of 4 KiB, 100
attributes and 32 KiB a request, 10 seconds to finish a request once begun,
10 minutes idle between requests (Postfix drops its own after 5), and at most
``max_connections`` at once. A client breaking them is told nothing more and
disconnected; each is logged, at most once in 10 seconds.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Collection

from journalban.config.enforcement import PostfixPoint
from journalban.enforce.bantable import BanTable
from journalban.enforce.listen import Complaints, Gate, start_server

MAX_LINE = 4096
MAX_ATTRIBUTES = 100
MAX_REQUEST = 32 * 1024
REQUEST_TIMEOUT = 10.0
IDLE_TIMEOUT = 600.0


class BadRequest(ValueError):
    """A policy request that breaks the protocol or its bounds."""


def parse_request(lines: list[bytes]) -> dict[str, str]:
    """The attributes of one request (its lines without the empty one).

    Raises:
        BadRequest: a line without ``=``, not UTF-8, a repeated name.
    """
    attrs: dict[str, str] = {}
    for raw in lines:
        try:
            line = raw.decode("utf-8")
        except UnicodeDecodeError:
            raise BadRequest("an attribute line that is not UTF-8") from None
        name, sep, value = line.partition("=")
        if not sep or not name or not name.replace("_", "").isalnum():
            raise BadRequest(f"not a name=value line: {line[:40]!r}")
        if name in attrs:
            raise BadRequest(f"attribute {name} given twice")
        attrs[name] = value
    return attrs


def decide(
    attrs: dict[str, str], table: BanTable, point: PostfixPoint, jails: Collection[str], now: float
) -> str:
    """The ``action=`` line for one request's attributes."""
    if attrs.get("request") != "smtpd_access_policy":
        return "action=DUNNO"
    if table.banned_text(attrs.get("client_address", ""), jails, now) is None:
        return "action=DUNNO"
    return f"action={point.action} {point.message}"


class PostfixPolicyServer:
    """Answers Postfix's policy requests from a ``BanTable``."""

    def __init__(self, point: PostfixPoint, table: BanTable, now: Callable[[], float]) -> None:
        self.point, self.table, self.now = point, table, now
        self.jails = frozenset(point.jails)
        self.complain = Complaints(f"postfix policy service {point.listen}")
        self.answered = 0
        self.refused = 0
        self._server: asyncio.Server | None = None

    async def start(self) -> None:
        """Raises: OSError when the socket cannot be made."""
        gate = Gate(self.point.max_connections, self.complain, self._serve)
        self._server = await start_server(
            self.point.listen, gate, limit=self.point.max_connections, line_limit=MAX_LINE
        )

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
            self._server = None

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while True:
            try:
                lines = await self._read_request(reader)
            except BadRequest as exc:
                self.complain(f"bad request, connection closed: {exc}")
                return
            except TimeoutError:
                self.complain("a client took too long; connection closed")
                return
            if lines is None:
                return  # the client closed between requests
            try:
                attrs = parse_request(lines)
            except BadRequest as exc:
                self.complain(f"bad request, connection closed: {exc}")
                return
            answer = decide(attrs, self.table, self.point, self.jails, self.now())
            self.answered += 1
            if answer != "action=DUNNO":
                self.refused += 1
            writer.write(answer.encode() + b"\n\n")
            await writer.drain()

    async def _read_request(self, reader: asyncio.StreamReader) -> list[bytes] | None:
        """The lines of the next request; None at a clean end of the connection.

        Raises:
            BadRequest, TimeoutError.
        """
        lines: list[bytes] = []
        size = 0
        loop = asyncio.get_running_loop()
        deadline: float | None = None
        while True:
            timeout = IDLE_TIMEOUT if deadline is None else max(deadline - loop.time(), 0.0)
            try:
                raw = await asyncio.wait_for(reader.readuntil(b"\n"), timeout)
            except asyncio.IncompleteReadError as exc:
                if not lines and not exc.partial:
                    return None
                raise BadRequest("connection closed in the middle of a request") from None
            except asyncio.LimitOverrunError:
                raise BadRequest(f"a line longer than {MAX_LINE} bytes") from None
            if deadline is None:
                deadline = loop.time() + REQUEST_TIMEOUT
            line = raw.rstrip(b"\n").removesuffix(b"\r")
            if not line:
                if not lines:
                    raise BadRequest("an empty request")
                return lines
            size += len(raw)
            lines.append(line)
            if len(lines) > MAX_ATTRIBUTES or size > MAX_REQUEST:
                raise BadRequest(f"a request over {MAX_ATTRIBUTES} lines or {MAX_REQUEST} bytes")
