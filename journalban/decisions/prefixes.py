"""Which prefix a subnet verdict bans: the split rule over the attackers seen.

The ban is the widest prefix, no wider than the subnet detector's, that
holds every attacking network seen in it and none of the protected
addresses: the host's own and local networks, ``ignoreip``, and the
networks known-good pairs logged in from (``decisions.split`` narrows
around each attacker; the widest length clear for all of them is the one).
When no single prefix holds the attackers without a protected address, no
prefix is banned (the attackers still are, one by one, by the other detectors).
"""

from __future__ import annotations

import ipaddress
from collections.abc import Callable

from journalban.addresses import IPNetwork
from journalban.decisions.runtime import JailRuntime
from journalban.decisions.split import Range, widest_clear_prefixlen
from journalban.errors import AddressError, AddressIgnored
from journalban.jails.detector import VerdictTuple


def subnet_prefix(
    rt: JailRuntime, verdict: VerdictTuple, check_prefix: Callable[[IPNetwork], None] | None
) -> str | None:
    """The text of the prefix to ban for ``verdict`` (a ``jails.detector.Verdict``'s fields),
    or None when none may be."""
    _, prefix, _, _, _, found = verdict
    try:
        wide = ipaddress.ip_network(prefix)
        members = [ipaddress.ip_network(m, strict=False) for m in found]
    except ValueError:
        return None
    protected = protected_ranges(rt, wide.version)
    width: int = wide.max_prefixlen
    length = wide.prefixlen
    common: int = width
    first = int(members[0].network_address) if members else int(wide.network_address)
    for member in members:
        low = int(member.network_address)
        need = widest_clear_prefixlen(wide.version, low, wide.prefixlen, protected)
        if need is None:
            return None
        length = max(length, need)
        common = min(common, width - (first ^ low).bit_length(), member.prefixlen)
    if length > common or length == width:
        return None  # no prefix holds them all without a protected address
    base = first >> (width - length) << (width - length)
    network: IPNetwork = (
        ipaddress.IPv4Network((base, length))
        if wide.version == 4
        else ipaddress.IPv6Network((base, length))
    )
    if check_prefix is not None:
        try:
            check_prefix(network)
        except (AddressIgnored, AddressError):
            return None
    return str(network)


def protected_ranges(rt: JailRuntime, version: int) -> list[Range]:
    """The ranges no prefix ban may touch: the ignore list's and known-good networks'."""
    ignore = rt.ignore
    ranges = [r for r in (*ignore._protected_ranges, *ignore._ignoreip_ranges) if r[0] == version]
    detection = rt.detection
    if detection is not None and detection.known_good is not None:
        for text in detection.known_good.networks:
            try:
                net = ipaddress.ip_network(text, strict=False)
            except ValueError:
                continue
            if net.version == version:
                low = int(net.network_address)
                ranges.append((version, low, low | int(net.hostmask)))
    return ranges
