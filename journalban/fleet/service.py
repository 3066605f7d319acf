"""The fleet task: publish the outbox, apply the stream, watch the clock.

Runs as one more task of the agent's event loop when ``fleet:`` is
configured. Publishing reads the outbox the agent's commits filled and
forgets an entry only once the server stored it (a message id per entry lets
the server drop a repeat after a crash). Applying follows the stream from
the position committed with the last bans it caused, through ``FleetIntake``
(trust, rate limits, quorum) and the agent's ``RemotePort`` (this host's
rules, one commit with the new position). Nothing here raises past the loop:
a lost server, a refused publish or a bad message is counted and retried.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Sequence
from typing import Any

from journalban.addresses import stored_network
from journalban.clock import Clock
from journalban.config.fleet import FleetConfig
from journalban.decisions.remote import RemoteOrder, RemotePort
from journalban.events import Ban
from journalban.fleet.intake import FleetIntake
from journalban.fleet.ledger import FleetLedger, OutboxEntry
from journalban.fleet.link import FleetLink, NatsMsg, StreamState
from journalban.fleet.messages import (
    ban_subject,
    encode_ban,
    encode_member,
    member_subject,
    parse_reply,
)
from journalban.fleet.purge import PurgeSchedule
from journalban.fleet.resend import look_up
from journalban.fleet.status import FleetStatus
from journalban.fleet.tasks import run_until_one_fails

log = logging.getLogger("journalban.fleet")
PUBLISH_BATCH = 2000
APPLY_BATCH = 2000  # remote bans decided at once: the event loop waits for them
RETRY = 1.0
CLOCK_INTERVAL = 30.0
STATUS_INTERVAL = 1.0
STALL_AFTER = 5.0  # seconds behind the stream with nothing delivered: subscribe again
# Seconds without an answer about the stream from its leader through this
# connection: connect again (to a server picked at random) rather than stay on
# one that cannot reach the rest of the cluster.
NO_STREAM_AFTER = 30.0


class FleetService:
    """Publisher and consumer of one host in one fleet."""

    def __init__(
        self,
        config: FleetConfig,
        port: RemotePort,
        ledger: FleetLedger,
        clock: Clock,
        own_addresses: Sequence[str],
    ) -> None:
        self.config = config
        self.port = port
        self.ledger = ledger
        self.clock = clock
        self.own_addresses = sorted({*own_addresses, *config.addresses})
        self.status = FleetStatus(config.name, config.host)
        self.offset = 0.0  # this host's clock minus the server's, once it exceeds the bound
        self._wake = asyncio.Event()
        self._delivered = asyncio.Event()
        self._resubscribe = asyncio.Event()
        # Set on every reconnect: the servers may have lost the consumer (an
        # ordered consumer is one server's, in memory) or restored it without its state.
        self._reconnected = asyncio.Event()
        self._leaderless = False  # the last answer about the stream came without a leader
        self._enqueued = 0  # the stream sequence of the last message queued to apply
        self._cseq = 0  # the consumer sequence of the last delivery
        self._queue: asyncio.Queue[NatsMsg] = asyncio.Queue(APPLY_BATCH * 4)
        # Lifting bans whose message left the stream: (below, read up to) when due.
        self._trim: tuple[int, int] | None = None
        self._held_below = 0
        self._purge = None if config.purge is None else PurgeSchedule(
            config, config.purge, clock, server_now=lambda: clock.now() - self.offset,
            status=self.status,
        )  # fmt: skip
        self.intake = FleetIntake(
            config,
            to_local=lambda t: t + self.offset,
            now=clock.now,
            members=ledger.members(),
            reports=ledger.reports(clock.now() - config.quorum_window) if config.quorum > 1 else (),
        )
        self.status.position = ledger.position()

    # --- what the agent calls ----------------------------------------------------

    def wake(self) -> None:
        """The outbox may have grown (called after a commit)."""
        self._wake.set()

    def banned(self, ban: Ban) -> None:
        self._wake.set()

    def unbanned(self, ban: Ban, reason: str) -> None:
        pass

    def reloaded(self) -> None:
        pass

    def status_changed(self, jails: Sequence[str]) -> None:
        pass

    def status_dict(self) -> dict[str, Any]:
        self.status.skipped = dict(self.intake.counts)
        return self.status.as_dict()

    # --- the loop ------------------------------------------------------------------

    def _event(self, kind: str, text: str) -> None:
        if kind == "disconnected":
            self.status.connected = False
            log.warning("fleet %s: disconnected from the NATS servers", self.config.name)
        elif kind == "reconnected":
            self.status.connected = True
            self._reconnected.set()
            log.info("fleet %s: reconnected", self.config.name)
        else:
            self.status.last_error = text[:300]

    async def run(self) -> None:
        """Run until cancelled; reconnects after any failure."""
        while True:
            link: FleetLink | None = None
            try:
                link = await FleetLink.open(self.config, self._event)
                self.status.connected = True
                stream, since = await link.ensure_stream(), _now()
                while not self._led(stream):  # a copy that may be behind: not the stream
                    _no_stream_since(since)
                    await asyncio.sleep(STATUS_INTERVAL)
                    stream = await link.ensure_stream()
                log.info("fleet %s: connected to %s as %s (stream %s at %d)", self.config.name,
                         link.server, self.config.host, self.config.stream, stream.last)  # fmt: skip
                await self._session(link, stream.first, stream.last)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                self.status.last_error = f"{type(exc).__name__}: {exc}"[:300]
                self.status.connected = False
                log.warning("fleet %s: %s; retrying", self.config.name, self.status.last_error)
            finally:
                if link is not None:
                    await link.close()
            await asyncio.sleep(RETRY)

    def _led(self, stream: StreamState) -> bool:
        """Whether ``stream`` tells where the stream ends; says once when it does not."""
        if not stream.led and not self._leaderless:
            log.warning("fleet %s: the stream has no leader (the servers answer with their own"
                        " copy, which may be behind); waiting for one", self.config.name)  # fmt: skip
        elif stream.led and self._leaderless:
            log.info("fleet %s: the stream has a leader again", self.config.name)
        self._leaderless = not stream.led
        return stream.led

    async def _session(self, link: FleetLink, first: int, last: int) -> None:
        # Committed, not remembered: an apply of the last session may have ended after it.
        position = await self.port.committed_position(self.config.stream)
        self._trim, self._held_below = None, 0
        if last < position:
            log.warning("fleet %s: the stream is behind this host's position %d (re-created?);"
                        " reading it from the start", self.config.name, position)  # fmt: skip
            position = 0
            await self.port.forget_held(self.config.stream)  # its messages are all gone
        elif position == 0 and first > 1:
            log.info("fleet %s: joining; reading the stream from its oldest message %d",
                     self.config.name, first)  # fmt: skip
        elif position + 1 < first:
            log.warning("fleet %s: the stream was trimmed past this host's position %d;"
                        " reconciling from its oldest message %d", self.config.name, position, first)  # fmt: skip
        self.status.position = position
        self.status.stream_last = last
        loops = [self._publish_loop(link), self._clock_loop(link)]
        if self._purge is not None:
            loops.append(self._purge.run())
        if self.config.apply:
            loops += [self._apply_loop(), self._follow_loop(link)]
        await run_until_one_fails(loops)

    # --- publishing ------------------------------------------------------------------

    async def _publish_loop(self, link: FleetLink) -> None:
        while True:
            self._wake.clear()  # before reading: a commit after the read wakes us again
            entries = await asyncio.to_thread(self.ledger.pending, PUBLISH_BATCH)
            if not entries:
                self.status.outbox = 0
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), 0.5)
                continue
            now = self.clock.now()
            gone = [e.id for e in entries if _expired(e, now)]
            live = [e for e in entries if not _expired(e, now)]
            items = [self._message(e) for e in live]
            try:
                held = await look_up(live, items, link.last_msg_id, now)
                if held:  # stored before a crash or a lost acknowledgement
                    gone += [e.id for e in live if e.id in held]
                    kept = [i for i, e in enumerate(live) if e.id not in held]
                    live, items = [live[i] for i in kept], [items[i] for i in kept]
                await asyncio.to_thread(self.ledger.mark_sent, live, now)
                stored = await link.publish(items, wait=5.0) if items else []
            except Exception as exc:
                stored = []
                self.status.last_error = f"publish: {type(exc).__name__}: {exc}"[:300]
            # Only the entries before the first failure: a later state of a subject
            # must never be overtaken by an earlier one published again.
            ok = 0
            while ok < len(stored) and stored[ok]:
                ok += 1
            done = gone + [e.id for e in live[:ok]]
            await asyncio.to_thread(self.ledger.done, done)
            self.status.published += ok
            if ok < len(live):
                self.status.outbox = await asyncio.to_thread(self.ledger.outbox_size)
                await asyncio.sleep(RETRY)

    def _message(self, e: OutboxEntry) -> tuple[str, bytes, str]:
        network = stored_network(e.network)
        subject = ban_subject(self.config.prefix, self.config.host, e.jail, network)
        server = -self.offset  # local time to the server's
        expires = None if e.expires_at is None else e.expires_at + server
        body = encode_ban(e.op, e.banned_at + server, expires, e.reason)
        # The entry's time too: ids start again at 1 in a state database made anew,
        # and the server would drop those within its duplicate window.
        return subject, body, f"{self.config.host}-{e.id}-{int(e.banned_at * 1000)}"

    # --- the clock -------------------------------------------------------------------

    async def _clock_loop(self, link: FleetLink) -> None:
        """Announce this host's addresses; measure its clock against the server's."""
        subject = member_subject(self.config.prefix, self.config.host)
        body = encode_member(self.own_addresses[:64])
        while True:
            try:
                sent = self.clock.now()
                seq = await link.publish_one(subject, body)
                back = self.clock.now()
                server = await link.message_time(seq)
                self._measured((sent + back) / 2 - server, back - sent)
            except Exception as exc:
                self.status.last_error = f"clock: {type(exc).__name__}: {exc}"[:300]
            if self.config.quorum > 1:
                before = self.clock.now() - self.config.quorum_window
                self.intake.prune(before)
                await asyncio.to_thread(self.ledger.prune_reports, before)
            await asyncio.sleep(CLOCK_INTERVAL)

    def _measured(self, offset: float, rtt: float) -> None:
        self.status.clock_offset = round(offset, 3)
        bound = self.config.max_clock_offset
        if abs(offset) > bound + rtt:
            if self.status.clock_ok:
                log.warning("fleet %s: this host's clock is %.1f s off the server's; expiries"
                            " are corrected by it", self.config.name, offset)  # fmt: skip
            self.status.clock_ok = False
            self.offset = offset
        else:
            self.status.clock_ok = True
            self.offset = 0.0

    # --- applying --------------------------------------------------------------------

    async def _follow_loop(self, link: FleetLink) -> None:
        """Keep a subscription from the applied position; subscribe again if it stalls."""

        async def deliver(msg: NatsMsg) -> None:
            self._delivered.set()
            if self._resubscribe.is_set():
                return  # after a gap: dropped until the subscription starts again
            where = parse_reply(msg.reply or "")
            if where is not None:
                seq, cseq, _ = where
                if cseq not in (1, self._cseq + 1):
                    # A delivery went missing (the client dropped it): everything
                    # after it waits for a subscription from the last one queued.
                    self.intake.count("gaps")
                    self._resubscribe.set()
                    return
                self._cseq = cseq
                if seq <= self._enqueued:
                    return  # delivered again after a reset
                # Counted once queued: a new subscription cancels this one's task
                # while it waits for room, and must ask for this message again.
                await self._queue.put(msg)
                self._enqueued = seq
                return
            await self._queue.put(msg)

        async def subscribe() -> None:
            self._resubscribe.clear()
            self._cseq = 0
            await link.follow(self._enqueued, deliver)

        self._enqueued = self.status.position
        self._reconnected.clear()  # a new connection: subscribing now
        await subscribe()
        answered = _now()
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._resubscribe.wait(), STATUS_INTERVAL)
            if self._resubscribe.is_set():
                log.info("fleet %s: a delivery went missing after %d; subscribing again",
                         self.config.name, self._enqueued)  # fmt: skip
                await subscribe()
                continue
            try:
                stream = await link.ensure_stream()
            except Exception as exc:
                self.status.last_error = f"stream: {type(exc).__name__}: {exc}"[:300]
                _no_stream_since(answered)
                continue
            if not self._led(stream):
                _no_stream_since(answered)
                continue
            answered = _now()
            if self._reconnected.is_set():  # and the stream answers again
                self._reconnected.clear()
                log.info("fleet %s: reconnected; following the stream again after %d",
                         self.config.name, self._enqueued)  # fmt: skip
                await subscribe()
            first, last = stream.first, stream.last
            if last < self.status.position:
                raise StreamReset(
                    f"the stream ends at {last}, before position {self.status.position}"
                )
            self.status.stream_last = last
            await self._reconcile(first, last)
            self.status.server = link.server
            self.status.connected = bool(link.server)
            self.status.outbox = await asyncio.to_thread(self.ledger.outbox_size)
            if self.status.lag and self._queue.empty() and not self._delivered.is_set():
                stalled_for = getattr(self, "_stalled", 0.0) + STATUS_INTERVAL
                self._stalled = stalled_for
                if stalled_for >= STALL_AFTER:
                    log.info("fleet %s: delivery stalled %d behind; subscribing again",
                             self.config.name, self.status.lag)  # fmt: skip
                    self._stalled = 0.0
                    await subscribe()
            else:
                self._stalled = 0.0
            self._delivered.clear()

    async def _reconcile(self, first: int, last: int) -> None:
        """Lift the fleet bans whose message the stream no longer holds.

        Everything below ``first`` left the stream (``max_age``, a limit, a
        purge). A ban held here is tied to the latest message carrying it, so
        once this host has read up to ``last`` (a later message would have
        renewed the tie), a tie below ``first`` is a ban nobody carries any more:
        a host joining now would not have it, and neither does this one.
        """
        below = first if 0 < first <= last else last + 1  # an empty stream holds nothing
        if self._trim is None and below > self._held_below:
            self._trim = (below, last)
        if self._trim is None or self.status.position < self._trim[1]:
            return
        below = self._trim[0]
        lifted = await self.port.lift_unheld(self.config.stream, below)
        self._trim, self._held_below = None, below
        if lifted:
            self.status.withdrawn += lifted
            log.info("fleet %s: lifted %d fleet ban(s) whose message left the stream"
                     " (before sequence %d)", self.config.name, lifted, below)  # fmt: skip

    async def _apply_loop(self) -> None:
        while True:
            batch = [await self._queue.get()]
            while len(batch) < APPLY_BATCH and not self._queue.empty():
                batch.append(self._queue.get_nowait())
            await self._apply(batch)

    async def _apply(self, batch: list[NatsMsg]) -> None:
        orders: list[RemoteOrder] = []
        position = self.status.position
        take = self.intake.take
        for msg in batch:
            where = parse_reply(msg.reply or "")
            if where is None:
                self.intake.count("malformed")
                continue
            seq, _, server_time = where
            if seq <= position:
                continue  # delivered again after a reset: applied already
            position = seq
            order = take(msg.subject, msg.data, server_time, seq)
            if order is not None:
                orders.append(order)
        if position == self.status.position:
            return
        learnt = self.intake.take_learnt()
        self.ledger.stage_learnt(position, learnt.reports, learnt.members)
        outcome = await self.port.apply_remote(orders, self.config.stream, position)
        self.status.position = position
        self.status.applied += outcome.applied
        self.status.lifted += outcome.lifted
        for why, n in outcome.refused.items():
            self.intake.count(why, n)


class StreamReset(Exception):
    """The stream was deleted and made again: the session starts over (see ``_session``)."""


class NoStream(Exception):
    """No answer about the stream from its leader: the session starts over, connecting again."""


def _now() -> float:
    return asyncio.get_running_loop().time()


def _no_stream_since(since: float) -> None:
    """Raises: NoStream once ``NO_STREAM_AFTER`` seconds passed since ``since`` (``_now``)."""
    if _now() - since > NO_STREAM_AFTER:
        raise NoStream(f"no answer about the stream from its leader in {NO_STREAM_AFTER:.0f} s")


def _expired(entry: OutboxEntry, now: float) -> bool:
    return entry.op == "ban" and entry.expires_at is not None and entry.expires_at <= now
