"""Addresses that are never banned.

Always: the host's own addresses and loopback. By default also the on-link
private, ULA and link-local networks (``ignore_local_networks``); public
on-link prefixes never, since a hoster may put many tenants in one. Then the
jail's ``ignoreip``: addresses, prefixes and host names, the names resolved
in the background with their last known addresses kept in the state.
"""

from __future__ import annotations

import ipaddress
import logging
from collections.abc import Iterable, Mapping, Sequence

from journalban.addresses import (
    NEVER_PEER_RANGES,
    IPAddress,
    IPNetwork,
    ban_network,
    parse_network,
)
from journalban.decisions.hostaddrs import AddressDumpInterrupted, interface_addresses
from journalban.decisions.pointverdict import HostVerdicts, PointVerdicts, ranked
from journalban.decisions.split import widest_clear_prefixlen
from journalban.errors import AddressError, AddressIgnored, AddressNotPeer, DumpInterrupted

_NEVER_PEER = tuple((v, first, last) for v, first, last, _ in NEVER_PEER_RANGES)
NEVER_A_PEER = "never a peer"

log = logging.getLogger("journalban.decisions.ignore")

LOOPBACK: tuple[IPNetwork, ...] = (
    ipaddress.ip_network("127.0.0.0/8"),
    ipaddress.ip_network("::1/128"),
)
LINK_LOCAL: tuple[IPNetwork, ...] = (
    ipaddress.ip_network("169.254.0.0/16"),
    ipaddress.ip_network("fe80::/10"),
)


def host_interfaces() -> list[tuple[IPNetwork, IPNetwork]]:
    """(own address as /32 or /128, its on-link network) for every interface address."""
    try:
        found = interface_addresses()
    except AddressDumpInterrupted as exc:
        # Addresses kept changing: protect every address any of the reads showed.
        log.warning("cannot read the host's addresses whole: %s; protecting the %d "
                    "addresses the interrupted reads showed", exc, len(exc.seen))  # fmt: skip
        found = exc.seen
    except (OSError, DumpInterrupted) as exc:
        log.warning("cannot read the host's addresses: %s", exc)
        return []
    out = []
    for addr, prefixlen in found:
        try:
            own = ipaddress.ip_network(addr)
            net = ipaddress.ip_network(f"{addr}/{prefixlen}", strict=False)
        except ValueError as exc:
            log.warning("cannot read the host's addresses: %s", exc)
            continue
        out.append((own, net))
    return out


# RFC 1918 and ULA: what "private" means here (ipaddress's is_private also
# counts documentation and other special ranges, which may be routed publicly
# in a lab or mean a real neighbour).
PRIVATE: tuple[IPNetwork, ...] = (
    ipaddress.ip_network("10.0.0.0/8"),
    ipaddress.ip_network("172.16.0.0/12"),
    ipaddress.ip_network("192.168.0.0/16"),
    ipaddress.ip_network("fc00::/7"),
)


def _is_local_network(net: IPNetwork) -> bool:
    return any(_overlaps(net, p) and net.prefixlen >= p.prefixlen for p in (*PRIVATE, *LINK_LOCAL))


