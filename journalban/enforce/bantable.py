"""The active bans, indexed for "is this address banned in one of these jails?".

Fed like a firewall backend (``apply``), from the decisions stage's bans;
answers in a few dictionary lookups at 100,000 bans: one per prefix length
present (a /32 or /128 ban is one lookup, each distinct prefix length one
more). A ban past its expiry no longer answers, even before its removal
reaches the table.
"""

from __future__ import annotations

import socket
from collections.abc import Collection, Iterable

from journalban.addresses import IPAddress, IPNetwork
from journalban.firewall.base import BanEntry

# (version, prefix length) -> network address as int -> jail -> expiry (None: permanent)
_Index = dict[tuple[int, int], dict[int, dict[str, float | None]]]


def parse_address(text: str) -> tuple[int, int] | None:
    """(version, integer value) of an address as a client sent it (``[v6]`` too), or None.

    An IPv4-mapped IPv6 address is its IPv4 address. inet_pton, not
    ``ipaddress``: this runs for every policy request.
    """
    text = text.strip()
    if text.startswith("["):
        text = text[1:].removesuffix("]")
    try:
        if ":" not in text:
            return 4, int.from_bytes(socket.inet_pton(socket.AF_INET, text))
        value = int.from_bytes(socket.inet_pton(socket.AF_INET6, text))
    except (OSError, ValueError):
        return None
    if value >> 32 == 0xFFFF:
        return 4, value & 0xFFFFFFFF
    return 6, value


class BanTable:
    """Active bans by network; ``banned`` is what every policy answer asks."""

    def __init__(self) -> None:
        self._index: _Index = {}
        self._lengths: dict[int, list[int]] = {4: [], 6: []}  # longest first
        self._count = 0

    def __len__(self) -> int:
        return self._count

    def apply(self, add: Iterable[BanEntry], remove: Iterable[BanEntry]) -> None:
        for entry in remove:
            self._remove(entry.jail, entry.network)
        for entry in add:
            self._add(entry.jail, entry.network, entry.expires_at)

    def replace(self, entries: Iterable[BanEntry]) -> None:
        """Hold exactly ``entries`` (at start and after a reload)."""
        self._index.clear()
        self._lengths = {4: [], 6: []}
        self._count = 0
        self.apply(entries, ())

    def banned(self, address: IPAddress, jails: Collection[str], now: float) -> str | None:
        """The first of ``jails`` banning ``address`` (in a banned prefix too) at ``now``."""
        return self._banned(address.version, int(address), jails, now)

    def _banned(self, version: int, value: int, jails: Collection[str], now: float) -> str | None:
        bits = 32 if version == 4 else 128
        for length in self._lengths[version]:
            held = self._index[(version, length)].get(value >> (bits - length) << (bits - length))
            if held is None:
                continue
            for jail, expires in held.items():
                if jail in jails and (expires is None or expires > now):
                    return jail
        return None

    def banned_text(self, text: str, jails: Collection[str], now: float) -> str | None:
        """``banned`` for an address as a client sent it; None for anything not an address."""
        parsed = parse_address(text)
        return None if parsed is None else self._banned(*parsed, jails, now)

    def _add(self, jail: str, network: IPNetwork, expires: float | None) -> None:
        key = (network.version, network.prefixlen)
        bucket = self._index.get(key)
        if bucket is None:
            bucket = self._index[key] = {}
            lengths = self._lengths[network.version]
            lengths.append(network.prefixlen)
            lengths.sort(reverse=True)
        held = bucket.setdefault(int(network.network_address), {})
        if jail not in held:
            self._count += 1
        held[jail] = expires

    def _remove(self, jail: str, network: IPNetwork) -> None:
        key = (network.version, network.prefixlen)
        bucket = self._index.get(key)
        if bucket is None:
            return
        value = int(network.network_address)
        held = bucket.get(value)
        if held is None or jail not in held:
            return
        del held[jail]
        self._count -= 1
        if not held:
            del bucket[value]
        if not bucket:
            del self._index[key]
            self._lengths[network.version].remove(network.prefixlen)
