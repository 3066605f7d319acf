"""Deleting the stream's expired bans: the administrator's chore (``journalban fleet-purge``).

Hosts may not delete messages (their permissions stop at publishing under
their own name), so the stream keeps an expired ban's message, the latest of
its subject, until ``max_age``. The administrator's user may: this reads the
stream once and deletes every ban whose expiry passed. Unbans and member
announcements stay, as a joining host needs them. ``PurgeSchedule`` does it
every ``fleet.purge.every`` in the agent of the one host given that user.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

import nats
from nats.aio.msg import Msg
from nats.js.api import ConsumerConfig, DeliverPolicy

from journalban.clock import Clock
from journalban.config.fleet import FleetConfig, FleetPurge
from journalban.fleet.link import connect_options
from journalban.fleet.messages import BanMessage, Malformed, decode

if TYPE_CHECKING:
    from journalban.fleet.status import FleetStatus

IDLE = 2.0  # seconds without a delivery: the stream was read
RETRY = 60.0  # seconds before a failed automatic purge is tried again (at most)
log = logging.getLogger("journalban.fleet")


async def purge_expired(
    fleet: FleetConfig,
    user: str | None,
    password: str | None,
    credentials: Path | None,
    now: float,
) -> tuple[int, int]:
    """(messages deleted, messages kept). Raises: nats errors (refused, unreachable)."""
    opts = connect_options(fleet, lambda kind, text: None)
    opts.update(name="journalban fleet-purge", allow_reconnect=False, inbox_prefix="_INBOX")
    for key in ("user", "password", "user_credentials"):
        opts.pop(key, None)
    if credentials is not None:
        opts["user_credentials"] = str(credentials)
    elif user is not None:
        opts.update(user=user, password=password or "")
    nc = await nats.connect(**opts)
    try:
        js = nc.jetstream(timeout=10.0)
        info = await js.stream_info(fleet.stream)
        if not info.state.messages:
            return 0, 0
        expired: list[int] = []
        kept = 0
        queue: asyncio.Queue[Msg] = asyncio.Queue()

        async def take(msg: Msg) -> None:
            await queue.put(msg)

        sub = await js.subscribe(
            f"{fleet.prefix}.>", stream=fleet.stream, ordered_consumer=True, cb=take,
            manual_ack=True, pending_msgs_limit=0, pending_bytes_limit=0,
            config=ConsumerConfig(deliver_policy=DeliverPolicy.ALL),
        )  # fmt: skip
        try:
            while True:
                try:
                    msg = await asyncio.wait_for(queue.get(), IDLE)
                except TimeoutError:
                    break
                meta = msg.metadata
                try:
                    parsed = decode(fleet.prefix, msg.subject, msg.data)
                except Malformed:
                    parsed = None
                if (
                    isinstance(parsed, BanMessage)
                    and parsed.op == "ban"
                    and parsed.expires_at is not None
                    and parsed.expires_at <= now
                ):
                    expired.append(meta.sequence.stream)
                else:
                    kept += 1
                if meta.num_pending == 0:
                    break
        finally:
            with contextlib.suppress(Exception):
                await sub.unsubscribe()
        for seq in expired:
            await js.delete_msg(fleet.stream, seq)
        return len(expired), kept
    finally:
        await nc.close()


class PurgeSchedule:
    """The automatic purge of the one host given ``fleet.purge`` (the admin's user).

    The schedule outlives the agent's sessions with the servers: a connection
    lost and found again does not read the whole stream once more.
    """

    def __init__(
        self,
        fleet: FleetConfig,
        purge: FleetPurge,
        clock: Clock,
        server_now: Callable[[], float],
        status: FleetStatus,
    ) -> None:
        self.fleet, self.purge, self.clock = fleet, purge, clock
        self.server_now = server_now  # the servers' time, as ban bodies carry it
        self.status = status
        self.due = 0.0  # monotonic time of the next purge

    async def run(self) -> None:
        purge = self.purge
        while True:
            wait = self.due - self.clock.monotonic()
            if wait > 0:
                await asyncio.sleep(wait)
            self.due = self.clock.monotonic() + purge.every
            try:
                password = None
                if purge.password_file:
                    text = await asyncio.to_thread(Path(purge.password_file).read_text)
                    password = text.strip()
                creds = Path(purge.credentials) if purge.credentials else None
                deleted, _ = await purge_expired(
                    self.fleet, purge.user, password, creds, self.server_now()
                )
                self.status.purged += deleted
                if deleted:
                    log.info("fleet %s: deleted %d expired ban(s) from the stream",
                             self.fleet.name, deleted)  # fmt: skip
            except Exception as exc:
                self.status.last_error = f"purge: {type(exc).__name__}: {exc}"[:300]
                log.warning("fleet %s: %s", self.fleet.name, self.status.last_error)
                self.due = self.clock.monotonic() + min(purge.every, RETRY)