class IgnoreList:
    """Decides whether an address or prefix must never be banned."""

    def __init__(
        self,
        ignoreip: Sequence[str],
        *,
        ignore_local_networks: bool = True,
        interfaces: Sequence[tuple[IPNetwork, IPNetwork]] = (),
        hostnames: Mapping[str, Iterable[str]] | None = None,
    ) -> None:
        self.names: list[str] = []
        configured: list[IPNetwork] = []
        for item in ignoreip:
            try:
                configured.append(parse_network(item))
            except AddressError:
                self.names.append(item)
        self.configured = configured
        self.protected: list[IPNetwork] = list(LOOPBACK) + [own for own, _ in interfaces]
        # The broadcast address of each on-link IPv4 network: no peer sends from it.
        self.broadcasts: list[IPNetwork] = [
            ipaddress.ip_network(net.broadcast_address)
            for _, net in interfaces
            if net.version == 4 and net.prefixlen <= 30
        ]
        self._broadcast_ranges = _ranges(self.broadcasts)
        if ignore_local_networks:
            self.protected += list(LINK_LOCAL)
            self.protected += [net for _, net in interfaces if _is_local_network(net)]
        self.resolved: list[IPNetwork] = []
        self.generation = 0  # changes when the answers may (host names resolved anew)
        self._protected_ranges = _ranges(self.protected)
        self._ignoreip_ranges = _ranges(self.configured)
        self.update_hostnames(hostnames or {})

    def update_hostnames(self, hostnames: Mapping[str, Iterable[str]]) -> None:
        resolved = []
        for name in self.names:
            for text in hostnames.get(name, ()):
                try:
                    resolved.append(parse_network(text))
                except AddressError:
                    continue
        self.resolved = resolved
        self._ignoreip_ranges = _ranges([*self.configured, *resolved])
        self.generation += 1
        # why_ignored_range of one address, flattened (and its IPv4 texts remembered)
        self.points = PointVerdicts(ranked((
            *((((v, f, la),), f"{NEVER_A_PEER}: {why}") for v, f, la, why in NEVER_PEER_RANGES),
            (self._broadcast_ranges, f"{NEVER_A_PEER}: the broadcast address of an on-link network"),
            (self._protected_ranges, "the host's own, loopback or a local network"),
            (self._ignoreip_ranges, "in ignoreip"),
        )))  # fmt: skip
        self.hosts = HostVerdicts(self.points)

    def why_ignored(self, net: IPNetwork, *, force: bool = False) -> str | None:
        """Why ``net`` must not be banned, or None. ``force`` overrides only ignoreip."""
        # Called for every failure: integer ranges, not ipaddress's overlaps() (10x slower).
        # (prefix length arithmetic: ``hostmask`` would cache a dict on every network)
        low = int(net.network_address)
        high = low | ((1 << (net.max_prefixlen - net.prefixlen)) - 1)
        return self.why_ignored_range(net.version, low, high, force=force)

    def why_ignored_range(
        self, version: int, low: int, high: int, *, force: bool = False
    ) -> str | None:
        """``why_ignored`` for the addresses ``low`` to ``high`` (integers) of IP ``version``."""
        if not force:
            if low == high:
                return self.points.why(version, low)
            if self.points.clear(version, low, high):  # (a bisection, not a walk of the ranges)
                return None
        return self.why_by_ranges(version, low, high, force=force)

    def why_by_ranges(
        self, version: int, low: int, high: int, *, force: bool = False
    ) -> str | None:
        """``why_ignored_range`` walking the ranges in order (``points`` flattens them)."""
        for v, first, last, why in NEVER_PEER_RANGES:
            if v == version and low <= last and first <= high:
                return f"{NEVER_A_PEER}: {why}"
        if low == high:  # a prefix around it may be banned: no packet comes from it
            for v, first, _ in self._broadcast_ranges:
                if v == version and low == first:
                    return f"{NEVER_A_PEER}: the broadcast address of an on-link network"
        for v, first, last in self._protected_ranges:
            if v == version and low <= last and first <= high:
                return "the host's own, loopback or a local network"
        if not force:
            for v, first, last in self._ignoreip_ranges:
                if v == version and low <= last and first <= high:
                    return "in ignoreip"
        return None

    def check_bannable(self, net: IPNetwork, *, force: bool = False) -> None:
        """Refuse a ban of ``net`` by hand or from elsewhere.

        Raises:
            AddressNotPeer: ``net`` is or holds an address that is never a peer.
            AddressIgnored: it is ignored (``force`` overrides only ignoreip).
        """
        why = self.why_ignored(net, force=force)
        if why is not None and why.startswith(NEVER_A_PEER):
            raise AddressNotPeer(f"{net} is {why}: not banned")
        if why is not None:
            raise AddressIgnored(f"{net} is not banned: {why}")

    def counted_network(self, address: IPAddress, prefixlen: int) -> tuple[IPNetwork, str | None]:
        """The network failures from ``address`` are counted and banned as, and why
        they are ignored (None: they are not).

        The family's configured prefix (``prefixlen`` for IPv6, /32 for IPv4),
        narrowed by the split rule (``decisions/split.py``) when it holds a
        protected or ignoreip address: a neighbour in the host's own /64 is
        counted as the widest prefix holding none of them, never ignored.
        """
        network = ban_network(address, prefixlen)
        why = self.why_ignored(network)
        if why is None or network.prefixlen == network.max_prefixlen:
            return network, why
        value = int(address)
        plen = widest_clear_prefixlen(
            address.version,
            value,
            network.prefixlen,
            (*_NEVER_PEER, *self._protected_ranges, *self._ignoreip_ranges),
        )
        if plen is None:
            return network, self.why_ignored_range(address.version, value, value)
        return ban_network(address, plen), None


def _ranges(networks: Iterable[IPNetwork]) -> tuple[tuple[int, int, int], ...]:
    """(version, first, last address as integers) of each network."""
    return tuple(
        (n.version, int(n.network_address), int(n.network_address) | int(n.hostmask))
        for n in networks
    )


def _overlaps(a: IPNetwork, b: IPNetwork) -> bool:
    return a.version == b.version and a.overlaps(b)
