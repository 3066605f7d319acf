"""The nftables backend: the builder's messages sent in netlink transactions."""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from itertools import groupby, repeat
from operator import itemgetter, mul, sub
from typing import Literal

from journalban.addresses import IPNetwork
from journalban.clock import Clock, SystemClock
from journalban.errors import BackendError, DumpInterrupted
from journalban.firewall.base import (
    BanEntry,
    JailCounters,
    JailRules,
    ReconcileReport,
    StoredBan,
    StoredReport,
)
from journalban.firewall.nftables import builder
from journalban.firewall.nftables.builder import SET_KINDS, NftOptions, SetKind
from journalban.firewall.nftables.elements import (
    V4_BLOCKS,
    V4_TIMED_SIZE,
    address_elements,
    block_elements,
    build_elements,
    network_elements,
    timed_address_elements,
    timed_v4_block,
)
from journalban.firewall.nftables.netlink import Message, NftSocket, is_missing
from journalban.firewall.nftables.plan import (
    INF,
    BanBook,
    ElementOp,
    key_of,
    network_of,
    set_and_verb,
    version_of,
)
from journalban.firewall.nftables.prefixes import check_prefix
from journalban.firewall.nftables.reader import read_counters, read_elements, read_table
from journalban.firewall.nftables.stored import book_of, key_text

log = logging.getLogger("journalban.firewall.nftables")

# A read of the sets this recent (setup's, just before a restore) is not repeated.
FRESH_READ = 1.0
# Slack when comparing our expiries with the kernel's: its clock ticks in jiffies.
KERNEL_SLACK = 2.0
# An op's expiry and key, a key's address (``map``: in C).
_EXPIRY, _KEY, _FIRST = itemgetter(3), itemgetter(2), itemgetter(0)
# Element operations per netlink transaction stream (each counts its timeouts afresh).
SEND_CHUNK = 20_000


