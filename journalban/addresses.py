"""Addresses as journalban sees them: parsed strictly, normalised, never resolved.

A log line names its peer as text an attacker may shape. Only canonical
IPv4/IPv6 literals are accepted: host names are never resolved (their owner
decides what they resolve to), non-canonical forms such as ``192.030.0.6`` are
refused, IPv4-mapped IPv6 becomes IPv4, and zone ids are refused.

Some valid addresses are never the peer of a connection (``NEVER_PEER``:
unspecified, "this network", broadcast, multicast, discard-only): a log line,
a D-Bus or CLI ban, a fleet order or a config entry naming one as a ban
target is refused (``never_peer``). The full table of IANA's special-purpose
blocks and what journalban does with each is in docs/special-addresses.md.
"""

from __future__ import annotations

# _socket, not socket: the same functions without socket.py (0.5 MB in a reader child).
import _socket as socket
import functools
import ipaddress
from collections.abc import Iterable
from typing import Final

from journalban import v6keys
from journalban.errors import AddressError
from journalban.netobjects import hashed_v6 as _hashed_v6
from journalban.netobjects import host_v4_network
from journalban.netobjects import v6_prefix as _v6_prefix
from journalban.v6keys import PER_ADDRESS_V6 as PER_ADDRESS_V6
from journalban.v6keys import ipv6_prefix_key as ipv6_prefix_key
from journalban.v6keys import ipv6_prefix_key_python as ipv6_prefix_key_python

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

_HEX_COLON: Final = frozenset("0123456789abcdefABCDEF:.")

# No packet ever comes from these: a line naming one as its peer is forged or
# garbled, and a ban of one would block nothing real (multicast) or everything
# (0.0.0.0/8 as a prefix). Why each, as the refusal says it.
NEVER_PEER: Final[tuple[tuple[IPNetwork, str], ...]] = (
    (ipaddress.IPv4Network("0.0.0.0/8"), "unspecified ('this network', 0.0.0.0/8)"),
    (ipaddress.IPv4Network("224.0.0.0/4"), "multicast (224.0.0.0/4)"),
    (ipaddress.IPv4Network("255.255.255.255/32"), "limited broadcast"),
    (ipaddress.IPv6Network("::/128"), "unspecified (::)"),
    (ipaddress.IPv6Network("100::/64"), "discard-only (100::/64)"),
    (ipaddress.IPv6Network("ff00::/8"), "multicast (ff00::/8)"),
)
# (version, first, last, why) as integers, for the failure path.
NEVER_PEER_RANGES: Final[tuple[tuple[int, int, int, str], ...]] = tuple(
    (n.version, int(n.network_address), int(n.broadcast_address), why) for n, why in NEVER_PEER
)


_NEVER_V4: Final = tuple((f, la, why) for v, f, la, why in NEVER_PEER_RANGES if v == 4)
_NEVER_V6: Final = tuple((f, la, why) for v, f, la, why in NEVER_PEER_RANGES if v == 6)


def never_peer(item: IPAddress | IPNetwork) -> str | None:
    """Why ``item`` (an address, or a prefix holding such addresses) can never be
    the peer of a connection, or None when it can."""
    if isinstance(item, ipaddress.IPv4Address | ipaddress.IPv6Address):
        low = high = int(item)
    else:
        low = int(item.network_address)
        high = low | ((1 << (item.max_prefixlen - item.prefixlen)) - 1)
    ranges = _NEVER_V4 if item.version == 4 else _NEVER_V6
    for first, last, why in ranges:
        if low <= last and first <= high:
            return why
    return None


@functools.lru_cache(maxsize=65536)
def parse_address(text: str) -> IPAddress | None:
    """The address ``text`` names, or None when it is not a valid IP literal.

    Brackets around IPv6 are taken off; ``::ffff:a.b.c.d`` gives the IPv4 address.
    """
    if text.startswith("[") and text.endswith("]"):
        text = text[1:-1]
    if not text or len(text) > 45 or not _HEX_COLON.issuperset(text):
        return None
    try:
        addr = ipaddress.ip_address(text)
    except ValueError:
        return None
    if isinstance(addr, ipaddress.IPv6Address) and addr.ipv4_mapped is not None:
        return addr.ipv4_mapped
    return addr


