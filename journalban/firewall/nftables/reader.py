"""What the kernel holds in our table, read through netlink dumps."""

from __future__ import annotations

import logging
import struct
from dataclasses import dataclass

from journalban.addresses import IPNetwork
from journalban.errors import BackendError
from journalban.firewall.base import JailCounters
from journalban.firewall.nftables import constants as c
from journalban.firewall.nftables.builder import Existing
from journalban.firewall.nftables.elements import key_range
from journalban.firewall.nftables.netlink import (
    NLA_F_NESTED,
    NftSocket,
    attr,
    be32,
    cstr,
    decode,
    is_missing,
    iter_attrs,
    text,
)
from journalban.firewall.nftables.plan import INF, Key, key_of
from journalban.firewall.nftables.uniform import uniform_elements

log = logging.getLogger("journalban.firewall.nftables")
_NLA = struct.Struct("=HH")
# Dumps of a set of single addresses tried before its elements are taken as read.
DUMP_TRIES = 4
_BE32 = struct.Struct(">I")
_BE64 = struct.Struct(">Q")


@dataclass(frozen=True, slots=True)
class TableContents:
    """Names in the table, and how many rules each chain holds."""

    names: Existing
    rules: dict[str, int]


def read_table(sock: NftSocket, table: str) -> TableContents | None:
    """The table's chains, sets, counters and rule counts; None when it is gone."""
    try:
        chains = sock.dump(c.NFT_MSG_GETCHAIN, attr(c.NFTA_CHAIN_TABLE, cstr(table)))
        sets = sock.dump(c.NFT_MSG_GETSET, attr(c.NFTA_SET_TABLE, cstr(table)))
        objs = sock.dump(
            c.NFT_MSG_GETOBJ,
            attr(c.NFTA_OBJ_TABLE, cstr(table)) + attr(c.NFTA_OBJ_TYPE, be32(c.NFT_OBJECT_COUNTER)),
        )
        rules = sock.dump(c.NFT_MSG_GETRULE, attr(c.NFTA_RULE_TABLE, cstr(table)))
    except BackendError as exc:
        if is_missing(exc):
            return None
        raise
    # A dump filtered by table still lists other tables' objects on some kernels.
    chain_names = _names_in(chains, c.NFTA_CHAIN_TABLE, c.NFTA_CHAIN_NAME, table)
    set_names = _names_in(sets, c.NFTA_SET_TABLE, c.NFTA_SET_NAME, table)
    counter_names = _names_in(objs, c.NFTA_OBJ_TABLE, c.NFTA_OBJ_NAME, table)
    if not (chain_names or set_names or counter_names) and not _table_exists(sock, table):
        return None
    counts: dict[str, int] = {}
    for body in rules:
        found = decode(body)
        if text(found.get(c.NFTA_RULE_TABLE, b"")) == table:
            chain = text(found.get(c.NFTA_RULE_CHAIN, b""))
            counts[chain] = counts.get(chain, 0) + 1
    return TableContents(
        Existing(frozenset(chain_names), frozenset(set_names), frozenset(counter_names)), counts
    )


def _table_exists(sock: NftSocket, table: str) -> bool:
    bodies = sock.dump(c.NFT_MSG_GETTABLE)
    return any(text(decode(b).get(c.NFTA_TABLE_NAME, b"")) == table for b in bodies)


def _names_in(bodies: list[bytes], table_attr: int, name_attr: int, table: str) -> set[str]:
    names = set()
    for body in bodies:
        found = decode(body)
        if text(found.get(table_attr, b"")) == table:
            names.add(text(found.get(name_attr, b"")))
    return names


def read_counters(sock: NftSocket, table: str) -> dict[str, JailCounters]:
    """Packets and bytes of every named counter in the table."""
    bodies = sock.dump(
        c.NFT_MSG_GETOBJ,
        attr(c.NFTA_OBJ_TABLE, cstr(table)) + attr(c.NFTA_OBJ_TYPE, be32(c.NFT_OBJECT_COUNTER)),
    )
    out: dict[str, JailCounters] = {}
    for body in bodies:
        found = decode(body)
        if text(found.get(c.NFTA_OBJ_TABLE, b"")) != table:
            continue
        data = decode(found.get(c.NFTA_OBJ_DATA, b""))
        out[text(found.get(c.NFTA_OBJ_NAME, b""))] = JailCounters(
            packets=int.from_bytes(data.get(c.NFTA_COUNTER_PACKETS, b""), "big"),
            bytes=int.from_bytes(data.get(c.NFTA_COUNTER_BYTES, b""), "big"),
        )
    return out


