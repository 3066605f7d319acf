"""Reading back a set of single addresses laid out alike, a few C calls a message. Pure.

A restart finds the kernel holding the 100,000 elements the last start sent:
the same attributes in the same order, only the key, the timeout and the
expiration differ. The first element gives the layout; a regular expression
checks that every element of the message follows it byte for byte (but for
those three values), and ``struct`` takes the values out. A message that does
not (flags, mixed timeouts, another kernel's attributes) is left to the
general walk, which reads anything.
"""

from __future__ import annotations

import functools
import re
import struct
from collections.abc import Callable
from itertools import repeat
from operator import add, itemgetter, truediv

from journalban.firewall.nftables import constants as c
from journalban.firewall.nftables.plan import INF, Key

_NLA = struct.Struct("=HH")
_FIRST, _SECOND = itemgetter(0), itemgetter(1)
# (int.from_bytes, typed for ``map`` with its byte order as a second argument)
_from_bytes: Callable[[bytes, str], int] = int.from_bytes  # type: ignore[assignment]
# (offset, length, what) of an element's varying values: "key", "timeout", "expiry".
Span = tuple[int, int, str]


def uniform_elements(data: bytes, now: float) -> list[tuple[Key, float]] | None:
    """(key, expiry) of each element of an element list, or None when they are not all
    laid out as the first one (the caller then walks them one by one)."""
    if len(data) < 4:
        return None
    size = _NLA.unpack_from(data, 0)[0]
    if size < 4 or size % 4 or len(data) % size:
        return None
    spans = _spans(data[:size])
    if spans is None:
        return None
    first = data[:size]
    pieces, at = [], 0
    for offset, length, _ in spans:
        pieces.append(first[at:offset])
        at = offset + length
    pieces.append(first[at:])
    layout = _layout(tuple(pieces), tuple(spans))
    pattern, values = layout
    if pattern.fullmatch(data) is None:
        return None
    rows = list(values.iter_unpack(data))
    width = spans[0][1]  # the key comes first (``_spans``)
    bits = 8 * width
    # (in C calls, no Python step per element: a restart reads 100,000 back)
    found = map(_FIRST, rows)
    addresses = found if width == 4 else map(_from_bytes, found, repeat("big"))
    keys = zip(addresses, repeat(bits))
    if len(spans) == 1:  # no timeouts: permanent bans
        return list(zip(keys, repeat(INF)))
    # now + x / 1000 of each expiration x (ms)
    expiries = map(add, repeat(now), map(truediv, map(_SECOND, rows), repeat(1000)))
    return list(zip(keys, expiries, strict=True))


def _spans(element: bytes) -> list[Span] | None:
    """Where the key, timeout and expiration values sit in one element; None when the
    element has anything else that varies (flags) or no key."""
    spans: list[Span] = []
    p, stop = 4, len(element)
    while p + 4 <= stop:
        attr_len, kind = _NLA.unpack_from(element, p)
        if attr_len < 4:
            return None
        kind &= 0x3FFF  # without NLA_F_NESTED and NLA_F_NET_BYTEORDER
        if kind == c.NFTA_SET_ELEM_KEY:
            value_len = _NLA.unpack_from(element, p + 4)[0] - 4
            if value_len not in (4, 16) or attr_len != 8 + value_len:
                return None
            spans.append((p + 8, value_len, "key"))
        elif kind == c.NFTA_SET_ELEM_TIMEOUT and attr_len == 12:
            spans.append((p + 4, 8, "timeout"))
        elif kind == c.NFTA_SET_ELEM_EXPIRATION and attr_len == 12:
            spans.append((p + 4, 8, "expiry"))
        else:
            return None
        p += (attr_len + 3) & ~3
    whats = [what for _, _, what in spans]
    if whats not in (["key"], ["key", "timeout", "expiry"]):
        return None
    return spans


@functools.lru_cache(maxsize=32)
def _layout(
    pieces: tuple[bytes, ...], spans: tuple[Span, ...]
) -> tuple[re.Pattern[bytes], struct.Struct]:
    """The pattern every element must match, and the struct that takes out the key
    (an integer for IPv4, 16 bytes for IPv6) and the expiration in ms, if any."""
    regex = [re.escape(pieces[0])]
    fmt = [f"{len(pieces[0])}x"]
    for (_, length, what), after in zip(spans, pieces[1:], strict=True):
        regex.append(b".{%d}" % length)
        if what == "timeout":
            fmt.append(f"{length}x")
        elif what == "expiry":
            fmt.append("Q")
        else:
            fmt.append("I" if length == 4 else f"{length}s")
        regex.append(re.escape(after))
        fmt.append(f"{len(after)}x")
    pattern = re.compile(b"(?:" + b"".join(regex) + b")*", re.DOTALL)
    return pattern, struct.Struct(">" + "".join(fmt))
