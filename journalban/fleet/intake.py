"""What this host does with each message of the stream, before the decisions stage.

Trust comes from the subject alone (the server lets a host publish only under
its own name): the origin is the subject's, this host's own messages are
skipped, each origin's bans and unbans are rate-limited by the server's
timestamps (so a backlog read late is judged as it was published), no remote
ban may cover a fleet member's announced addresses, and with ``quorum`` above
one an address is banned (or unbanned) only once that many distinct origins
reported it within ``quorum_window``. The result is ``RemoteOrder``s; this
host's own rules (ignore lists, jails, expiry) are the decisions stage's.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from journalban.addresses import IPNetwork, network_text, parse_network
from journalban.config.fleet import FleetConfig
from journalban.decisions.remote import RemoteOrder
from journalban.errors import AddressError
from journalban.fleet.ledger import Report
from journalban.fleet.messages import BanMessage, Malformed, MemberMessage, decode


@dataclass
class TokenBucket:
    """``rate`` a second with bursts of ``burst``, on the times given (not a clock)."""

    rate: float
    burst: int
    tokens: float = -1.0
    last: float = 0.0

    def allow(self, when: float) -> bool:
        if self.tokens < 0:
            self.tokens, self.last = float(self.burst), when
        elapsed = when - self.last
        if elapsed > 0:
            self.tokens = min(float(self.burst), self.tokens + elapsed * self.rate)
            self.last = when
        if self.tokens < 1:
            return False
        self.tokens -= 1
        return True


@dataclass
class Learnt:
    """Reports and member addresses to commit with the position they were read at."""

    reports: list[Report] = field(default_factory=list)
    members: dict[str, str] = field(default_factory=dict)


class FleetIntake:
    """Turns stream messages into orders for the decisions stage; counts what it skips."""

    def __init__(
        self,
        config: FleetConfig,
        to_local: Callable[[float], float],
        now: Callable[[], float],
        members: dict[str, list[str]],
        reports: Iterable[Report] = (),
    ) -> None:
        self.config = config
        self.prefix = config.prefix
        self.to_local = to_local
        self.now = now
        self.counts: dict[str, int] = {}
        self._ban_buckets: dict[str, TokenBucket] = {}
        self._unban_buckets: dict[str, TokenBucket] = {}
        self.members: dict[str, tuple[IPNetwork, ...]] = {}
        for host, texts in members.items():
            self.members[host] = tuple(_networks(texts))
        self.members[config.host] = tuple(_networks(config.addresses))
        self._member_ranges = _ranges(self.members)
        # (jail token, network text) -> origin -> (op, at, expires_at)
        self._reports: dict[tuple[str, str], dict[str, tuple[str, float, float | None]]] = {}
        for jail, net, origin, op, at, exp in reports:
            self._reports.setdefault((jail, net), {})[origin] = (op, at, exp)
        self.learnt = Learnt()

    def count(self, kind: str, n: int = 1) -> None:
        self.counts[kind] = self.counts.get(kind, 0) + n

    def member_networks(self) -> list[IPNetwork]:
        return [n for nets in self.members.values() for n in nets]

    def take(
        self, subject: str, data: bytes, server_time: float, seq: int = 0
    ) -> RemoteOrder | None:
        """The order the message at stream sequence ``seq`` makes, or None (counted)."""
        self.count("received")
        try:
            msg = decode(self.prefix, subject, data)
        except Malformed as exc:
            self.count(exc.kind)
            return None
        if isinstance(msg, MemberMessage):
            self.members[msg.host] = msg.addresses
            self._member_ranges = _ranges(self.members)
            self.learnt.members[msg.host] = json.dumps([str(n) for n in msg.addresses])
            self.count("members")
            return None
        if msg.origin == self.config.host:
            self.count("own")
            return None
        buckets, rate, burst = (
            (self._ban_buckets, self.config.ban_rate, self.config.ban_burst)
            if msg.op == "ban"
            else (self._unban_buckets, self.config.unban_rate, self.config.unban_burst)
        )
        bucket = buckets.get(msg.origin)
        if bucket is None:
            bucket = buckets[msg.origin] = TokenBucket(rate, burst)
        if not bucket.allow(server_time):
            self.count("rate_limited")
            return None
        if msg.op == "ban" and self._covers_member(msg.network):
            self.count("member")
            return None
        return self._quorum(msg, seq)

    def _covers_member(self, network: IPNetwork) -> bool:
        # Integers, not ipaddress's overlaps(): this runs for every message.
        version = network.version
        low = int(network.network_address)
        high = low | ((1 << (network.max_prefixlen - network.prefixlen)) - 1)
        return any(
            v == version and low <= last and first <= high for v, first, last in self._member_ranges
        )

    def _order(self, msg: BanMessage, seq: int) -> RemoteOrder:
        to_local = self.to_local
        expires = None if msg.expires_at is None else to_local(msg.expires_at)
        return RemoteOrder(
            msg.op, msg.jail, msg.network, to_local(msg.banned_at), expires, msg.origin,
            msg.reason, seq,
        )  # fmt: skip

    def _quorum(self, msg: BanMessage, seq: int) -> RemoteOrder | None:
        if self.config.quorum <= 1:
            return self._order(msg, seq)
        order = self._order(msg, seq)
        key = (msg.jail or "_", network_text(msg.network))
        reports = self._reports.setdefault(key, {})
        reports[msg.origin] = (msg.op, order.banned_at, order.expires_at)
        self.learnt.reports.append((*key, msg.origin, msg.op, order.banned_at, order.expires_at))
        since = self.now() - self.config.quorum_window
        agreeing = sum(1 for op, at, _ in reports.values() if op == msg.op and at >= since)
        if agreeing >= self.config.quorum:
            return order
        self.count("quorum_pending")
        return None

    def prune(self, before: float) -> None:
        """Forget the reports made before ``before`` (outside the quorum window)."""
        for key in [
            k for k, r in self._reports.items() if all(at < before for _, at, _ in r.values())
        ]:
            del self._reports[key]

    def take_learnt(self) -> Learnt:
        learnt, self.learnt = self.learnt, Learnt()
        return learnt


def _ranges(members: dict[str, tuple[IPNetwork, ...]]) -> tuple[tuple[int, int, int], ...]:
    """(version, first, last address as integers) of every member network."""
    return tuple(
        (n.version, int(n.network_address), int(n.network_address) | int(n.hostmask))
        for nets in members.values()
        for n in nets
    )


def _networks(texts: Iterable[str]) -> list[IPNetwork]:
    out = []
    for text in texts:
        try:
            out.append(parse_network(text))
        except AddressError:
            continue
    return out
