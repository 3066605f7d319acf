"""The NATS JetStream connection: the only module that imports nats-py.

nats-py is an optional extra (``journalban[fleet]``); the core never imports
this module, and the agent imports it only when ``fleet:`` is configured.
"""

from __future__ import annotations

import asyncio
import contextlib
import ssl
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import nats
from nats.aio.client import Client
from nats.aio.msg import Msg
from nats.aio.subscription import Subscription
from nats.js import JetStreamContext
from nats.js.api import ConsumerConfig, DeliverPolicy, StorageType, StreamConfig
from nats.js.errors import NotFoundError

from journalban.config.fleet import FleetConfig

DUPLICATE_WINDOW = 120.0  # seconds the server remembers a Nats-Msg-Id

NatsMsg = Msg


@dataclass(frozen=True, slots=True)
class StreamState:
    """The fleet stream's first and last sequence, as one server answered them.

    ``led`` is False when the answer came from a server whose copy of the
    stream has no leader: after a restart such a server answers with its own
    copy, which may be behind what the others stored while it was down. Only
    a led answer tells where the stream ends.
    """

    first: int
    last: int
    led: bool


def connect_options(config: FleetConfig, on_event: Callable[[str, str], None]) -> dict[str, Any]:
    """Options for ``nats.connect``: servers, credentials, TLS, reconnecting forever."""

    async def error_cb(exc: Exception) -> None:
        on_event("error", f"{type(exc).__name__}: {exc}")

    async def disconnected_cb() -> None:
        on_event("disconnected", "")

    async def reconnected_cb() -> None:
        on_event("reconnected", "")

    opts: dict[str, Any] = {
        "servers": list(config.servers),
        "name": f"journalban {config.host}",
        "inbox_prefix": f"_INBOX_{config.host}",
        "allow_reconnect": True,
        "max_reconnect_attempts": -1,
        "reconnect_time_wait": 0.5,
        "connect_timeout": 2,
        "ping_interval": 5,
        "max_outstanding_pings": 2,
        "error_cb": error_cb,
        "disconnected_cb": disconnected_cb,
        "reconnected_cb": reconnected_cb,
    }
    if config.credentials:
        opts["user_credentials"] = config.credentials
    if config.user:
        opts["user"] = config.user
        if config.password_file:
            opts["password"] = Path(config.password_file).read_text().strip()
    if config.tls is not None:
        ctx = ssl.create_default_context(cafile=config.tls.ca)
        if config.tls.cert and config.tls.key:
            ctx.load_cert_chain(config.tls.cert, config.tls.key)
        opts["tls"] = ctx
    return opts


class FleetLink:
    """One connection to the fleet's servers and its stream."""

    def __init__(self, config: FleetConfig, nc: Client) -> None:
        self.config = config
        self.nc = nc
        self.js: JetStreamContext = nc.jetstream(timeout=5.0)
        self.sub: Subscription | None = None

    @classmethod
    async def open(cls, config: FleetConfig, on_event: Callable[[str, str], None]) -> FleetLink:
        """Raises: OSError, nats errors (no server reachable)."""
        nc = await nats.connect(**connect_options(config, on_event))
        return cls(config, nc)

    @property
    def server(self) -> str:
        url = self.nc.connected_url
        return "" if url is None or not self.nc.is_connected else url.netloc

    async def close(self) -> None:
        with contextlib.suppress(Exception):  # closing a broken connection
            await self.nc.close()

    async def ensure_stream(self) -> StreamState:
        """The fleet's stream as this server sees it, created if missing and allowed."""
        name = self.config.stream
        try:
            info = await self.js.stream_info(name)
        except NotFoundError:
            info = await self.js.add_stream(
                StreamConfig(
                    name=name,
                    subjects=[f"{self.config.prefix}.>"],
                    max_msgs_per_subject=1,
                    max_age=self.config.max_age,
                    storage=StorageType.FILE,
                    num_replicas=min(3, len(self.config.servers)),
                    duplicate_window=DUPLICATE_WINDOW,
                )
            )
        state, cluster = info.state, info.cluster
        # A single server names itself leader; a clustered copy without a leader names none.
        led = cluster is None or bool(cluster.leader)
        return StreamState(int(state.first_seq), int(state.last_seq), led)

    async def publish(self, items: list[tuple[str, bytes, str]], wait: float) -> list[bool]:
        """Publish (subject, body, message id) items; whether each was stored in ``wait`` s."""
        futures = []
        async with asyncio.timeout(wait):
            for subject, body, msg_id in items:
                futures.append(
                    await self.js.publish_async(
                        subject, body, wait_stall=wait, headers={"Nats-Msg-Id": msg_id}
                    )
                )
            done = await asyncio.gather(*futures, return_exceptions=True)
        return [not isinstance(result, BaseException) for result in done]

    async def publish_one(self, subject: str, body: bytes) -> int:
        ack = await self.js.publish(subject, body)
        return int(ack.seq)

    async def last_msg_id(self, subject: str) -> str | None:
        """The ``Nats-Msg-Id`` of the last message of ``subject`` (None: no message)."""
        try:
            msg = await self.js.get_msg(self.config.stream, subject=subject)
        except NotFoundError:
            return None
        return (msg.headers or {}).get("Nats-Msg-Id")

    async def message_time(self, seq: int) -> float:
        """The server's timestamp of a stored message."""
        msg = await self.js.get_msg(self.config.stream, seq)
        if msg.time is None:
            raise ValueError("no time")
        return msg.time.timestamp()

    async def follow(self, after: int, handler: Callable[[Msg], Awaitable[None]]) -> None:
        """Deliver the stream's messages after sequence ``after`` to ``handler``, in order."""
        await self.unfollow()
        self.sub = await self.js.subscribe(
            f"{self.config.prefix}.>",
            stream=self.config.stream,
            ordered_consumer=True,
            config=ConsumerConfig(
                deliver_policy=DeliverPolicy.BY_START_SEQUENCE, opt_start_seq=after + 1
            ),
            cb=handler,
            manual_ack=True,
            # Unbounded here, bounded by the server's flow control: nats-py drops a
            # message over these limits after counting it as delivered, and an
            # ordered consumer would then never deliver it again.
            pending_msgs_limit=0,
            pending_bytes_limit=0,
        )

    async def unfollow(self) -> None:
        if self.sub is not None:
            sub, self.sub = self.sub, None
            with contextlib.suppress(Exception):  # the connection may be gone
                await sub.unsubscribe()
