"""The agent's own network objects: ipaddress's, built without its argument parsing.

A ban's network is built once per ban and looked up some twenty times (the ban table,
its text, the history, recidive's counts, the state rows, the log), and restoring
100,000 bans builds 100,000 of them. ipaddress parses its argument and computes each
hash in Python; the makers here fill the same objects as this Python's ``__init__``
does, checked at import against the real constructor on sample values (and the real
constructor is used when they differ), with the hash computed once.

``host_v4_network(value)``: an IPv4 /32; ``v6_prefix(value, prefixlen)``: an IPv6
prefix shorter than /127 (None when this Python's objects differ); ``hashed_v6(spec)``:
any IPv6 network, through ``v6_prefix`` when it can.

Their ``__hash__`` (``return self._hash``) is a frame of Python at each dict or set lookup
of one (a flood's bans: the ban table's and the dry-run's, twice a ban); where
journalban._addrkey is built, the classes' hash slot reads ``_hash`` in C instead
(``use_native_hash``; JOURNALBAN_NATIVE_HITS=0 keeps the Python methods), checked here.
"""

from __future__ import annotations

import ipaddress
import os
from collections.abc import Callable
from typing import Final

IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

_ALL_V6: Final = (1 << 128) - 1


class _HostV4(ipaddress.IPv4Network):
    """An ``IPv4Network`` /32 that knows its hash: ipaddress computes it in Python at
    each dict lookup, and a ban's network is looked up some twenty times (the ban
    table, its text, the history, recidive's counts, the state rows, the log). Equal
    to, hashing as and printing as the ``IPv4Network`` it stands for; a copy or a
    pickle of it is a plain one."""

    _hash: int

    def __hash__(self) -> int:
        return self._hash

    def __repr__(self) -> str:
        return f"IPv4Network({str(self)!r})"

    def hosts(self) -> list[ipaddress.IPv4Address]:  # type: ignore[override]
        # What ipaddress's __init__ puts in each /32's own dict (a closure: 100 bytes a ban).
        return [ipaddress.IPv4Address(self.network_address)]

    def __reduce__(self) -> tuple[type[ipaddress.IPv4Network], tuple[str]]:
        return ipaddress.IPv4Network, (str(self),)


class _HashedV6(ipaddress.IPv6Network):
    """An ``IPv6Network`` that knows its hash, as ``_HostV4`` (the bans' /64s)."""

    _hash: int

    def __hash__(self) -> int:
        return self._hash

    def __repr__(self) -> str:
        return f"IPv6Network({str(self)!r})"

    def __reduce__(self) -> tuple[type[ipaddress.IPv6Network], tuple[str]]:
        return ipaddress.IPv6Network, (str(self),)


def hashed_v6(spec: int | tuple[int, int]) -> ipaddress.IPv6Network:
    if v6_prefix is not None and type(spec) is tuple and 0 <= spec[1] < 127:
        return v6_prefix(*spec)
    net = _HashedV6(spec)
    net._hash = ipaddress.IPv6Network.__hash__(net)
    return net


def _made_alike(
    ours: IPNetwork,
    theirs: IPNetwork,
    network_type: type[IPNetwork],
    unset: frozenset[str] = frozenset(),
) -> bool:
    """A fast maker's network (``ours``) is the one ``network_type``'s constructor made
    (``theirs``) in every way the agent reads it: attributes (but ``_hash``, and the
    ``unset`` ones ours gets from its class), equality both ways, hash, texts, masks."""
    return (
        vars(ours).keys() | unset == vars(theirs).keys() | {"_hash"}
        and getattr(ours.network_address, "_scope_id", None)
        is getattr(theirs.network_address, "_scope_id", None)
        and ours == theirs
        and theirs == ours
        and hash(ours) == hash(theirs) == network_type.__hash__(ours)  # type: ignore[arg-type]
        and str(ours) == str(theirs)
        and repr(ours) == repr(theirs)
        and ours.broadcast_address == theirs.broadcast_address
        and ours.hostmask == theirs.hostmask
        and ours.num_addresses == theirs.num_addresses
        and ours.network_address.packed == theirs.network_address.packed
    )


