"""Bans as the state stores them, straight into the ban book's keys. Pure.

The agent's start restores 100,000 bans from the state's rows: a single IPv4
address (nearly every ban) goes from its text to its key with ``inet_pton``,
without the ``ipaddress`` network, the ``Ban`` and the ``BanEntry`` the
general ``reconcile`` takes (those are built after READY).
"""

from __future__ import annotations

import socket
from collections.abc import Container, Iterable
from itertools import compress, repeat
from operator import le, not_

from journalban.addresses import network_text, stored_network
from journalban.errors import AddressError
from journalban.firewall.base import StoredBan, StoredHosts
from journalban.firewall.nftables.builder import SetKind
from journalban.firewall.nftables.plan import INF, Key, SetKey, key_of, kind_of, network_of


def book_of(
    wanted: Iterable[StoredBan], jails: Container[str], now: float
) -> dict[SetKey, dict[Key, float]]:
    """The running bans of ``jails`` per set: ``BanBook.record``'s result, from stored bans."""
    if isinstance(wanted, StoredHosts):
        return hosts_book(wanted, jails, now)
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


def hosts_book(
    hosts: StoredHosts, jails: Container[str], now: float
) -> dict[SetKey, dict[Key, float]]:
    """``book_of`` of single IPv4 addresses parsed already: a jail's run of rows in one
    ``dict`` of C calls (no Python step per ban)."""
    bans: dict[SetKey, dict[Key, float]] = {}
    start = 0
    for jail, count in hosts.runs:
        stop = start + count
        if jail in jails:
            expiries = hosts.expiries[start:stop]
            pairs = zip(zip(hosts.addresses[start:stop], repeat(32)), expiries, strict=True)
            if any(map(le, expiries, repeat(now))):  # (some ended since they were read)
                kept = dict(compress(pairs, map(not_, map(le, expiries, repeat(now)))))
            else:
                kept = dict(pairs)
            held = bans.get((jail, "v4"))
            if held is None:
                if kept:  # (a set with no ban running has no entry, as in ``book_of``)
                    bans[jail, "v4"] = kept
            else:
                held.update(kept)
        start = stop
    return bans


def key_text(kind: SetKind, key: Key) -> str:
    """The network text of an element's key, as the state writes it."""
    if kind == "v4":
        return socket.inet_ntop(socket.AF_INET, key[0].to_bytes(4, "big")) + "/32"
    return network_text(network_of(key, 4 if kind in ("v4", "net4") else 6))
