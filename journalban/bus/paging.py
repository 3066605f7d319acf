"""Paging through the ban table: ``GetBans`` and the ``Generation`` property.

A console showing 100,000 bans must not fetch them all with ``ListBans``.
``GetBans`` answers one page of the bans sorted newest first, with the total
and the generation of the table it was cut from. The generation changes with
every ban, unban and reload, so a client that missed a signal, or holds
pages of different generations, knows to read again.

The sorted order is built once from the agent's table and then kept by the
agent's own announcements (each ban or unban moves one entry), so a ban
during a flood costs a binary search, not a sort of 100,000 bans; a reload
drops it. It is built when a client first asks for a page (``GetBans``,
``FindBans``: ``ready``), in slices between which the event loop serves
other calls: a sort of 100,000 bans in one piece held every caller for about
a second. Announcements that arrive while it is built are applied once it is.
Not before a client asks: on a host no console reads, the order would cost
each ban its sort key, two list entries and an index entry (about half a KiB
a ban with the bus's signal: a flood's 55,000 bans, some 30 MB) and a binary
search, for nothing.
"""

from __future__ import annotations

import asyncio
import bisect
import gc
import heapq
from collections.abc import Sequence
from typing import Final

from journalban.addresses import IPNetwork
from journalban.agent.api import AgentControl
from journalban.bus import convert
from journalban.errors import NoSuchJail
from journalban.events import Ban

# The most bans one page holds; a larger limit is cut to it.
MAX_PAGE: Final = 10_000
# Bans keyed, sorted or merged between two turns of the event loop while the order is built.
BUILD_SLICE: Final = 5_000
# Newest bans gathered before the rest of an order is moved to make room for them.
HEAD: Final = 2048
# Pages kept as answered, for the generation they were cut from (a console's first page,
# asked by many clients or again and again between two bans, is built once).
KEPT_PAGES: Final = 16

# (-banned_at, jail, IP version, address as a number, prefix length): newest
# first, then stable; numbers, as formatting 100,000 addresses as text costs
# a third of a second.
_SortKey = tuple[float, str, int, int, int]


def _key(ban: Ban) -> _SortKey:
    net = ban.network
    return (-ban.banned_at, ban.jail, net.version, int(net.network_address), net.prefixlen)


class _Order:
    """Bans in newest-first order, with their sort keys beside them for bisection.

    A new ban is the newest, so it goes first; inserted at the front of a list
    of 100,000 that moved the whole list, twice per order (keys and bans) and
    for two orders (all jails, its jail): about 0.2 ms a ban, half of what
    announcing one cost under the 1M-line stream. So the newest go to a short
    ``head`` list before the rest (every key in it sorts before every key of
    ``bans``), merged into it once it holds ``HEAD`` bans.
    """

    def __init__(self, bans: list[Ban], keys: list[_SortKey] | None = None) -> None:
        if keys is None:  # not given in order: sort them
            keys = [_key(b) for b in bans]
            order = sorted(range(len(bans)), key=keys.__getitem__)
            bans, keys = [bans[i] for i in order], [keys[i] for i in order]
        self.bans = bans
        self.keys = keys
        self.head_bans: list[Ban] = []
        self.head_keys: list[_SortKey] = []

    def __len__(self) -> int:
        return len(self.head_bans) + len(self.bans)

    def add(self, ban: Ban) -> None:
        key = _key(ban)
        keys, bans = self.keys, self.bans
        if not keys or key < keys[0]:
            keys, bans = self.head_keys, self.head_bans
        at = bisect.bisect_left(keys, key)
        keys.insert(at, key)
        bans.insert(at, ban)
        if len(self.head_keys) >= HEAD:
            self.keys = self.head_keys + self.keys
            self.bans = self.head_bans + self.bans
            self.head_keys, self.head_bans = [], []

    def remove(self, key: _SortKey) -> None:
        keys, bans = self.keys, self.bans
        if self.head_keys and key <= self.head_keys[-1]:
            keys, bans = self.head_keys, self.head_bans
        at = bisect.bisect_left(keys, key)
        if at < len(keys) and keys[at] == key:
            del keys[at]
            del bans[at]

    def window(self, offset: int, limit: int) -> list[Ban]:
        """The bans from ``offset`` on, at most ``limit`` of them."""
        head = self.head_bans
        if offset >= len(head):
            return self.bans[offset - len(head) : offset - len(head) + limit]
        part = head[offset : offset + limit]
        return part + self.bans[: limit - len(part)] if len(part) < limit else part

    def every_ban(self) -> list[Ban]:
        return self.head_bans + self.bans