def ipv4_host_key(text: str) -> tuple[int, str] | None:
    """A dotted-quad IPv4 address as an integer and the text of its /32 network (the
    key it is counted and banned by), or None.

    The failure path's shortcut: inet_pton accepts exactly the four-decimal
    form ``ipaddress`` does (no leading zeros, octets up to 255) at a tenth of
    the cost; anything else (IPv6, brackets, junk) gives None, for the general path.
    """
    try:
        packed = socket.inet_pton(socket.AF_INET, text)
    except (OSError, ValueError):  # (a NUL in the text: ValueError)
        return None
    return int.from_bytes(packed, "big"), socket.inet_ntop(socket.AF_INET, packed) + "/32"


def stored_network(text: str, *, remember: bool = True) -> IPNetwork:
    """A network from its own text ("a.b.c.d/32", "2001:db8::/64"), as the agent writes it.

    inet_pton and an integer are several times faster than ipaddress's
    string parsing (bans restored in bulk, networks rebuilt for bans).
    ``remember``: keep the text on the network for ``network_text``.

    Raises:
        AddressError: not a network.
    """
    addr, _, plen = text.partition("/")
    net: IPNetwork
    try:
        if ":" in addr:
            packed = socket.inet_pton(socket.AF_INET6, addr)
            value = int.from_bytes(packed, "big")
            net = _hashed_v6(value if plen == "128" else (value, int(plen)))
            # inet_ntop prints what ipaddress prints, dotted IPv4 tails aside: a text it
            # prints back unchanged is str(net), as the agent's own keys are (a ban's
            # network text is then not formatted again for its history read and rows).
            canonical = "." not in addr and plen == str(net.prefixlen)
            if not canonical or socket.inet_ntop(socket.AF_INET6, packed) != addr:
                return net
        else:
            value = int.from_bytes(socket.inet_pton(socket.AF_INET, addr), "big")
            if plen == "32":
                net = host_v4_network(value)
            else:
                prefix = int(plen)
                net = ipaddress.IPv4Network((value, prefix))
                if plen != str(prefix):
                    return net
    except (OSError, ValueError):
        return parse_network(text)
    if remember:
        # inet_pton took only the canonical dotted quad (IPv6: checked above): the
        # text is str(net).
        net._text = text  # type: ignore[union-attr]
    return net


def stored_network_text(text: str) -> tuple[IPNetwork, str]:
    """``stored_network(text)`` and its ``network_text``, for a ban the agent decides.

    An "a.b.c.d/32" text that inet_pton takes is the network's own text, as
    ``stored_network`` holds (it remembers it): its /32 is built and the text
    remembered here without a call to either. Any other text goes the general way.

    Raises:
        AddressError: not a network.
    """
    if text.endswith("/32") and ":" not in text:
        try:
            value = int.from_bytes(socket.inet_pton(socket.AF_INET, text[:-3]), "big")
        except (OSError, ValueError):
            pass
        else:
            host = host_v4_network(value)
            host._text = text  # type: ignore[attr-defined]
            return host, text
    elif text.endswith("::/64") and _v6_prefix is not None and "." not in text:
        # An IPv6 /64 as the agent keys it: in C where journalban._addrkey is built.
        six = v6keys.network_64(text)
        if six is not None:
            return six, text
    net = stored_network(text)
    return net, network_text(net)


# A network's text is kept on the network itself, as its ``_text`` attribute (ipaddress's
# networks have a ``__dict__``; 3.11 keeps it in the object's inline values, which have room
# for it: no byte more a network), for as long as the network lives: the ban's rows, log
# line, signal and firewall name each read it without a call of Python or a hash of the
# network in Python (a process-wide memo by network cost a hash and a lookup in a dict of
# 131,072 networks at each, and kept the networks alive until it was cleared). Equality,
# hashing, ``str``, ``repr``, copies and pickles of a network do not read it.
TEXT: Final = "_text"