class NftablesBackend:
    """Bans in the ``inet`` table of nf_tables, over one NETLINK_NETFILTER socket.

    The socket is opened on first use, in the network namespace of the thread
    that uses it first; all calls must then come from threads of that namespace.
    """

    name = "nftables"

    def __init__(
        self,
        table: str = "journalban",
        hook: Literal["input", "forward"] = "input",
        priority: int = -10,
        verdict: Literal["drop", "reject"] = "drop",
        min_prefix_v4: int = 16,
        min_prefix_v6: int = 32,
        protected_networks: Sequence[IPNetwork] = (),
        clock: Clock | None = None,
    ) -> None:
        if hook not in ("input", "forward"):
            raise ValueError(f"hook must be input or forward, not {hook!r}")
        if verdict not in ("drop", "reject"):
            raise ValueError(f"verdict must be drop or reject, not {verdict!r}")
        self.options = NftOptions(table, hook, priority, verdict)
        self.min_prefix_v4 = min_prefix_v4
        self.min_prefix_v6 = min_prefix_v6
        self.protected_networks = tuple(protected_networks)
        self._clock = clock or SystemClock()
        self.jails: dict[str, JailRules] = {}
        self._book = BanBook()
        self._sock: NftSocket | None = None
        self._read_at = -math.inf

    @property
    def sock(self) -> NftSocket:
        if self._sock is None:
            try:
                self._sock = NftSocket()
            except OSError as exc:
                raise BackendError(
                    f"cannot open a netfilter netlink socket: {exc}", exc.errno
                ) from exc
        return self._sock

    def close(self) -> None:
        if self._sock is not None:
            self._sock.close()
            self._sock = None

    def setup(self, jails: Sequence[JailRules]) -> None:
        """Create or adapt the table, keeping the bans already in the sets of kept jails.

        Raises:
            BackendError: the kernel refused, or a jail name cannot name a set.
        """
        try:
            messages = builder.build_setup(jails, self.options, self._existing())
        except ValueError as exc:
            raise BackendError(str(exc)) from exc
        self.sock.transact(messages)
        self.jails = {j.name: j for j in jails}
        self._book.clear()
        self._reload_held(now=None)

    def apply(self, add: Sequence[BanEntry], remove: Sequence[BanEntry], now: float) -> None:
        """Add and remove bans in one transaction (several for very large batches).

        Raises:
            AddressIgnored: a prefix is too wide or covers a protected address;
                nothing was changed.
            BackendError: the kernel refused the batch.
        """
        add = [e for e in add if e.jail in self.jails]
        for entry in add:
            if entry.network.prefixlen < entry.network.max_prefixlen or self.protected_networks:
                check_prefix(
                    entry.network, self.min_prefix_v4, self.min_prefix_v6, self.protected_networks
                )
        remove = [e for e in remove if e.jail in self.jails]
        ops = self._book.plan(add, remove, now)
        try:
            self._send(ops, now)
        except BackendError as exc:
            if not is_missing(exc):
                raise
            # An element we meant to delete or refresh had just expired in the kernel:
            # read what is really there and try once more.
            log.debug("element gone before its deletion; resynchronising")
            self._reload_held(now)
            self._send(self._book.plan_all(now, slack=0.0), now)

    def list(self, now: float) -> list[BanEntry]:
        """The elements the kernel holds, as bans; a cut prefix shows as its pieces."""
        self._reload_held(now)
        out: list[BanEntry] = []
        for (jail, kind), held in self._book.held.items():
            version = version_of(kind)
            out.extend(
                BanEntry(jail, network_of(key, version), None if exp == INF else exp)
                for key, exp in held.items()
            )
        return out

    def reconcile(self, wanted: Sequence[BanEntry], now: float) -> ReconcileReport:
        """Make the kernel hold exactly the elements ``wanted`` needs."""
        if self._clock.monotonic() - self._read_at > FRESH_READ:
            self._reload_held(now)
        held_any = any(self._book.held.values())
        recorded = [e for e in wanted if e.jail in self.jails]
        self._book.record(recorded, now)
        ops = self._book.plan_all(now, slack=KERNEL_SLACK)
        self._send(ops, now)
        added_keys = {(op.jail, op.key) for op in ops if not op.delete}
        if not added_keys:
            added: tuple[BanEntry, ...] = ()
        elif not held_any and not self._book.has_prefixes():
            # An empty table given only addresses: every ban still running got its element.
            added = tuple(e for e in recorded if e.expires_at is None or e.expires_at > now)
        else:
            added = tuple(e for e in wanted if (e.jail, key_of(e.network)) in added_keys)
        # A deleted element's op carries the expiry the kernel held.
        removed = tuple(
            BanEntry(op.jail, op.network, None if op.expiry == INF else op.expiry)
            for op in ops
            if op.delete and (op.jail, op.key) not in added_keys
        )
        return ReconcileReport(added, removed)

    def restore_stored(self, wanted: Sequence[StoredBan], now: float) -> StoredReport:
        """``reconcile`` for the bans as the state stores them (the agent's start)."""
        if self._clock.monotonic() - self._read_at > FRESH_READ:
            self._reload_held(now)
        held_any = any(self._book.held.values())
        self._book.take(book_of(wanted, self.jails, now))
        ops = self._book.plan_all(now, slack=KERNEL_SLACK)
        self._send(ops, now)
        if not held_any and not self._book.has_prefixes():
            # An empty table given only addresses: every ban still running got its element.
            return StoredReport(whole=frozenset(jail for jail, _ in self._book.bans))
        added = [op for op in ops if not op.delete]
        added_keys = {(op.jail, op.key) for op in added}
        return StoredReport(
            added=frozenset((op.jail, key_text(op.kind, op.key)) for op in added),
            removed=tuple(
                BanEntry(op.jail, op.network, None if op.expiry == INF else op.expiry)
                for op in ops
                if op.delete and (op.jail, op.key) not in added_keys
            ),
        )

    def intact(self) -> bool:
        """False when the table, a chain, a set or the base chain's rules are gone."""
        try:
            contents = read_table(self.sock, self.options.table)
        except DumpInterrupted:
            # The ruleset kept changing while it was read: nothing is known to be
            # missing, so no re-creation now; the next check reads it again.
            log.info("integrity check skipped: the ruleset kept changing while it was read")
            return True
        except BackendError:
            return False
        if contents is None:
            return False
        wanted = builder.wanted_names(list(self.jails.values()), self.options)
        if not (
            wanted.chains <= contents.names.chains
            and wanted.sets <= contents.names.sets
            and wanted.counters <= contents.names.counters
        ):
            return False
        return all(
            contents.rules.get(builder.jail_chain_name(j), 0) == len(SET_KINDS) for j in self.jails
        ) and (not self.jails or contents.rules.get(self.options.hook, 0) > 0)

    def counters(self) -> dict[str, JailCounters]:
        """Packets and bytes the jails' rules matched, IPv4 and IPv6 together."""
        found = read_counters(self.sock, self.options.table)
        return {name: found.get(name, JailCounters()) for name in self.jails}

    def teardown(self) -> None:
        """Delete the table and everything in it; no error when it is already gone."""
        try:
            self.sock.transact(builder.build_teardown(self.options))
        except BackendError as exc:
            if not is_missing(exc):
                raise
        self._book.clear()
        self.jails.clear()

    # --- internals -------------------------------------------------------------------

    def _existing(self) -> builder.Existing | None:
        contents = read_table(self.sock, self.options.table)
        return None if contents is None else contents.names

    def _reload_held(self, now: float | None) -> None:
        """Read every jail set back from the kernel (the truth after a setup or a race)."""
        at = self._clock.now() if now is None else now
        self._read_at = -math.inf
        self._book.held.clear()
        for jail in self.jails:
            for kind in SET_KINDS:
                held = read_elements(
                    self.sock, self.options.table, builder.set_name(jail, kind), at
                )
                self._book.held[(jail, kind)] = held
                if now is None:
                    self._book.bans[(jail, kind)] = dict(held)
        self._read_at = self._clock.monotonic()

    def _send(self, ops: Sequence[ElementOp], now: float) -> None:
        """Send ``ops`` a chunk at a time, each chunk's timeouts counted from when it is
        packed, as the one before it is sent (20,000 elements: some 15 ms).

        A 100k-element restore takes a while: timeouts all counted from ``now``
        would leave the last elements expiring later than their bans, by as
        long as the sending took (and the next restore would send them again).
        """
        started = self._clock.monotonic()
        if len(ops) <= SEND_CHUNK:
            at = now + max(0.0, self._clock.monotonic() - started)
            self.sock.transact(build_element_batch(self.options.table, ops, at))
            self._book.commit(ops)
            return
        # Several chunks: the next one is packed while the kernel takes the last (its
        # netlink call lets go of the GIL), in a thread of its own; each is sent only
        # once the one before it was taken, and recorded only once taken itself.
        with ThreadPoolExecutor(max_workers=1, thread_name_prefix="nft-send") as sender:
            sending: tuple[Sequence[ElementOp], Future[None]] | None = None
            for first in range(0, len(ops), SEND_CHUNK):
                chunk = ops[first : first + SEND_CHUNK]
                at = now + max(0.0, self._clock.monotonic() - started)
                messages = build_element_batch(self.options.table, chunk, at)
                if sending is not None:
                    sending[1].result()
                    self._book.commit(sending[0])
                sending = (chunk, sender.submit(self.sock.transact, messages))
            if sending is not None:
                sending[1].result()
                self._book.commit(sending[0])


