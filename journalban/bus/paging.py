"""Paging through the ban table: ``GetBans`` and the ``Generation`` property.

A console showing 100,000 bans must not fetch them all with ``ListBans``.
``GetBans`` answers one page of the bans sorted newest first, with the total
and the generation of the table it was cut from. The generation changes with
every ban, unban and reload, so a client that missed a signal, or holds
pages of different generations, knows to read again.

The sorted order is built once from the agent's table and then kept by the
agent's own announcements (each ban or unban moves one entry), so a ban
during a flood costs a binary search, not a sort of 100,000 bans; a reload
builds it again.
"""

from __future__ import annotations

import bisect
from typing import Final

from journalban.agent.api import AgentControl
from journalban.bus import convert
from journalban.errors import NoSuchJail
from journalban.events import Ban

# The most bans one page holds; a larger limit is cut to it.
MAX_PAGE: Final = 10_000

_SortKey = tuple[float, str, str]  # (-banned_at, jail, address): newest first, then stable


def _key(ban: Ban) -> _SortKey:
    return (-ban.banned_at, ban.jail, ban.address)


class _Order:
    """Bans in newest-first order, with their sort keys beside them for bisection."""

    def __init__(self, bans: list[Ban], keys: list[_SortKey] | None = None) -> None:
        if keys is None:  # not given in order: sort them
            keys = [_key(b) for b in bans]
            order = sorted(range(len(bans)), key=keys.__getitem__)
            bans, keys = [bans[i] for i in order], [keys[i] for i in order]
        self.bans = bans
        self.keys = keys

    def add(self, ban: Ban) -> None:
        key = _key(ban)
        at = bisect.bisect_left(self.keys, key)
        self.keys.insert(at, key)
        self.bans.insert(at, ban)

    def remove(self, key: _SortKey) -> None:
        at = bisect.bisect_left(self.keys, key)
        if at < len(self.keys) and self.keys[at] == key:
            del self.keys[at]
            del self.bans[at]


class BanPages:
    """The ban table's generation and its newest-first order (all jails, and per jail)."""

    def __init__(self, control: AgentControl) -> None:
        self._control = control
        # Start at the agent's start time in microseconds: after a restart the
        # generation does not repeat one a client saw before it.
        self.generation: int = convert.usec(control.started_at)
        self._orders: dict[str, _Order] | None = None  # "" every jail, else a jail's
        self._keys: dict[tuple[str, str], _SortKey] = {}  # (jail, address) -> its key

    def banned(self, ban: Ban) -> None:
        """A ban was made or extended."""
        self.generation += 1
        if self._orders is None:
            return
        self._drop(ban.jail, ban.address)
        self._keys[(ban.jail, ban.address)] = _key(ban)
        self._orders[""].add(ban)
        self._orders.setdefault(ban.jail, _Order([])).add(ban)

    def unbanned(self, ban: Ban) -> None:
        """A ban was lifted."""
        self.generation += 1
        if self._orders is not None:
            self._drop(ban.jail, ban.address)

    def changed(self) -> None:
        """The table changed in a way not told ban by ban (a reload): build the order again."""
        self.generation += 1
        self._orders = None

    def _drop(self, jail: str, address: str) -> None:
        key = self._keys.pop((jail, address), None)
        if key is None or self._orders is None:
            return
        self._orders[""].remove(key)
        if jail in self._orders:
            self._orders[jail].remove(key)

    def _build(self) -> dict[str, _Order]:
        every = _Order(self._control.list_bans(None))
        by_jail: dict[str, tuple[list[Ban], list[_SortKey]]] = {}
        for ban, key in zip(every.bans, every.keys, strict=True):  # in order already
            group = by_jail.setdefault(ban.jail, ([], []))
            group[0].append(ban)
            group[1].append(key)
        orders = {"": every}
        orders.update({jail: _Order(bans, keys) for jail, (bans, keys) in by_jail.items()})
        self._keys = {(b.jail, b.address): k for b, k in zip(every.bans, every.keys, strict=True)}
        return orders

    def page(self, jail: str, offset: int, limit: int) -> tuple[int, int, list[convert.BanStruct]]:
        """(total, generation, bans[offset:offset+limit]) of ``jail`` ("" every jail).

        Raises:
            NoSuchJail: ``jail`` is not configured.
        """
        if jail and jail not in {info.name for info in self._control.jails()}:
            raise NoSuchJail(jail)
        if self._orders is None:
            self._orders = self._build()
        order = self._orders.get(jail) or _Order([])
        window = order.bans[offset : offset + min(limit, MAX_PAGE)]
        return len(order.bans), self.generation, [convert.ban_struct(b) for b in window]
