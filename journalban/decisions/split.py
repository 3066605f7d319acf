"""The split rule: the widest prefix that holds an address and none of the protected ones.

journalban counts and bans IPv6 peers by a prefix (``ipv6_prefix``, /64 by
default) because one host rotates through its whole /64. When that prefix
also holds an address that must never be banned (the host's own public
address on a hoster's shared segment, an ``ignoreip`` entry, a local
network), refusing the whole prefix would let every neighbour in it fail
for ever; banning it would cut off the host. The rule in between:

    An address is counted and banned as the WIDEST prefix that holds it,
    is no wider than the configured one, and holds NONE of the protected
    addresses. An address that is itself protected gets no prefix (None).

Example: own address ``2001:db8:1::1``, prefix /64. A neighbour at
``2001:db8:1::8000:0:0:5`` is counted as ``2001:db8:1:0:8000::/65`` (the half
of the /64 without the host), ``2001:db8:1::2:0:0:9`` as
``2001:db8:1:0:2::/79``..., and ``2001:db8:1::1`` itself never. A neighbour
rotating addresses at random lands in the /65 half of the time, the /66 a
quarter, and so on: it keeps being caught, and no ban ever covers the host.

The rule is the same for any family and width: detectors that ban wider
prefixes (an IPv4 /24 of a subnet attack) narrow them with the same function.

This module is pure arithmetic on integers, with no state: callers pass the
protected networks (or their integer ranges, which ``IgnoreList`` keeps).
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable

from journalban.addresses import IPAddress, IPNetwork

# (IP version, first address, last address) as integers.
Range = tuple[int, int, int]


def widest_clear_prefixlen(
    version: int, value: int, prefixlen: int, protected: Iterable[Range]
) -> int | None:
    """The shortest prefix length >= ``prefixlen`` whose block around ``value`` holds
    none of the ``protected`` ranges, or None when ``value`` itself is protected.

    ``value`` is the address as an integer of IP ``version``; the ranges need
    not be aligned prefixes (any first..last works).
    """
    width = 32 if version == 4 else 128
    if not 0 <= prefixlen <= width:
        raise ValueError(f"prefix length /{prefixlen} out of range for IPv{version}")
    need = prefixlen
    for v, first, last in protected:
        if v != version:
            continue
        if first <= value <= last:
            return None
        # A block is clear of the range once it has shrunk past it; narrower
        # blocks around ``value`` stay clear, so the first clear length is it.
        plen = need
        while True:
            host_bits = width - plen
            low = (value >> host_bits) << host_bits
            high = low | ((1 << host_bits) - 1)
            if high < first or last < low:
                break
            plen += 1  # never passes ``width``: the /width block is ``value`` alone
        need = plen
    return need


def widest_clear_network(
    address: IPAddress, prefixlen: int, protected: Iterable[IPNetwork]
) -> IPNetwork | None:
    """The widest network holding ``address``, no wider than /``prefixlen`` (clamped
    to the family's width), that holds none of ``protected``; None when
    ``address`` is in a protected network.

    >>> import ipaddress
    >>> own = ipaddress.ip_network("2001:db8:1::1/128")
    >>> widest_clear_network(ipaddress.ip_address("2001:db8:1::8000:0:0:5"), 64, [own])
    IPv6Network('2001:db8:1:0:8000::/65')
    """
    width = address.max_prefixlen
    ranges = [
        (n.version, int(n.network_address), int(n.broadcast_address))
        for n in protected
        if n.version == address.version
    ]
    plen = widest_clear_prefixlen(address.version, int(address), min(prefixlen, width), ranges)
    if plen is None:
        return None
    base = int(address) >> (width - plen) << (width - plen)
    if address.version == 4:
        return ipaddress.IPv4Network((base, plen))
    return ipaddress.IPv6Network((base, plen))