def build_element_batch(table: str, ops: Sequence[ElementOp], now: float) -> list[Message]:
    """Messages for ``ops``: per set, deletions first, then additions with their timeouts."""
    grouped: dict[tuple[bool, str, SetKind], list[ElementOp]] = {}
    for (jail, kind, delete), run in groupby(ops, key=set_and_verb):
        grouped.setdefault((not delete, jail, kind), []).extend(run)
    messages: list[Message] = []
    for (adding, jail, kind), group in sorted(grouped.items(), key=lambda kv: kv[0][0]):
        if kind in ("v4", "v6"):
            width = 4 if kind == "v4" else 16
            expiries = list(map(_EXPIRY, group)) if adding else []
            if adding and INF not in expiries:  # (a restore's: no Python step per element)
                # int((expiry - now) * 1000) of each, in C
                timeouts = list(map(int, map(mul, map(sub, expiries, repeat(now)), repeat(1000))))
                if min(timeouts) < 1:
                    timeouts = [max(1, timeout) for timeout in timeouts]
                addresses = list(map(_FIRST, map(_KEY, group)))
                if width == 4 and V4_BLOCKS and max(timeouts) < 1 << 64:  # (no list of them)
                    block = timed_v4_block(addresses, timeouts)
                    name = builder.set_name(jail, kind)
                    messages += block_elements(table, name, block, V4_TIMED_SIZE)
                    continue
                elements = timed_address_elements(width, addresses, timeouts)
            elif adding:
                elements = address_elements(
                    width,
                    [
                        (
                            op.key[0],
                            None if op.expiry == INF else max(1, int((op.expiry - now) * 1000)),
                        )
                        for op in group
                    ],
                )
            else:
                elements = address_elements(width, [(op.key[0], None) for op in group])
        else:
            elements = []
            for op in group:
                timeout = None
                if adding and op.expiry != INF:
                    timeout = max(1, int((op.expiry - now) * 1000))
                elements += network_elements(op.network, timeout)
        messages += build_elements(table, builder.set_name(jail, kind), elements, delete=not adding)
    return messages
