"""Port specifications: the one place where "ssh", "22", "80,443", "8000-8100", "all" are parsed.

Names resolve through /etc/services (``socket.getservbyname``, which reads it
through NSS), never through the network; where the system knows no such name
(a minimal system has no /etc/services at all), through the built-in table of
well-known names in ``firewall.services``. The result is a sorted tuple of
non-overlapping ``PortRange`` values, because nftables refuses overlapping
intervals in one set and iptables' multiport gains nothing from duplicates.
An empty tuple means all ports.
"""

from __future__ import annotations

import re
import socket
from collections.abc import Iterable, Sequence
from typing import Final

from journalban.firewall.base import PortRange
from journalban.firewall.services import well_known_port

ALL_PORTS: Final = "all"
# multiport accepts at most 15 ports per rule, a range counting as two.
MULTIPORT_SLOTS: Final = 15

_NAME: Final = re.compile(r"[a-z][a-z0-9_.+-]*\Z", re.IGNORECASE)
_RANGE: Final = re.compile(r"(\d+)\s*[-:]\s*(\d+)\Z")


def parse_ports(spec: str | int | Sequence[str | int]) -> tuple[PortRange, ...]:
    """The port ranges ``spec`` names; ``()`` for ``all``.

    ``spec`` is a comma-separated string, a single port number, or a list of
    either (as YAML gives it). Names are looked up for tcp, then udp.

    Raises:
        ValueError: an unknown service name, a port out of 1-65535, a reversed range,
            an empty item, or ``all`` mixed with other ports.
    """
    items = _split(spec)
    if not items:
        raise ValueError("empty port specification")
    if any(item.lower() == ALL_PORTS for item in items):
        if len(items) > 1:
            raise ValueError(f"'all' cannot be combined with other ports: {_show(spec)}")
        return ()
    return merge_ranges(_parse_item(item) for item in items)


def resolve_service(name: str) -> int:
    """The port /etc/services gives ``name`` (tcp first, then udp), else the well-known one.

    Raises:
        ValueError: ``name`` is not a service name known there nor a well-known one.
    """
    if not _NAME.match(name):
        raise ValueError(f"not a port number or service name: {name!r}")
    for proto in ("tcp", "udp"):
        try:
            return socket.getservbyname(name, proto)
        except OSError:
            continue
    port = well_known_port(name)
    if port is not None:
        return port
    raise ValueError(
        f"unknown service name {name!r} (not in /etc/services nor a well-known name; "
        "give the port number)"
    )


def merge_ranges(ranges: Iterable[PortRange]) -> tuple[PortRange, ...]:
    """Sorted ranges with overlapping and adjacent ones joined."""
    merged: list[PortRange] = []
    for rng in sorted(ranges, key=lambda r: (r.first, r.last)):
        if merged and rng.first <= merged[-1].last + 1:
            last = merged[-1]
            merged[-1] = PortRange(last.first, max(last.last, rng.last))
        else:
            merged.append(rng)
    return tuple(merged)


def format_multiport(ranges: Sequence[PortRange]) -> list[str]:
    """``--dports`` arguments for iptables' multiport match, split at its 15-slot limit."""
    chunks: list[str] = []
    current: list[str] = []
    used = 0
    for rng in ranges:
        text, cost = (
            (str(rng.first), 1) if rng.first == rng.last else (f"{rng.first}:{rng.last}", 2)
        )
        if used + cost > MULTIPORT_SLOTS:
            chunks.append(",".join(current))
            current, used = [], 0
        current.append(text)
        used += cost
    if current:
        chunks.append(",".join(current))
    return chunks


def format_ports(ranges: Sequence[PortRange]) -> str:
    """The human form, ``22,8000-8100``, or ``all``; ``parse_ports`` reads it back."""
    if not ranges:
        return ALL_PORTS
    return ",".join(str(r.first) if r.first == r.last else f"{r.first}-{r.last}" for r in ranges)


def _split(spec: str | int | Sequence[str | int]) -> list[str]:
    if isinstance(spec, bool):
        raise ValueError(f"not a port specification: {spec!r}")
    if isinstance(spec, int):
        return [str(spec)]
    if isinstance(spec, str):
        parts: Iterable[str | int] = [spec]
    else:
        parts = spec
    items: list[str] = []
    for part in parts:
        if isinstance(part, bool) or not isinstance(part, str | int):
            raise ValueError(f"not a port specification: {part!r}")
        for item in str(part).split(","):
            item = item.strip()
            if not item:
                raise ValueError(f"empty item in port specification {_show(spec)}")
            items.append(item)
    return items


def _parse_item(item: str) -> PortRange:
    found = _RANGE.match(item)
    if found:
        first, last = _port_number(found.group(1)), _port_number(found.group(2))
        if first > last:
            raise ValueError(f"port range {item!r} runs backwards")
        return PortRange(first, last)
    if item.isdigit():
        port = _port_number(item)
        return PortRange(port, port)
    port = resolve_service(item)
    return PortRange(port, port)


def _port_number(text: str) -> int:
    port = int(text)
    if not 1 <= port <= 65535:
        raise ValueError(f"port {port} is outside 1-65535")
    return port


def _show(spec: object) -> str:
    return repr(spec)
