"""A bounded map of per-key detector state that remembers what changed.

Every detector keeps its keys (addresses, prefixes, accounts) in one of
these: at most ``cap`` of them, the least recently used forgotten first (and
``evicted`` counts them), and the keys changed or forgotten since the last
``changes()`` reported as rows for the state database.
"""

from __future__ import annotations

import json
from collections import OrderedDict
from collections.abc import Callable, Iterator
from typing import Any, Generic, TypeVar

from journalban.jails.detector import Row

V = TypeVar("V")


class Tracked(Generic[V]):
    def __init__(
        self,
        cap: int,
        encode: Callable[[V], Any] = lambda v: v,
        text: Callable[[V], str] | None = None,
    ) -> None:
        """``encode``: the value as JSON data; ``text``: the value's JSON text at once
        (``jails.rowtext``), instead of ``json.dumps(encode(value))``."""
        self.cap = cap
        self.evicted = 0
        # A plain dict (insertion order is the use order: a used key is deleted and
        # put back at the end) until it first reaches ``cap``, an OrderedDict from
        # then on, whose oldest key is taken without walking the deleted entries
        # before it. An OrderedDict's links cost about 20 bytes a key more.
        self.kept: dict[str, V] = {}
        # The keys changed since the last changes(), with their value (None: gone): a
        # commit's rows then need no lookup in the (large) map, key by key.
        self.dirty: dict[str, V | None] = {}
        # (A detector may write ``put_back`` out, both stores in place: it reads ``kept``
        # and ``dirty`` each time, as both are rebound, the map when it first fills,
        # ``dirty`` at each ``changed()``.)
        self._encode = encode
        self._text: Callable[[V], str] = text or (lambda v: json.dumps(encode(v)))
        # The value under a key, or None: the dict's own get (a lookup per failure per
        # detector; a method around it doubled the cost).
        self.get: Callable[[str], V | None] = self.kept.get
        # The value under a key taken out of the map (None: not held): the dict's own pop.
        # A detector that changes a key takes it, then puts it back (``put_back``, at the
        # use order's end) or leaves it out (``taken_out``): one lookup, not ``get``'s and
        # ``touch``'s two (a failure's address in ``slow``, its prefix in ``subnet``).
        self.take: Callable[[str, None], V | None] = self.kept.pop

    def __len__(self) -> int:
        return len(self.kept)

    def __contains__(self, key: str) -> bool:
        return key in self.kept

    def __iter__(self) -> Iterator[str]:
        return iter(self.kept)

    def items(self) -> Iterator[tuple[str, V]]:
        return iter(self.kept.items())

    def touch(self, key: str, value: V) -> V:
        """Store ``value`` under ``key`` (most recently used); mark it changed."""
        items = self.kept
        # Taken out and put back at the end (no value is None): the use order, in a
        # plain dict and an OrderedDict alike, one lookup for a key already there.
        if items.pop(key, None) is None and len(items) >= self.cap:
            if type(items) is OrderedDict and len(items) == self.cap:
                # One key out for one in (a full map's every new key): no call
                gone, _ = items.popitem(False)
                self.dirty[gone] = None
                self.evicted += 1
            else:
                items = self._make_room()
        items[key] = value
        self.dirty[key] = value
        return value

    def add(self, key: str, value: V) -> None:
        """``touch`` for a key not held (new, or taken out by ``take`` when it held none)."""
        items = self.kept
        if len(items) >= self.cap:
            if type(items) is OrderedDict and len(items) == self.cap:
                gone, _ = items.popitem(False)  # (as in touch: one key out for one in)
                self.dirty[gone] = None
                self.evicted += 1
            else:
                items = self._make_room()
        items[key] = value
        self.dirty[key] = value

    def put_back(self, key: str, value: V) -> None:
        """Store ``value`` under a key ``take`` took out (it held one): as ``touch``."""
        self.kept[key] = value
        self.dirty[key] = value

    def taken_out(self, key: str) -> None:
        """A key ``take`` took out (it held one) stays out: as ``drop``."""
        self.dirty[key] = None

    def _make_room(self) -> dict[str, V]:
        """Forget the least recently used keys until one more fits (an OrderedDict from now on)."""
        items = self.kept
        if not isinstance(items, OrderedDict):
            items = self.kept = OrderedDict(items)
            self.get, self.take = items.get, items.pop
        while len(items) >= self.cap:
            gone, _ = items.popitem(last=False)
            self.dirty[gone] = None
            self.evicted += 1
        return items

    def drop(self, key: str) -> None:
        if self.kept.pop(key, None) is not None:
            self.dirty[key] = None

    def load(self, key: str, value: V) -> None:
        """Put back a stored value without marking it changed."""
        if len(self.kept) < self.cap:
            self.kept[key] = value
            if key in self.dirty:  # (a row reports the value held at changes())
                self.dirty[key] = value

    def discard(self) -> None:
        self.dirty.clear()

    def changed(self) -> dict[str, V | None]:
        """The keys changed since the last ``changes()`` or ``changed()``, each with its value
        (None: gone), in the order changed; forgotten here (a detector writing its rows'
        texts in its own comprehension: no call of Python a row)."""
        dirty, self.dirty = self.dirty, {}
        return dirty

    def changes(self) -> list[Row]:
        text = self._text
        # (a comprehension: a row per changed key per commit, tens of thousands on a backlog)
        rows: list[Row] = [
            (key, None if value is None else text(value)) for key, value in self.dirty.items()
        ]
        self.dirty.clear()
        return rows
