"""``FindBans``: a page of the bans that match a text, in the order a column gives.

A console's filter box and column headers must act on the whole table, not
on the 100 bans it shows. ``FindBans(a{sv} query, u offset, u limit)``
answers like ``GetBans`` (total, generation, page) with:

- ``jail`` (s): one jail's bans ("" or absent: every jail);
- ``text`` (s): only bans whose address, jail or reason holds it (case ignored);
- ``sort`` (s): ``banned_at`` (default), ``expires_at``, ``count``, ``address``,
  ``jail`` or ``reason``;
- ``descending`` (b): the default is newest, latest and largest first for
  the times and the count, A to Z (and lowest address first) for the others.

Ties keep GetBans's order (newest first). Matching and sorting 100,000 bans
take a good part of a second in Python, so they run in slices between which
the event loop serves other callers, and the result is kept for paging until
the table's generation moves.
"""

from __future__ import annotations

import asyncio
import heapq
import math
from collections.abc import Callable, Mapping
from typing import Any, Final

from dbus_fast import DBusError, Variant

from journalban.addresses import IPNetwork, format_network
from journalban.bus import contract, convert
from journalban.bus.paging import MAX_PAGE, BanPages
from journalban.events import Ban

SLICE: Final = 5_000  # bans matched or sorted between two turns of the loop
MAX_TEXT: Final = 256  # characters of a search text
_QUERY_TYPES: Final = {"jail": "s", "text": "s", "sort": "s", "descending": "b"}
_TEXTS_KEPT: Final = 400_000  # address texts remembered (formatting one costs microseconds)

_SORT_KEYS: Final[dict[str, Callable[[Ban], Any]]] = {
    "expires_at": lambda b: math.inf if b.expires_at is None else b.expires_at,
    "count": lambda b: b.ban_count,
    "address": lambda b: (b.network.version, int(b.network.network_address), b.network.prefixlen),
    "jail": lambda b: b.jail,
    "reason": lambda b: b.reason,
}
_DESCENDING_BY_DEFAULT: Final = frozenset({"banned_at", "expires_at", "count"})


class Query:
    """A checked FindBans query."""

    def __init__(self, options: Mapping[str, Any]) -> None:
        """Raises: DBusError InvalidArgs for an unknown key, a wrong type or value."""
        values: dict[str, Any] = {}
        for key, variant in dict(options).items():
            expected = _QUERY_TYPES.get(key)
            if expected is None:
                raise DBusError(contract.INVALID_ARGS, f"unknown query key {key!r}")
            if not isinstance(variant, Variant) or variant.signature != expected:
                raise DBusError(
                    contract.INVALID_ARGS, f"query key {key!r} must be of type {expected}"
                )
            values[key] = variant.value
        self.jail: str = values.get("jail", "")
        self.text: str = values.get("text", "").strip().lower()
        self.sort: str = values.get("sort", "banned_at")
        if self.sort != "banned_at" and self.sort not in _SORT_KEYS:
            raise DBusError(contract.INVALID_ARGS, f"cannot sort by {self.sort!r}")
        if len(self.text) > MAX_TEXT:
            raise DBusError(contract.INVALID_ARGS, f"search text longer than {MAX_TEXT}")
        self.descending: bool = values.get("descending", self.sort in _DESCENDING_BY_DEFAULT)

    @property
    def key(self) -> tuple[str, str, str, bool]:
        return (self.jail, self.text, self.sort, self.descending)

    @property
    def plain(self) -> bool:
        """GetBans's own order and no text: the kept order answers it."""
        return not self.text and self.sort == "banned_at" and self.descending


class BanSearch:
    """Answers FindBans from the pages' newest-first order."""

    def __init__(self, pages: BanPages) -> None:
        self._pages = pages
        self._kept: tuple[int, tuple[str, str, str, bool], list[Ban]] | None = None
        self._texts: dict[IPNetwork, str] = {}

    async def find(
        self, query: Query, offset: int, limit: int
    ) -> tuple[int, int, list[convert.BanStruct]]:
        """(total, generation, page) of the bans ``query`` selects.

        Raises:
            NoSuchJail: the query's jail is not configured.
        """
        await self._pages.ready()
        if query.plain:
            return self._pages.page(query.jail, offset, limit)
        generation = self._pages.generation
        kept = self._kept
        if kept is not None and kept[0] == generation and kept[1] == query.key:
            found = kept[2]
        else:
            bans = self._pages.newest_first(query.jail)  # a copy: the table may move on
            found = await self._select(bans, query)
            self._kept = (generation, query.key, found)
        window = found[offset : offset + min(limit, MAX_PAGE)]
        return len(found), generation, [convert.ban_struct(b) for b in window]

    async def _select(self, bans: list[Ban], query: Query) -> list[Ban]:
        if query.text:
            matched: list[Ban] = []
            for start in range(0, len(bans), SLICE):
                matched += [b for b in bans[start : start + SLICE] if self._holds(b, query.text)]
                await asyncio.sleep(0)
            bans = matched
        if query.sort == "banned_at":
            return bans if query.descending else bans[::-1]
        return await _sorted(bans, _SORT_KEYS[query.sort], query.descending)

    def _holds(self, ban: Ban, text: str) -> bool:
        address = self._texts.get(ban.network)
        if address is None:
            if len(self._texts) >= _TEXTS_KEPT:
                self._texts.clear()
            address = self._texts[ban.network] = format_network(ban.network).lower()
        return text in address or text in ban.jail.lower() or text in ban.reason.lower()


async def _sorted(bans: list[Ban], key: Callable[[Ban], Any], descending: bool) -> list[Ban]:
    """``bans`` stably sorted by ``key``: runs sorted in slices, then merged in slices."""
    runs: list[list[tuple[Any, int]]] = []
    for start in range(0, len(bans), SLICE):
        run = [(key(bans[i]), i) for i in range(start, min(start + SLICE, len(bans)))]
        # Ties keep their order either way: the index breaks them, ascending.
        run.sort(key=lambda item: item[0], reverse=descending)
        runs.append(run)
        await asyncio.sleep(0)
    out: list[Ban] = []
    for n, (_, i) in enumerate(heapq.merge(*runs, key=lambda item: item[0], reverse=descending), 1):
        out.append(bans[i])
        if n % SLICE == 0:
            await asyncio.sleep(0)
    return out
