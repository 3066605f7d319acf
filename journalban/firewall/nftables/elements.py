"""Set elements packed for speed: the hot path of a 100k-ban restore. Pure."""

from __future__ import annotations

import ipaddress
import struct
import sys
from array import array
from bisect import bisect_right
from collections.abc import Iterable, Sequence
from itertools import accumulate, repeat

from journalban.addresses import IPNetwork
from journalban.firewall.nftables import constants as c
from journalban.firewall.nftables.netlink import (
    MAX_ATTR_PAYLOAD,
    NLA_F_NESTED,
    NLM_F_CREATE,
    Message,
    attr,
    be32,
    be64,
    cstr,
    nest,
    pad4,
)


def interval_end(key: bytes) -> bytes:
    """The element closing an interval: the first key after it."""
    return nest(
        c.NFTA_LIST_ELEM,
        [
            nest(c.NFTA_SET_ELEM_KEY, [attr(c.NFTA_DATA_VALUE, key)]),
            attr(c.NFTA_SET_ELEM_FLAGS, be32(c.NFT_SET_ELEM_INTERVAL_END)),
        ],
    )


def element(key: bytes, timeout_ms: int | None) -> bytes:
    """One list element: the key, and the timeout when the ban is not permanent."""
    size = len(key)
    key_attr = _KEY_HEAD[size] + key + _KEY_PAD[size]
    if timeout_ms is None:
        return _LIST_ELEM_HEAD[size] + key_attr
    return _LIST_ELEM_TIMEOUT_HEAD[size] + key_attr + _TIMEOUT_HEAD + be64(timeout_ms)


def _nla_head(length: int, kind: int) -> bytes:
    return attr(kind, b"\0" * (length - 4))[:4]


# Pre-packed headers: the element list of a 100k-ban restore is the hot path.
_SIZES = (2, 4, 16)
_KEY_PAD = {n: b"\0" * (pad4(n) - n) for n in _SIZES}
_KEY_HEAD = {
    n: _nla_head(8 + pad4(n), c.NFTA_SET_ELEM_KEY | NLA_F_NESTED)
    + _nla_head(4 + n, c.NFTA_DATA_VALUE)
    for n in _SIZES
}
_LIST_ELEM_HEAD = {n: _nla_head(12 + pad4(n), c.NFTA_LIST_ELEM | NLA_F_NESTED) for n in _SIZES}
_LIST_ELEM_TIMEOUT_HEAD = {
    n: _nla_head(24 + pad4(n), c.NFTA_LIST_ELEM | NLA_F_NESTED) for n in _SIZES
}
_TIMEOUT_HEAD = _nla_head(12, c.NFTA_SET_ELEM_TIMEOUT)


# A single address's element packed in one call: the list element's and the key's
# headers, the address, and (with a timeout) the timeout's header and value;
# concatenating the pieces cost twice as much (100,000 elements at a restore).
_HEAD = len(_LIST_ELEM_HEAD[4] + _KEY_HEAD[4])  # the same for both widths, with or without timeout
_V4_TIMED = struct.Struct(f">{_HEAD}sI{len(_TIMEOUT_HEAD)}sQ")
_V4_PLAIN = struct.Struct(f">{_HEAD}sI")
_V6_TIMED = struct.Struct(f">{_HEAD}sQQ{len(_TIMEOUT_HEAD)}sQ")
_V6_PLAIN = struct.Struct(f">{_HEAD}sQQ")
_LOW64 = (1 << 64) - 1
# A timed IPv4 element's size, its template (address and timeout 0), the timeout's offset.
V4_TIMED_SIZE = _V4_TIMED.size
_V4_TEMPLATE = _V4_TIMED.pack(_LIST_ELEM_TIMEOUT_HEAD[4] + _KEY_HEAD[4], 0, _TIMEOUT_HEAD, 0)
_V4_TIMEOUT_AT = _HEAD + 4 + len(_TIMEOUT_HEAD)


def address_elements(width: int, keys: Iterable[tuple[int, int | None]]) -> list[bytes]:
    """Elements of single addresses of ``width`` bytes (4 or 16): (address, timeout in ms or
    None) each; ``element`` for each, in fewer calls."""
    if width == 4:
        timed, plain = _V4_TIMED.pack, _V4_PLAIN.pack
        thead = _LIST_ELEM_TIMEOUT_HEAD[4] + _KEY_HEAD[4]
        phead = _LIST_ELEM_HEAD[4] + _KEY_HEAD[4]
        return [
            plain(phead, a) if t is None else timed(thead, a, _TIMEOUT_HEAD, t) for a, t in keys
        ]
    t6, p6 = _V6_TIMED.pack, _V6_PLAIN.pack
    thead6 = _LIST_ELEM_TIMEOUT_HEAD[16] + _KEY_HEAD[16]
    phead6 = _LIST_ELEM_HEAD[16] + _KEY_HEAD[16]
    return [
        p6(phead6, a >> 64, a & _LOW64)
        if t is None
        else t6(thead6, a >> 64, a & _LOW64, _TIMEOUT_HEAD, t)
        for a, t in keys
    ]


