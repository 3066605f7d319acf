"""Just enough HTTP/1.1 for a policy server on loopback: bounded requests, keep-alive.

``take_request`` cuts one request off the front of a connection's buffer:
the request line, at most 50 header lines in 8 KiB, and a body of at most
``max_body`` bytes given by Content-Length (chunked bodies are refused:
Dovecot's client sends a length). Anything else is an ``HttpError``
carrying the status to answer.
"""

from __future__ import annotations

import functools
import json
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs

MAX_HEAD = 8192
MAX_HEADERS = 50
REASONS = {200: "OK", 400: "Bad Request", 401: "Unauthorized", 404: "Not Found",
           405: "Method Not Allowed", 411: "Length Required", 413: "Content Too Large",
           431: "Request Header Fields Too Large", 501: "Not Implemented"}  # fmt: skip


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


def take_request(buffer: bytearray, max_body: int) -> Request | None:
    """The request at the front of ``buffer``, removed from it; None while incomplete.

    Raises:
        HttpError: a malformed or oversized request.
    """
    end = buffer.find(b"\r\n\r\n")
    if end < 0:
        if len(buffer) > MAX_HEAD:
            raise HttpError(431, f"a request head over {MAX_HEAD} bytes")
        return None
    if end > MAX_HEAD:
        raise HttpError(431, f"a request head over {MAX_HEAD} bytes")
    lines = bytes(buffer[:end]).decode("latin-1").split("\r\n")
    parts = lines[0].split(" ")
    if len(parts) != 3 or not parts[2].startswith("HTTP/1."):
        raise HttpError(400, f"not an HTTP/1.x request line: {lines[0][:60]!r}")
    if len(lines) > MAX_HEADERS + 1:
        raise HttpError(431, f"more than {MAX_HEADERS} headers")
    headers: dict[str, str] = {}
    for text in lines[1:]:
        name, sep, value = text.partition(":")
        if not sep or not name or " " in name:
            raise HttpError(400, f"not a header line: {text[:60]!r}")
        headers[name.lower()] = value.strip()
    if "transfer-encoding" in headers:
        raise HttpError(501, "chunked bodies are not taken; send Content-Length")
    length_text = headers.get("content-length", "0")
    if not length_text.isdigit():
        raise HttpError(400, f"bad Content-Length {length_text[:20]!r}")
    length = int(length_text)
    if length > max_body:
        raise HttpError(413, f"a body of {length} bytes (at most {max_body})")
    start = end + 4
    if len(buffer) < start + length:
        return None
    body = bytes(buffer[start : start + length])
    del buffer[: start + length]
    path, _, query = parts[1].partition("?")
    return Request(parts[0], path, parse_qs(query), headers, body)


@functools.lru_cache(maxsize=64)
def _cached(status: int, payload: str, keep_alive: bool) -> bytes:
    return _response(status, payload.encode(), keep_alive)


def response(status: int, body: dict[str, Any], keep_alive: bool = True) -> bytes:
    """The whole HTTP response; the few answers a policy server repeats come from a cache."""
    if len(body) <= 2 and all(isinstance(v, int | str) for v in body.values()):
        return _cached(status, json.dumps(body, separators=(",", ":")), keep_alive)
    return _response(status, json.dumps(body, separators=(",", ":")).encode(), keep_alive)


def _response(status: int, payload: bytes, keep_alive: bool) -> bytes:
    head = (
        f"HTTP/1.1 {status} {REASONS.get(status, 'Error')}\r\n"
        f"Content-Type: application/json\r\nContent-Length: {len(payload)}\r\n"
        f"Connection: {'keep-alive' if keep_alive else 'close'}\r\n\r\n"
    )
    return head.encode() + payload