def remembered_text(net: IPNetwork) -> str | None:
    """The text ``network_text`` or ``stored_network`` kept on ``net``, or None (hot
    loops read ``getattr(net, TEXT, None)`` themselves: no call of Python)."""
    return getattr(net, TEXT, None)


def network_text(net: IPNetwork) -> str:
    """``str(net)``, kept on the network: ipaddress formats in Python, several µs a call,
    and the agent writes the same ban's network several times (state, history, logs)."""
    text: str | None = getattr(net, TEXT, None)
    if text is None:
        text = str(net)
        net._text = text  # type: ignore[union-attr]
    return text


def looks_like_hostname(text: str) -> bool:
    """True for text that is a DNS name rather than an address (never resolved)."""
    return bool(text) and not _HEX_COLON.issuperset(text) and "." in text


def parse_network(text: str) -> IPNetwork:
    """A single address or a CIDR prefix given by a user (D-Bus, CLI, config).

    Raises:
        AddressError: the text is not an address or a prefix with host bits clear.
    """
    text = text.strip()
    if "/" not in text:
        addr = parse_address(text)
        if addr is None:
            raise AddressError(f"not an IP address: {text!r}")
        return ipaddress.ip_network(addr)
    base, _, plen = text.partition("/")
    addr = parse_address(base)
    if addr is None or not plen.isdigit():
        raise AddressError(f"not an IP prefix: {text!r}")
    try:
        return ipaddress.ip_network(f"{addr}/{int(plen)}", strict=True)
    except ValueError as exc:
        raise AddressError(f"not an IP prefix: {text!r}: {exc}") from None


def ban_network(addr: IPAddress, ipv6_prefix: int) -> IPNetwork:
    """The network a failure from ``addr`` is counted and banned as."""
    if isinstance(addr, ipaddress.IPv6Address) and ipv6_prefix < 128:
        if any(addr in block for block in PER_ADDRESS_V6):
            return ipaddress.IPv6Network(addr)
        return ipaddress.IPv6Network((addr, ipv6_prefix), strict=False)
    return ipaddress.ip_network(addr)


def is_prefix(net: IPNetwork) -> bool:
    """Whether a ban of ``net`` covers more than one peer: an IPv4 network wider
    than one address, an IPv6 one wider than the /64 a peer is banned as by default."""
    return net.prefixlen < (32 if net.version == 4 else 64)


def format_network(net: IPNetwork) -> str:
    """A single address without its /32 or /128, a prefix with it."""
    # remembered: str() formats in Python (each ban is logged; the dict's get: no call)
    text = getattr(net, TEXT, None) or network_text(net)
    # str(net) is "<network_address>/<prefixlen>", an IPv6 one with a colon: a single
    # address by its text (ipaddress's prefixlen and max_prefixlen are Python properties).
    # An IPv4 /32 first, by its length's own text: most bans, and each is formatted two or
    # three times (its log line, the Banned signal, the dry-run's names).
    if text.endswith("/32"):
        if ":" not in text:
            return text[:-3]
    elif text.endswith("/128"):
        return text[:-4]
    return text


def format_networks(nets: Iterable[IPNetwork]) -> list[str]:
    """``format_network`` of each of ``nets``, in order, in one loop: a run of bans' names
    for the dry-run's line and the bans' log lines (a flood's thousands) without a call of
    Python per network (about 60-80 ns of the 240 a call costs)."""
    out: list[str] = []
    add = out.append
    for net in nets:
        text = getattr(net, TEXT, None) or network_text(net)
        if text.endswith("/32"):
            if ":" not in text:
                text = text[:-3]
        elif text.endswith("/128"):
            text = text[:-4]
        add(text)
    return out