class BanPages:
    """The ban table's generation and its newest-first order (all jails, and per jail)."""

    def __init__(self, control: AgentControl) -> None:
        self._control = control
        # Start at the agent's start time in microseconds: after a restart the
        # generation does not repeat one a client saw before it.
        self.generation: int = convert.usec(control.started_at)
        self._orders: dict[str, _Order] | None = None  # "" every jail, else a jail's
        self._keys: dict[tuple[str, IPNetwork], _SortKey] = {}  # (jail, network) -> its key
        self._building: asyncio.Task[None] | None = None
        self._missed: list[tuple[Ban, bool]] = []  # (ban, banned) told while building
        self._kept: dict[tuple[str, int, int], tuple[int, int, list[convert.BanStruct]]] = {}
        self._kept_generation = -1
        self._kept_orders: dict[str, _Order] | None = None  # the order they were cut from

    def banned(self, ban: Ban) -> None:
        """A ban was made or extended."""
        self.generation += 1
        if self._building is not None:
            self._missed.append((ban, True))
        if self._orders is None:
            return
        self._drop(ban.jail, ban.network)
        self._insert(self._orders, ban)

    def banned_all(self, bans: Sequence[Ban]) -> None:
        """``banned`` of each of ``bans``, in order: the generation counted on at once when
        no order is kept or built (a flood's run of bans, nobody paging through them)."""
        if self._orders is None and self._building is None:
            self.generation += len(bans)
            return
        for ban in bans:
            self.banned(ban)

    def _insert(self, orders: dict[str, _Order], ban: Ban) -> None:
        self._keys[(ban.jail, ban.network)] = _key(ban)
        orders[""].add(ban)
        order = orders.get(ban.jail)
        if order is None:
            order = orders[ban.jail] = _Order([])
        order.add(ban)

    def unbanned(self, ban: Ban) -> None:
        """A ban was lifted."""
        self.generation += 1
        if self._building is not None:
            self._missed.append((ban, False))
        if self._orders is not None:
            self._drop(ban.jail, ban.network)

    def changed(self) -> None:
        """The table changed in a way not told ban by ban (a reload): build the order again."""
        self.generation += 1
        self._orders = None
        if self._building is not None:
            self._building.cancel()
            self._building = None
            self._missed = []

    @property
    def is_ready(self) -> bool:
        """Whether the order is built (``page`` answers without building it)."""
        return self._orders is not None

    async def ready(self) -> None:
        """Build the order if it is not (in slices; callers meanwhile wait, the loop does not)."""
        while self._orders is None:
            if self._building is None:
                self._building = asyncio.get_running_loop().create_task(self._build_sliced())
            building = self._building
            try:
                await asyncio.shield(building)
            except asyncio.CancelledError:
                if not building.cancelled():
                    raise  # our caller was cancelled, not the build
                # a reload cancelled the build: build again

    async def _build_sliced(self) -> None:
        bans = self._control.active_bans()  # unsorted: sorting 100,000 at once blocks the loop
        await asyncio.sleep(0)
        runs: list[list[tuple[_SortKey, int]]] = []
        for start in range(0, len(bans), BUILD_SLICE):
            run = [(_key(bans[i]), i) for i in range(start, min(start + BUILD_SLICE, len(bans)))]
            run.sort()
            runs.append(run)
            await asyncio.sleep(0)
        every = _Order([], [])
        by_jail: dict[str, _Order] = {}
        index: dict[tuple[str, IPNetwork], _SortKey] = {}
        for n, (key, i) in enumerate(heapq.merge(*runs), 1):
            ban = bans[i]
            every.keys.append(key)
            every.bans.append(ban)
            group = by_jail.get(ban.jail)
            if group is None:
                group = by_jail[ban.jail] = _Order([], [])
            group.keys.append(key)
            group.bans.append(ban)
            index[(ban.jail, ban.network)] = key
            if n % BUILD_SLICE == 0:
                await asyncio.sleep(0)
        orders = self._orders = {"": every, **by_jail}
        self._keys = index
        # Long-lived like the bans: out of the collector's walks (see agent/restoring.py).
        gc.freeze()
        self._building = None
        missed, self._missed = self._missed, []
        for ban, banned in missed:  # told while the snapshot was sorted
            self._drop(ban.jail, ban.network)
            if banned:
                self._insert(orders, ban)

    def _drop(self, jail: str, network: IPNetwork) -> None:
        key = self._keys.pop((jail, network), None)
        if key is None or self._orders is None:
            return
        self._orders[""].remove(key)
        if jail in self._orders:
            self._orders[jail].remove(key)

    def _build(self) -> dict[str, _Order]:
        return self._orders_from(_Order(self._control.active_bans()))

    def _orders_from(self, every: _Order) -> dict[str, _Order]:
        by_jail: dict[str, tuple[list[Ban], list[_SortKey]]] = {}
        for ban, key in zip(every.bans, every.keys, strict=True):  # in order already
            group = by_jail.setdefault(ban.jail, ([], []))
            group[0].append(ban)
            group[1].append(key)
        orders = {"": every}
        orders.update({jail: _Order(bans, keys) for jail, (bans, keys) in by_jail.items()})
        self._keys = {(b.jail, b.network): k for b, k in zip(every.bans, every.keys, strict=True)}
        return orders

    def _order(self, jail: str) -> _Order:
        if jail and jail not in {info.name for info in self._control.jails()}:
            raise NoSuchJail(jail)
        if self._orders is None:
            self._orders = self._build()
        return self._orders.get(jail) or _Order([])

    def newest_first(self, jail: str) -> list[Ban]:
        """A copy of ``jail``'s bans ("" every jail) in GetBans's order.

        Raises:
            NoSuchJail: ``jail`` is not configured.
        """
        return self._order(jail).every_ban()

    def page(self, jail: str, offset: int, limit: int) -> tuple[int, int, list[convert.BanStruct]]:
        """(total, generation, bans[offset:offset+limit]) of ``jail`` ("" every jail).

        Raises:
            NoSuchJail: ``jail`` is not configured.
        """
        limit = min(limit, MAX_PAGE)
        order = self._order(jail)
        if self._kept_generation != self.generation or self._kept_orders is not self._orders:
            self._kept.clear()  # a ban, an unban, a reload, or the order built anew
            self._kept_generation, self._kept_orders = self.generation, self._orders
        key = (jail, offset, limit)
        kept = self._kept.get(key)
        if kept is not None:
            return kept
        window = order.window(offset, limit)
        page = len(order), self.generation, [convert.ban_struct(b) for b in window]
        if len(self._kept) >= KEPT_PAGES:
            self._kept.clear()
        self._kept[key] = page
        return page