def timed_address_elements(
    width: int, addresses: Sequence[int], timeouts: Sequence[int]
) -> list[bytes]:
    """``address_elements`` of ``addresses`` each with its timeout (ms, none None): the
    IPv4 ones packed without a Python step per element (a restore's 100,000)."""
    if width != 4:
        return address_elements(width, zip(addresses, timeouts, strict=True))
    head = _LIST_ELEM_TIMEOUT_HEAD[4] + _KEY_HEAD[4]
    return list(map(_V4_TIMED.pack, repeat(head), addresses, repeat(_TIMEOUT_HEAD), timeouts))


def timed_v4_block(addresses: Sequence[int], timeouts: Sequence[int]) -> bytes:
    """``timed_address_elements(4, addresses, timeouts)`` joined in one block (each element
    ``V4_TIMED_SIZE`` bytes), built without a Python step nor a call per element: the
    elements' template repeated, then each byte of the addresses and timeouts put in
    place by strided slice assignment (a restore's 100,000: a tenth of packing each)."""
    count, size = len(addresses), V4_TIMED_SIZE
    if count != len(timeouts):
        raise ValueError("one timeout per address")
    block = bytearray(_V4_TEMPLATE * count)
    for values, kind, offset in ((addresses, "I", _HEAD), (timeouts, "Q", _V4_TIMEOUT_AT)):
        column = array(kind, values)  # (OverflowError: not an address, or a negative timeout)
        if sys.byteorder == "little":
            column.byteswap()  # big-endian, as nftables takes them
        raw, width = column.tobytes(), column.itemsize
        for byte in range(width):
            block[offset + byte :: size] = raw[byte::width]
    return bytes(block)


def _blocks_alike() -> bool:
    """Whether ``timed_v4_block`` builds here what packing each element does (array's
    "I" of 4 bytes, "Q" of 8), checked on sample values."""
    if array("I").itemsize != 4 or array("Q").itemsize != 8:
        return False
    addresses, timeouts = [0, 1, 0xC0000201, 0xFFFFFFFF], [1, 0x0102030405060708, 999, 2**63]
    return timed_v4_block(addresses, timeouts) == b"".join(
        timed_address_elements(4, addresses, timeouts)
    )


# Whether a restore's IPv4 elements are built as one block (``timed_v4_block``).
V4_BLOCKS = _blocks_alike()


def network_elements(network: IPNetwork, timeout_ms: int | None) -> list[bytes]:
    """The element(s) for one ban: a key, or an interval's start and end for a prefix."""
    key = network.network_address.packed
    if network.prefixlen == network.max_prefixlen:
        return [element(key, timeout_ms)]
    start = element(key, timeout_ms)
    after = int(network.broadcast_address) + 1
    if after > (1 << network.max_prefixlen) - 1:
        return [start]  # the interval runs to the last address: no end element
    return [start, interval_end(after.to_bytes(len(key), "big"))]


def block_elements(
    table: str, set_name: str, block: bytes, size: int, delete: bool = False
) -> list[Message]:
    """``build_elements`` of a block of elements all ``size`` bytes long (``timed_v4_block``):
    as many in each message as one netlink attribute allows, cut without a list of them."""
    kind = c.NFT_MSG_DELSETELEM if delete else c.NFT_MSG_NEWSETELEM
    step = max(1, MAX_ATTR_PAYLOAD // size) * size
    return [
        element_message(kind, table, set_name, [block[start : start + step]])
        for start in range(0, len(block), step)
    ]


def build_elements(
    table: str, set_name: str, elements: Sequence[bytes], delete: bool = False
) -> list[Message]:
    """Element messages for one set, each as large as one netlink attribute allows."""
    kind = c.NFT_MSG_DELSETELEM if delete else c.NFT_MSG_NEWSETELEM
    # Each message takes the most elements whose sizes add up to MAX_ATTR_PAYLOAD (one
    # that is larger alone); the cuts found by bisection on the running total.
    ends = list(accumulate(map(len, elements)))
    msgs: list[Message] = []
    start, base = 0, 0
    while start < len(elements):
        stop = max(start + 1, bisect_right(ends, base + MAX_ATTR_PAYLOAD, lo=start))
        msgs.append(element_message(kind, table, set_name, elements[start:stop]))
        base, start = ends[stop - 1], stop
    return msgs


def element_message(kind: int, table: str, set_name: str, elements: Sequence[bytes]) -> Message:
    payload = _names(c.NFTA_SET_ELEM_LIST_TABLE, table, c.NFTA_SET_ELEM_LIST_SET, set_name) + nest(
        c.NFTA_SET_ELEM_LIST_ELEMENTS, elements
    )
    return Message(kind, payload, NLM_F_CREATE if kind == c.NFT_MSG_NEWSETELEM else 0)


def key_range(key: bytes, end: bytes | None) -> list[IPNetwork]:
    """Networks covering ``[key, end)``; ``end`` None means up to the last address."""
    top = (1 << (8 * len(key))) - 1
    last = top if end is None else int.from_bytes(end, "big") - 1
    make = ipaddress.IPv4Address if len(key) == 4 else ipaddress.IPv6Address
    first_addr = make(int.from_bytes(key, "big"))
    last_addr = make(last)
    return list(ipaddress.summarize_address_range(first_addr, last_addr))


def _names(k1: int, v1: str, k2: int, v2: str) -> bytes:
    return attr(k1, cstr(v1)) + attr(k2, cstr(v2))
