"""Just enough HTTP/1.1 for a policy server on loopback: bounded requests, keep-alive.

Reads one request at a time from a stream: the request line, at most 50
header lines, and a body of at most ``max_body`` bytes given by
Content-Length (chunked bodies are refused: Dovecot's client sends a
length). Anything else is an ``HttpError`` carrying the status to answer.
"""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs, urlsplit

MAX_LINE = 8192
MAX_HEADERS = 50
REQUEST_TIMEOUT = 10.0
IDLE_TIMEOUT = 60.0
REASONS = {200: "OK", 400: "Bad Request", 401: "Unauthorized", 404: "Not Found",
           405: "Method Not Allowed", 408: "Request Timeout", 411: "Length Required",
           413: "Content Too Large", 501: "Not Implemented"}  # fmt: skip


class HttpError(Exception):
    """A request this server will not take: answered with ``status``, then the connection closes."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


@dataclass(frozen=True, slots=True)
class Request:
    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]  # lower-case names
    body: bytes

    @property
    def keep_alive(self) -> bool:
        return self.headers.get("connection", "").lower() != "close"

    def json_object(self) -> dict[str, Any]:
        """The body as a JSON object. Raises: HttpError (400)."""
        try:
            data = json.loads(self.body)
        except (ValueError, UnicodeDecodeError):
            raise HttpError(400, "the body is not JSON") from None
        if not isinstance(data, dict):
            raise HttpError(400, "the body is not a JSON object")
        return data


async def read_request(reader: asyncio.StreamReader, max_body: int) -> Request | None:
    """The next request; None when the client closed between requests.

    Raises:
        HttpError: a malformed, oversized or too slow request.
    """
    try:
        line = await asyncio.wait_for(reader.readuntil(b"\n"), IDLE_TIMEOUT)
    except asyncio.IncompleteReadError as exc:
        if not exc.partial:
            return None
        raise HttpError(400, "connection closed in the request line") from None
    except TimeoutError:
        return None  # idle keep-alive connection: close it quietly
    except asyncio.LimitOverrunError:
        raise HttpError(400, "request line too long") from None
    try:
        return await asyncio.wait_for(_rest(reader, line, max_body), REQUEST_TIMEOUT)
    except TimeoutError:
        raise HttpError(408, "a client took too long to send its request") from None


async def _rest(reader: asyncio.StreamReader, first: bytes, max_body: int) -> Request:
    parts = first.decode("latin-1").strip().split(" ")
    if len(parts) != 3 or not parts[2].startswith("HTTP/1."):
        raise HttpError(400, f"not an HTTP/1.x request line: {first[:60]!r}")
    method, target, _ = parts
    headers: dict[str, str] = {}
    for _ in range(MAX_HEADERS + 1):
        try:
            raw = await reader.readuntil(b"\n")
        except asyncio.IncompleteReadError:
            raise HttpError(400, "connection closed in the headers") from None
        except asyncio.LimitOverrunError:
            raise HttpError(400, "header line too long") from None
        text = raw.decode("latin-1").strip()
        if not text:
            break
        name, sep, value = text.partition(":")
        if not sep or not name or " " in name:
            raise HttpError(400, f"not a header line: {text[:60]!r}")
        headers[name.strip().lower()] = value.strip()
    else:
        raise HttpError(400, f"more than {MAX_HEADERS} headers")
    if "transfer-encoding" in headers:
        raise HttpError(501, "chunked bodies are not taken; send Content-Length")
    length_text = headers.get("content-length", "0")
    if not length_text.isdigit():
        raise HttpError(400, f"bad Content-Length {length_text[:20]!r}")
    length = int(length_text)
    if length > max_body:
        raise HttpError(413, f"a body of {length} bytes (at most {max_body})")
    try:
        body = await reader.readexactly(length)
    except asyncio.IncompleteReadError:
        raise HttpError(400, "connection closed in the body") from None
    url = urlsplit(target)
    return Request(method, url.path, parse_qs(url.query), headers, body)


def response(status: int, body: dict[str, Any], keep_alive: bool = True) -> bytes:
    payload = json.dumps(body, separators=(",", ":")).encode()
    head = (
        f"HTTP/1.1 {status} {REASONS.get(status, 'Error')}\r\n"
        f"Content-Type: application/json\r\nContent-Length: {len(payload)}\r\n"
        f"Connection: {'keep-alive' if keep_alive else 'close'}\r\n\r\n"
    )
    return head.encode() + payload