def _v6_prefix_maker() -> Callable[[int, int], ipaddress.IPv6Network] | None:
    """``_HashedV6((value, prefixlen))`` for a prefix shorter than /127 (a ban's /64)
    without ipaddress's argument parsing, filled as this Python's ``__init__`` fills
    it (checked here against the constructor, as ``_host_v4_maker``). Raises
    ValueError, as the constructor, when ``value`` has host bits set."""
    address_type, network_type = ipaddress.IPv6Address, ipaddress.IPv6Network
    new = object.__new__
    masks = [(m, int(m)) for m in (network_type((0, n)).netmask for n in range(127))]

    def make(value: int, prefixlen: int) -> ipaddress.IPv6Network:
        mask, bits = masks[prefixlen]
        if value & bits != value or value >> 128:
            raise ValueError(f"{value:x}/{prefixlen} has host bits set")
        address = new(address_type)
        address._ip = value  # type: ignore[attr-defined]
        address._scope_id = None  # type: ignore[attr-defined]
        net = new(_HashedV6)
        net.network_address = address
        net.netmask = mask
        net._prefixlen = prefixlen  # type: ignore[attr-defined]
        net._hash = hash(value ^ bits)
        return net

    try:
        for value, plen in ((0, 0), (1 << 64, 64), (0x20010DB8 << 96, 32), (0xFE80 << 112, 10),
                            (((1 << 126) - 1) << 2, 126), (((1 << 64) - 1) << 64, 64)):  # fmt: skip
            if not _made_alike(make(value, plen), network_type((value, plen)), network_type):
                return None
    except (AttributeError, TypeError, ValueError):
        return None
    return make


v6_prefix = _v6_prefix_maker()


def _host_v4_maker() -> Callable[[int], ipaddress.IPv4Network] | None:
    """``IPv4Network(value)`` for a /32 without ipaddress's argument parsing: the
    objects are filled as this Python's ``__init__`` fills them (checked here on
    sample values against the real constructor; None, and the constructor is
    used, when they differ), their hash computed once (``_HostV4``). Restoring
    100,000 bans builds 100,000 of them, and the constructor was a third of
    reading the state."""
    address_type, network_type = ipaddress.IPv4Address, ipaddress.IPv4Network
    new = object.__new__
    mask = network_type(0).netmask
    all_ones = int(mask)

    def make(value: int) -> ipaddress.IPv4Network:
        address = new(address_type)
        address._ip = value  # type: ignore[attr-defined]
        net = new(_HostV4)
        # Attributes set one by one, in __init__'s order, and never through __dict__:
        # Python 3.11 keeps them in the object's inline values; asking for __dict__
        # builds a dict beside them (120 bytes a /32 kept, a ban's or a counted one's).
        net.network_address = address
        net.netmask = mask
        net._prefixlen = 32  # type: ignore[attr-defined]
        net._hash = hash(value ^ all_ones)
        return net

    try:
        for value in (0, 1, 0x0A000001, 0xC0000201, 0x7FFFFFFF, 0xFFFFFFFE, 0xFFFFFFFF):
            ours, theirs = make(value), network_type(value)
            # (a /32's hosts() is a method of _HostV4, not set per object)
            if not _made_alike(ours, theirs, network_type, frozenset({"hosts"})) or list(
                ours.hosts()
            ) != list(theirs.hosts()):
                return None
    except (AttributeError, TypeError):
        return None
    return make


# ``IPv4Network(value)`` for a /32, fast (the state's reader builds one per ban).
host_v4_network: Final = _host_v4_maker() or ipaddress.IPv4Network
# The class of its networks, each a single IPv4 address: told apart by ``type(n) is``
# without a call (a ban table counts its prefixes, 100,000 bans at a restore).
HOST_V4_TYPE: Final[type[ipaddress.IPv4Network]] = _HostV4


_KNOWN: Final = (_HostV4, _HashedV6)


def use_native_hash(native: bool) -> bool:
    """The networks' hash read from ``_hash`` in C (journalban._addrkey, if built) or by
    their Python ``__hash__``; whether C is in use."""
    try:
        from journalban import _addrkey
    except ImportError:
        native = False
    else:  # (a module built before known_hash was: the Python methods)
        native = native and hasattr(_addrkey, "known_hash")
    for cls in _KNOWN:
        if native:
            _addrkey.known_hash(cls)
        else:  # (setting __hash__ puts Python's slot back)
            cls.__hash__ = cls.__dict__["__hash__"]  # type: ignore[method-assign]
    return native


def _hash_in_c() -> bool:
    """``use_native_hash(True)`` unless JOURNALBAN_NATIVE_HITS=0, checked on sample
    networks (the same hash as their Python ``__hash__`` gives; else the Python one)."""
    if os.environ.get("JOURNALBAN_NATIVE_HITS", "1") == "0" or not use_native_hash(True):
        return False
    samples: list[ipaddress.IPv4Network | ipaddress.IPv6Network] = [
        host_v4_network(v) for v in (0, 1, 0xC0000201, 0xFFFFFFFF)
    ]
    samples += [hashed_v6((1 << 64, 64)), hashed_v6(1), hashed_v6(((1 << 128) - 1, 128))]
    if all(hash(n) == type(n).__dict__["__hash__"](n) == n._hash for n in samples):  # type: ignore[union-attr]
        return True
    return use_native_hash(False)


NATIVE_HASH: Final = _hash_in_c()
