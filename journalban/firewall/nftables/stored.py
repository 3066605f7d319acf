"""Bans as the state stores them, straight into the ban book's keys. Pure.

The agent's start restores 100,000 bans from the state's rows: a single IPv4
address (nearly every ban) goes from its text to its key with ``inet_pton``,
without the ``ipaddress`` network, the ``Ban`` and the ``BanEntry`` the
general ``reconcile`` takes (those are built after READY).
"""

from __future__ import annotations

import socket
from collections.abc import Container, Iterable

from journalban.addresses import network_text, stored_network
from journalban.errors import AddressError
from journalban.firewall.base import StoredBan
from journalban.firewall.nftables.builder import SetKind
from journalban.firewall.nftables.plan import INF, Key, SetKey, key_of, kind_of, network_of


def book_of(
    wanted: Iterable[StoredBan], jails: Container[str], now: float
) -> dict[SetKey, dict[Key, float]]:
    """The running bans of ``jails`` per set: ``BanBook.record``'s result, from stored bans."""
    bans: dict[SetKey, dict[Key, float]] = {}
    pton, from_bytes, af_inet = socket.inet_pton, int.from_bytes, socket.AF_INET
    v4_jail, v4 = None, {}  # the last jail's set of single IPv4 addresses
    for jail, text, expires in wanted:
        expiry = INF if expires is None else expires
        if expiry <= now or jail not in jails:
            continue
        if text.endswith("/32"):
            try:
                address = from_bytes(pton(af_inet, text[:-3]), "big")
            except OSError:
                pass  # an IPv6 /32, or not an address: the general way below
            else:
                if jail != v4_jail:
                    v4_jail, v4 = jail, bans.setdefault((jail, "v4"), {})
                v4[address, 32] = expiry
                continue
        try:
            net = stored_network(text, remember=False)
        except AddressError:
            continue  # the state's reader skips it too
        bans.setdefault((jail, kind_of(net)), {})[key_of(net)] = expiry
    return bans


def key_text(kind: SetKind, key: Key) -> str:
    """The network text of an element's key, as the state writes it."""
    if kind == "v4":
        return socket.inet_ntop(socket.AF_INET, key[0].to_bytes(4, "big")) + "/32"
    return network_text(network_of(key, 4 if kind in ("v4", "net4") else 6))
