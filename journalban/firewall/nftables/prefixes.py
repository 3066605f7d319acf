"""Which prefixes may be banned at all: the check the decisions stage and the backend share."""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable
from typing import Final

from journalban.addresses import IPNetwork, format_network
from journalban.errors import AddressIgnored

# Never banned, whatever the configuration says: the host talking to itself.
ALWAYS_PROTECTED: Final[tuple[IPNetwork, ...]] = (
    ipaddress.ip_network("127.0.0.0/8"),
    ipaddress.ip_network("::1/128"),
)


def check_prefix(
    network: IPNetwork,
    min_v4: int = 16,
    min_v6: int = 32,
    protected_networks: Iterable[IPNetwork] = (),
) -> None:
    """Refuse a ban of ``network`` that is too wide or would cover a protected address.

    ``protected_networks`` holds the host's own addresses, its local networks and
    the ignore list; a ban overlapping any of them (inside or around) is refused.

    Raises:
        AddressIgnored: the prefix is shorter than the minimum for its family, or
            overlaps a protected network.
    """
    minimum = min_v4 if network.version == 4 else min_v6
    if network.prefixlen < minimum:
        raise AddressIgnored(
            f"{format_network(network)} is wider than the minimum prefix /{minimum}"
        )
    for protected in (*ALWAYS_PROTECTED, *protected_networks):
        if protected.version == network.version and network.overlaps(protected):
            raise AddressIgnored(
                f"{format_network(network)} overlaps protected {format_network(protected)}"
            )
