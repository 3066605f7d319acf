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

from collections.abc import Callable, Collection

from journalban.config.enforcement import PostfixPoint
from journalban.enforce.bantable import BanTable
from journalban.enforce.framing import Bounds, Complaints, Refusal, RequestServer

MAX_LINE = 4096
MAX_ATTRIBUTES = 100
MAX_REQUEST = 32 * 1024
DUNNO = b"action=DUNNO\n\n"


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
        bounds = Bounds(limit=point.max_connections, max_request=MAX_REQUEST)
        self.server = RequestServer(point.listen, self.take, self.complain, bounds)

    async def start(self) -> None:
        """Raises: OSError when the socket cannot be made."""
        await self.server.start()

    async def close(self) -> None:
        await self.server.close()

    def take(self, buffer: bytearray) -> tuple[bytes, bool] | None:
        """Answer the request at the front of ``buffer``. Raises: Refusal."""
        end = buffer.find(b"\n\n")
        if end < 0:
            if len(buffer) - buffer.rfind(b"\n") > MAX_LINE:
                raise Refusal(f"bad request: a line longer than {MAX_LINE} bytes")
            return None
        lines = bytes(buffer[:end]).split(b"\n")
        del buffer[: end + 2]
        if len(lines) > MAX_ATTRIBUTES or any(len(line) > MAX_LINE for line in lines):
            raise Refusal(f"bad request: over {MAX_ATTRIBUTES} lines or a line over {MAX_LINE}")
        if not lines[0]:
            raise Refusal("bad request: an empty request")
        try:
            attrs = parse_request(lines)
        except BadRequest as exc:
            raise Refusal(f"bad request: {exc}") from None
        self.answered += 1
        answer = decide(attrs, self.table, self.point, self.jails, self.now())
        if answer == "action=DUNNO":
            return DUNNO, True
        self.refused += 1
        return answer.encode() + b"\n\n", True