def read_elements(sock: NftSocket, table: str, set_name: str, now: float) -> dict[Key, float]:
    """The set's elements by (address, prefix length), with their expiry (``now``
    plus what the kernel has left).

    Interval sets come back as start and end elements; each range is turned back
    into the prefixes that cover it.

    A set of single addresses is a hash table, dumped a message at a time, each
    message walking it from its start past those already sent: while the kernel
    grows the table (just after 100,000 elements went in), the order changes
    between messages and the dump repeats some elements and skips as many (1,591
    of 100,000 seen here). A dump with repeats is read again (``DUMP_TRIES``).
    """
    interval = _is_interval(set_name)
    for _ in range(DUMP_TRIES):
        found, dumped = _read_elements_once(sock, table, set_name, now, interval)
        if interval or dumped == len(found):
            break
        log.debug("set %s dumped %d elements, %d of them distinct: reading it again",
                  set_name, dumped, len(found))  # fmt: skip
    return found


def _read_elements_once(
    sock: NftSocket, table: str, set_name: str, now: float, interval: bool
) -> tuple[dict[Key, float], int]:
    """One dump of the set: its elements, and how many the dump held (with repeats)."""
    bodies = sock.dump(
        c.NFT_MSG_GETSETELEM,
        attr(c.NFTA_SET_ELEM_LIST_TABLE, cstr(table))
        + attr(c.NFTA_SET_ELEM_LIST_SET, cstr(set_name)),
    )
    raw: list[tuple[bytes, bool, float]] = []
    found: dict[Key, float] = {}
    dumped = 0
    for body in bodies:
        for kind, elements in iter_attrs(body):
            if kind != c.NFTA_SET_ELEM_LIST_ELEMENTS:
                continue
            alike = None if interval else uniform_elements(elements, now)
            if alike is None:
                _parse_elements(elements, now, raw)
            else:
                found.update(alike)
                dumped += len(alike)
    if not interval:
        from_bytes = int.from_bytes
        found.update({(from_bytes(k, "big"), 8 * len(k)): e for k, _, e in raw})
        return found, dumped + len(raw)
    return {key_of(n): e for n, e in _ranges(raw).items()}, len(raw)


def _parse_elements(data: bytes, now: float, out: list[tuple[bytes, bool, float]]) -> None:
    """Append (key, is interval end, expiry) per element; a flat walk, for 100k elements."""
    pos, size = 0, len(data)
    while pos + 4 <= size:
        elem_len = _NLA.unpack_from(data, pos)[0]
        if elem_len < 4:
            break
        p, stop = pos + 4, pos + elem_len
        key, flags, expiry = b"", 0, INF
        while p + 4 <= stop:
            attr_len, kind = _NLA.unpack_from(data, p)
            kind &= ~NLA_F_NESTED
            if kind == c.NFTA_SET_ELEM_KEY:
                value_len = _NLA.unpack_from(data, p + 4)[0]
                key = data[p + 8 : p + 4 + value_len]
            elif kind == c.NFTA_SET_ELEM_FLAGS:
                flags = _BE32.unpack_from(data, p + 4)[0]
            elif kind == c.NFTA_SET_ELEM_EXPIRATION:
                expiry = now + _BE64.unpack_from(data, p + 4)[0] / 1000
            p += (attr_len + 3) & ~3
        out.append((key, bool(flags & c.NFT_SET_ELEM_INTERVAL_END), expiry))
        pos += (elem_len + 3) & ~3


def _is_interval(set_name: str) -> bool:
    return set_name.endswith(("-net4", "-net6"))


def _ranges(raw: list[tuple[bytes, bool, float]]) -> dict[IPNetwork, float]:
    out: dict[IPNetwork, float] = {}
    ordered = sorted(raw, key=lambda r: (r[0], not r[1]))  # an end before a start at one key
    for index, (key, is_end, expiry) in enumerate(ordered):
        if is_end:
            continue
        end = None
        for later_key, later_end, _ in ordered[index + 1 :]:
            if later_end:
                end = later_key
                break
            if later_key != key:
                break
        for net in key_range(key, end):
            out[net] = expiry
    return out
