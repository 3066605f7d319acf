"""IPv6 keys on the failure path: an address text's prefix key and a ban's /64, in C.

``ipv6_prefix_key`` (an IPv6 text -> the first and last address of its prefix and the
prefix's text) and ``network_64`` (a "<prefix>::/64" key -> its network, for a ban) are
a flood's IPv6 first sights: tens of thousands of new addresses, each keyed once and
each banned. journalban._addrkey does both with the same libc inet_pton and inet_ntop
the Python functions call, building the network as netobjects' maker builds it; each is
checked at import against its Python function (``*_python``, used where the module is not
built, where they differ, or with JOURNALBAN_NATIVE_HITS=0; ``use`` switches).
"""

from __future__ import annotations

# _socket, not socket: the same functions without socket.py (0.5 MB in a reader child).
import _socket as socket
import ipaddress
import os
from collections.abc import Callable
from typing import Final

from journalban.netobjects import v6_prefix as _v6_prefix

IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network


# IPv6 blocks that carry one IPv4 host per address (NAT64 translation, Teredo:
# the client's IPv4 address and port in the last 48 bits): their /64 holds many
# unrelated hosts (every NAT64-translated one, every client of a Teredo server),
# so an address there is counted and banned alone.
PER_ADDRESS_V6: Final[tuple[ipaddress.IPv6Network, ...]] = (
    ipaddress.IPv6Network("64:ff9b::/96"),
    ipaddress.IPv6Network("64:ff9b:1::/48"),
    ipaddress.IPv6Network("2001::/32"),
)


_PER_ADDRESS_V6: Final = tuple(
    (int(n.network_address), int(n.broadcast_address)) for n in PER_ADDRESS_V6
)


def _native_v6_key() -> Callable[[str, int], tuple[int, int, str] | None] | None:
    """``ipv6_prefix_key_python`` in C (journalban._addrkey), checked on sample texts;
    None where it is not built, differs, or JOURNALBAN_NATIVE_HITS=0."""
    if os.environ.get("JOURNALBAN_NATIVE_HITS", "1") == "0":
        return None
    try:
        from journalban import _addrkey
    except ImportError:
        return None
    _addrkey.setup(_PER_ADDRESS_V6, ipv6_prefix_key_python)
    fast: Callable[[str, int], tuple[int, int, str] | None] = _addrkey.ipv6_prefix_key
    for text in ("2001:db8::1", "2a00:1:2:3:4:5:6:7", "::1", "64:ff9b::1", "fe80::1%eth0",
                 "2001:DB8:0:0:1::", "2001:db8::1.2.3.4", "ff02::1", "1:2:3:4:5:6:7::"):  # fmt: skip
        for prefixlen in (0, 1, 48, 56, 63, 64, 65, 127, 128):
            if fast(text, prefixlen) != ipv6_prefix_key_python(text, prefixlen):
                return None
    return fast


_LOW_64: Final = (1 << 64) - 1  # an IPv6 /64's host bits


def ipv6_prefix_key_python(text: str, prefixlen: int) -> tuple[int, int, str] | None:
    """An IPv6 address in plain hex-colon form: the first and last address (integers)
    and the text of its /``prefixlen`` network; None leaves it to the general path.

    The failure path's IPv6 shortcut (``ipaddress`` parses and prints in Python,
    about 10 µs an address). inet_pton takes the hex-colon forms ``ipaddress``
    takes, and inet_ntop prints what it prints (RFC 5952: lower case, the first
    longest run of two or more zero groups as ``::``), except a dotted IPv4 tail
    for some addresses whose top 64 bits are zero: those, embedded IPv4 forms,
    brackets and the blocks counted per address (``PER_ADDRESS_V6``) give None, as does
    a text inet_pton cannot be given (a NUL, a lone surrogate). ``ipv6_prefix_key`` is
    this in C where journalban._addrkey is built (the same inet_pton and inet_ntop).
    """
    if "." in text:
        return None
    try:
        packed = socket.inet_pton(socket.AF_INET6, text)
    except (OSError, ValueError):  # (a NUL or a surrogate: ValueError, not an address)
        return None
    value = int.from_bytes(packed, "big")
    if value >> 64 == 0:
        return None
    for first, last in _PER_ADDRESS_V6:  # (a loop: any() of a generator cost twice as much)
        if first <= value <= last:
            return None
    host_bits = 128 - prefixlen
    low = (value >> host_bits) << host_bits
    if low >> 64 == 0:
        return None
    text = socket.inet_ntop(socket.AF_INET6, low.to_bytes(16, "big"))
    return low, low | ((1 << host_bits) - 1), f"{text}/{prefixlen}"


