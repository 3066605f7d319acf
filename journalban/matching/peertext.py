"""Whether a captured host text names a possible peer, without building an address.

``journalban regex`` counts a matched line only when its host text is a valid
address that can be a peer (``parse_address`` and ``never_peer``). ipaddress
parses text in Python: about 8 us for IPv4 and 25 us for IPv6 on the benchmark
machine, paid once per distinct address, which on a log of 200,000 attacking
addresses was most of the run. inet_pton accepts exactly the texts ipaddress
accepts from the characters ``parse_address`` lets through (no leading zeros in
a dotted quad, at most one ``::``, an embedded IPv4 only at the end;
tests/unit/test_peer_text.py compares the two on generated texts), at a
hundredth of the cost; the never-peer ranges are then checked on the integer.
"""

from __future__ import annotations

# _socket, not socket: the same functions without socket.py (0.5 MB in a reader child).
import _socket as socket
from typing import Final

from journalban.addresses import NEVER_PEER_RANGES

_HEX_COLON: Final = frozenset("0123456789abcdefABCDEF:.")
_NEVER_V4: Final = tuple((first, last) for v, first, last, _ in NEVER_PEER_RANGES if v == 4)
_NEVER_V6: Final = tuple((first, last) for v, first, last, _ in NEVER_PEER_RANGES if v == 6)
_inet_pton = socket.inet_pton
_AF_INET: Final = socket.AF_INET
_AF_INET6: Final = socket.AF_INET6


def peer_text_ok(text: str) -> bool:
    """``parse_address(text)`` is an address and ``never_peer`` of it is None."""
    if text.startswith("[") and text.endswith("]"):
        text = text[1:-1]
    if not text or len(text) > 45 or not _HEX_COLON.issuperset(text):
        return False
    try:
        if ":" in text:
            value = int.from_bytes(_inet_pton(_AF_INET6, text), "big")
            if value >> 32 == 0xFFFF:  # IPv4-mapped: parse_address gives the IPv4 address
                return _outside(value & 0xFFFFFFFF, _NEVER_V4)
            return _outside(value, _NEVER_V6)
        return _outside(int.from_bytes(_inet_pton(_AF_INET, text), "big"), _NEVER_V4)
    except OSError:
        return False


def _outside(value: int, ranges: tuple[tuple[int, int], ...]) -> bool:
    # A loop, not all() over a generator: that costs a microsecond a call here.
    for first, last in ranges:  # noqa: SIM110
        if first <= value <= last:
            return False
    return True
