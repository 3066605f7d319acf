"""Serving the metrics: HTTP on systemd's socket, and node_exporter's textfile.

The agent opens no socket itself: ``journalban-metrics.socket`` listens and
systemd hands the listening socket over (``LISTEN_FDS``, named ``metrics`` in
``LISTEN_FDNAMES``), so the hardened unit needs no address family and no IP
access it does not have. Only ``GET /metrics`` (and ``/``) is answered;
requests are small, bounded and time-limited.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket

from prometheus_client import CollectorRegistry
from prometheus_client.exposition import choose_encoder, write_to_textfile

log = logging.getLogger(__name__)

MAX_REQUEST = 8192
REQUEST_TIMEOUT = 5.0
MAX_CLIENTS = 8


class MetricsServer:
    """A minimal HTTP/1.0 responder for Prometheus scrapes over ``registry``."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self._registry = registry
        self._slots = asyncio.Semaphore(MAX_CLIENTS)

    async def serve(self, sock: socket.socket) -> None:
        """Answer scrapes on the listening ``sock`` until cancelled."""
        server = await asyncio.start_server(self._client, sock=sock, limit=MAX_REQUEST)
        async with server:
            await server.serve_forever()

    async def _client(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            if self._slots.locked():
                return  # too many at once: a scraper retries
            async with self._slots:
                request = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), REQUEST_TIMEOUT)
                status, headers, body = self.respond(request)
                head = [f"HTTP/1.0 {status}", *(f"{k}: {v}" for k, v in headers.items())]
                writer.write(("\r\n".join(head) + "\r\n\r\n").encode() + body)
                await asyncio.wait_for(writer.drain(), REQUEST_TIMEOUT)
        except (TimeoutError, asyncio.IncompleteReadError, asyncio.LimitOverrunError, OSError):
            pass  # a slow, oversized or vanished client: drop it
        except Exception:
            log.exception("metrics request failed")
        finally:
            writer.close()
            with contextlib.suppress(OSError):
                await writer.wait_closed()

    def respond(self, request: bytes) -> tuple[str, dict[str, str], bytes]:
        """Status line, headers and body for one raw request head."""
        lines = request.decode("latin-1").split("\r\n")
        parts = lines[0].split()
        if len(parts) != 3 or not parts[2].startswith("HTTP/"):
            return _text("400 Bad Request", "bad request\n")
        method, target = parts[0], parts[1].split("?", 1)[0]
        if method not in ("GET", "HEAD"):
            return _text("405 Method Not Allowed", "only GET\n")
        if target not in ("/metrics", "/"):
            return _text("404 Not Found", "the metrics are at /metrics\n")
        accept = ""
        for line in lines[1:]:
            key, _, value = line.partition(":")
            if key.strip().lower() == "accept":
                accept = value.strip()
        encode, content_type = choose_encoder(accept)
        body = encode(self._registry)
        headers = {"Content-Type": content_type, "Content-Length": str(len(body))}
        return "200 OK", headers, b"" if method == "HEAD" else body


def _text(status: str, message: str) -> tuple[str, dict[str, str], bytes]:
    body = message.encode()
    headers = {"Content-Type": "text/plain; charset=utf-8", "Content-Length": str(len(body))}
    return status, headers, body


async def write_textfile(path: str, interval: float, registry: CollectorRegistry) -> None:
    """Write the metrics to ``path`` (atomically) every ``interval`` seconds until cancelled."""
    failing = False
    while True:
        try:
            await asyncio.to_thread(write_to_textfile, path, registry)
            failing = False
        except OSError as exc:
            if not failing:  # once per run of failures, not every interval
                log.error("cannot write the metrics to %s: %s", path, exc)
            failing = True
        await asyncio.sleep(interval)