def network_64_python(text: str) -> IPNetwork | None:
    """The IPv6 /64 a "<prefix>::/64" text names as the agent keys it (inet_ntop's text
    of its first address), its text kept, as stored_network's own path for it without its
    general steps and a second lookup; None for any other text (the general path)."""
    try:
        packed = socket.inet_pton(socket.AF_INET6, text[:-3])
    except (OSError, ValueError):
        return None
    value = int.from_bytes(packed, "big")
    if value & _LOW_64 or socket.inet_ntop(socket.AF_INET6, packed) != text[:-3]:
        return None
    if _v6_prefix is None:  # (stored_network_text's caller asks only when it is not)
        return None
    six = _v6_prefix(value, 64)
    six._text = text  # type: ignore[attr-defined]
    return six


def _alike_64(ours: IPNetwork, theirs: IPNetwork) -> bool:
    """Two networks alike in every way the agent reads them (attributes in order)."""
    mine, real = vars(ours), vars(theirs)
    return (
        type(ours) is type(theirs)
        and list(mine.items()) == list(real.items())
        and type(ours.network_address) is type(theirs.network_address)
        and ours.network_address._ip == theirs.network_address._ip  # type: ignore[union-attr]
        and getattr(ours.network_address, "_scope_id", 0) is None
        and getattr(theirs.network_address, "_scope_id", 0) is None
        and ours.netmask is theirs.netmask
        and ours == theirs
        and hash(ours) == hash(theirs)
        and str(ours) == str(theirs)
    )


def _native_64() -> Callable[[str], IPNetwork | None] | None:
    """``network_64_python`` in C (journalban._addrkey), checked on sample texts; None
    where it is not built, differs, or JOURNALBAN_NATIVE_HITS=0."""
    if os.environ.get("JOURNALBAN_NATIVE_HITS", "1") == "0" or _v6_prefix is None:
        return None
    try:
        from journalban import _addrkey
    except ImportError:
        return None
    probe = _v6_prefix(1 << 64, 64)
    _addrkey.setup_64(type(probe.network_address), type(probe), probe.netmask,
                      int(probe.netmask))  # fmt: skip
    fast: Callable[[str], IPNetwork | None] = _addrkey.network_64
    for text in ("2001:db8::/64", "2001:db8:1:2::/64", "ffff:ffff:ffff:ffff::/64", "1::/64",
                 "2001:DB8::/64", "2001:db8::1::/64", "2001:db8:0:0::/64", "::/64"):  # fmt: skip
        ours, theirs = fast(text), network_64_python(text)
        if (ours is None) != (theirs is None):
            return None
        if ours is not None and theirs is not None and not _alike_64(ours, theirs):
            return None
    return fast


NATIVE_KEY: Final = _native_v6_key()
NATIVE_64: Final = _native_64()
# What the failure path calls (``use`` switches them).
ipv6_prefix_key: Callable[[str, int], tuple[int, int, str] | None] = (
    NATIVE_KEY or ipv6_prefix_key_python
)
network_64: Callable[[str], IPNetwork | None] = NATIVE_64 or network_64_python


def use(native: bool) -> bool:
    """Both in C (if built and checked) or in Python; whether C is in use. (Modules that
    took ``ipv6_prefix_key`` at import keep the one they took.)"""
    global ipv6_prefix_key, network_64
    ipv6_prefix_key = (NATIVE_KEY if native else None) or ipv6_prefix_key_python
    network_64 = (NATIVE_64 if native else None) or network_64_python
    return ipv6_prefix_key is not ipv6_prefix_key_python
