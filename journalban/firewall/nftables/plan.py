"""Which set elements the bans need, and what to change to get there. Pure.

Single addresses go to a jail's plain sets, prefixes to its interval sets. Two
rules keep the interval sets valid and every ban as long as decided:

- an address inside a banned prefix gets no element of its own, unless its ban
  outlasts the prefix's (the sets are separate, so holding both is harmless);
- nested prefixes never become overlapping intervals (nft refuses them, and its
  auto-merge would cut a longer ban to the shorter one's expiry): the wider
  prefix is cut around a narrower one that outlasts it (``address_exclude``),
  and a narrower one that ends sooner is covered and gets no element.

Expiries are epoch seconds; ``math.inf`` is a permanent ban. Elements are keyed
by (address as an integer, prefix length): a restore compares 100,000 bans with
100,000 elements read back, and hashing or comparing an ``ipaddress`` network
is a Python call each time (twelve per ban were most of a restore's time).
"""

from __future__ import annotations

import ipaddress
import math
from collections.abc import Iterable, Mapping
from itertools import filterfalse, groupby, repeat
from operator import itemgetter, le, sub
from typing import NamedTuple

from journalban.addresses import IPNetwork
from journalban.firewall.base import BanEntry
from journalban.firewall.nftables.builder import SetKind

INF = math.inf
SetKey = tuple[str, SetKind]
# (address as an integer, prefix length); the set kind says the IP version.
Key = tuple[int, int]
_BITS = {4: 32, 6: 128}
_ADDRESS_KIND: dict[int, SetKind] = {4: "v4", 6: "v6"}
_NET_KIND: dict[int, SetKind] = {4: "net4", 6: "net6"}


class ElementOp(NamedTuple):
    """Delete or add one element; ``expiry`` is what an added element will carry."""

    jail: str
    kind: SetKind
    key: Key
    expiry: float
    delete: bool = False

    @property
    def network(self) -> IPNetwork:
        return network_of(self.key, version_of(self.kind))


# ``ElementOp(...)`` runs a Python ``__new__``; the tuple's own is in C (a restore makes 100,000).
_new_op = tuple.__new__
# An op's set and verb, for grouping runs of ops (in C).
set_and_verb = itemgetter(0, 1, 4)
_KEY, _EXPIRY, _DELETE = itemgetter(2), itemgetter(3), itemgetter(4)


def key_of(network: IPNetwork) -> Key:
    return int(network.network_address), network.prefixlen


def network_of(key: Key, version: int) -> IPNetwork:
    if version == 4:
        return ipaddress.IPv4Network(key)
    return ipaddress.IPv6Network(key)


def version_of(kind: SetKind) -> int:
    return 4 if kind in ("v4", "net4") else 6


def kind_of(network: IPNetwork) -> SetKind:
    """Which of a jail's four sets holds ``network`` (``builder.set_kind``, without its calls)."""
    if network.prefixlen == network.max_prefixlen:
        return _ADDRESS_KIND[network.version]
    return _NET_KIND[network.version]


def expiry_of(entry: BanEntry) -> float:
    return INF if entry.expires_at is None else entry.expires_at


def flatten(prefixes: Mapping[IPNetwork, float]) -> dict[IPNetwork, float]:
    """Disjoint elements that ban every address for as long as its longest prefix ban.

    ``prefixes`` are of one family; two prefixes are either nested or disjoint.
    """
    order = sorted(prefixes, key=lambda n: (int(n.network_address), n.prefixlen))
    children: dict[IPNetwork | None, list[IPNetwork]] = {None: []}
    stack: list[IPNetwork] = []
    for net in order:
        while stack and not net.subnet_of(stack[-1]):  # type: ignore[arg-type]
            stack.pop()
        children[stack[-1] if stack else None].append(net)
        children[net] = []
        stack.append(net)
    longest: dict[IPNetwork, float] = {}
    for net in reversed(order):  # children come after their parent in ``order``
        longest[net] = max([prefixes[net], *(longest[k] for k in children[net])])
    out: dict[IPNetwork, float] = {}

    def emit(net: IPNetwork, inherited: float) -> None:
        expiry = max(prefixes[net], inherited)
        outlasting = [k for k in children[net] if longest[k] > expiry]
        pieces = [net]
        for inner in outlasting:
            pieces = [p for piece in pieces for p in _cut(piece, inner)]
            emit(inner, expiry)
        for piece in pieces:
            out[piece] = expiry

    for top in children[None]:
        emit(top, -INF)
    return out


def _flatten_keys(prefixes: Mapping[Key, float], version: int) -> dict[Key, float]:
    if not prefixes:
        return {}
    flat = flatten({network_of(k, version): e for k, e in prefixes.items()})
    return {key_of(n): e for n, e in flat.items()}


def _cut(piece: IPNetwork, inner: IPNetwork) -> list[IPNetwork]:
    if inner.subnet_of(piece):  # type: ignore[arg-type]
        return list(piece.address_exclude(inner))  # type: ignore[arg-type]
    return [piece]


class BanBook:
    """The bans per jail and set kind, and the elements believed to be in the kernel."""

    def __init__(self) -> None:
        self.bans: dict[SetKey, dict[Key, float]] = {}
        self.held: dict[SetKey, dict[Key, float]] = {}

    def clear(self) -> None:
        self.bans.clear()
        self.held.clear()

    def has_prefixes(self) -> bool:
        """True when a recorded ban is a prefix (its elements may be cut into pieces)."""
        return any(bans for (_, kind), bans in self.bans.items() if kind.startswith("net"))

    def record(self, entries: Iterable[BanEntry], now: float) -> None:
        """Take ``entries`` as the bans, replacing all; ``plan_all`` then says what to send."""
        self.bans.clear()
        bans = self.bans
        for entry in entries:
            expiry = INF if entry.expires_at is None else entry.expires_at
            if expiry > now:
                net = entry.network
                set_key = (entry.jail, kind_of(net))
                found = bans.get(set_key)
                if found is None:
                    found = bans[set_key] = {}
                found[int(net.network_address), net.prefixlen] = expiry

    def take(self, bans: dict[SetKey, dict[Key, float]]) -> None:
        """Take ``bans`` (per set, running bans only) as the bans, replacing all; like ``record``."""
        self.bans = bans

    def plan(
        self, add: Iterable[BanEntry], remove: Iterable[BanEntry], now: float, slack: float = 0.0
    ) -> list[ElementOp]:
        """Record the changes and return the element operations they need (deletes first)."""
        touched: dict[tuple[str, int], set[Key]] = {}
        nets_changed: set[tuple[str, int]] = set()
        for entry, adding in [(e, False) for e in remove] + [(e, True) for e in add]:
            if adding and expiry_of(entry) <= now:
                continue
            kind = kind_of(entry.network)
            key = key_of(entry.network)
            bans = self.bans.setdefault((entry.jail, kind), {})
            if adding:
                bans[key] = expiry_of(entry)
            elif bans.pop(key, None) is None:
                continue
            family: tuple[str, int] = (entry.jail, entry.network.version)
            touched.setdefault(family, set()).add(key)
            if kind.startswith("net"):
                nets_changed.add(family)
        ops: list[ElementOp] = []
        for family, changed in touched.items():
            ops += self._plan_family(family, changed, family in nets_changed, now, slack)
        ops.sort(key=lambda op: not op.delete)
        return ops

    def plan_all(self, now: float, slack: float) -> list[ElementOp]:
        """Operations that make the held elements match every recorded ban."""
        families = {(jail, version_of(kind)) for jail, kind in list(self.bans) + list(self.held)}
        ops: list[ElementOp] = []
        for family in families:
            ops += self._plan_family(family, set(), True, now, slack)
        # Deletes first, each kind in its order (a stable sort on ``not op.delete``, without
        # a Python step per op).
        return list(filter(_DELETE, ops)) + list(filterfalse(_DELETE, ops))

    def _plan_family(
        self,
        family: tuple[str, int],
        changed: set[Key],
        nets_changed: bool,
        now: float,
        slack: float,
    ) -> list[ElementOp]:
        jail, version = family
        akind, nkind = _ADDRESS_KIND[version], _NET_KIND[version]
        bits = _BITS[version]
        prefixes = self.bans.get((jail, nkind), {})
        addresses = self.bans.get((jail, akind), {})
        held = self.held.get((jail, akind), {})
        ops: list[ElementOp] = []
        if nets_changed:
            ops += _diff(
                jail,
                nkind,
                self.held.get((jail, nkind), {}),
                _flatten_keys(prefixes, version),
                now,
                slack,
            )
            if not prefixes:
                # No prefix covers anything: every address ban is its own element.
                return ops + _diff(jail, akind, held, addresses, now, slack)
            changed = set(addresses) | set(held)
        lengths = sorted({length for _, length in prefixes})
        wanted: dict[Key, float] = {}
        for key in changed:
            if key[1] != bits:
                continue
            expiry = addresses.get(key)
            if expiry is not None and not _covered(key[0], expiry, prefixes, lengths, bits):
                wanted[key] = expiry
        ops += _diff(
            jail,
            akind,
            {k: held[k] for k in changed if k in held and k[1] == bits},
            wanted,
            now,
            slack,
        )
        return ops

    def commit(self, ops: Iterable[ElementOp]) -> None:
        """The kernel accepted ``ops``: record them as held."""
        for (jail, kind, delete), run in groupby(ops, key=set_and_verb):
            held = self.held.setdefault((jail, kind), {})
            if delete:
                for op in run:
                    held.pop(op.key, None)
            else:
                added = list(run)
                held.update(zip(map(_KEY, added), map(_EXPIRY, added), strict=True))


def _covered(
    address: int, expiry: float, prefixes: Mapping[Key, float], lengths: list[int], bits: int
) -> bool:
    for length in lengths:
        outer = address & ~((1 << (bits - length)) - 1)
        if prefixes.get((outer, length), -INF) >= expiry:
            return True
    return False


def _all_alike(
    held: Mapping[Key, float], wanted: Mapping[Key, float], now: float, slack: float
) -> bool:
    """Whether ``held`` has the keys of ``wanted`` and every element runs on past ``now``
    with its wanted expiry, within ``slack``, none permanent: what ``_diff`` finds
    nothing to do for, told in C calls (a restart's 100,000 elements); False may also
    mean that ``_diff`` must look (a permanent ban)."""
    if len(held) != len(wanted) or not held:
        return False
    haves = list(map(held.get, wanted.keys(), repeat(INF)))  # (a key not held: INF, told)
    wants = list(wanted.values())
    if INF in haves or INF in wants or min(haves) <= now:
        return False
    return all(map(le, map(abs, map(sub, haves, wants)), repeat(slack)))


def _diff(
    jail: str,
    kind: SetKind,
    held: Mapping[Key, float],
    wanted: Mapping[Key, float],
    now: float,
    slack: float,
) -> list[ElementOp]:
    if not held:  # an empty set (a restore into a new table): every ban is added, in C
        fields = zip(repeat(jail), repeat(kind), wanted.keys(), wanted.values(), repeat(False))
        return list(map(_new_op, repeat(ElementOp), fields))
    if _all_alike(held, wanted, now, slack):
        return []  # (a restart into a kernel holding every ban: nothing to send)
    # Two expiries are the same when equal (both permanent) or both finite and within
    # ``slack``; written out, as a call per comparison was a third of a restart's diff.
    ops: list[ElementOp] = []
    renew: set[Key] = set()  # held, but run out in the kernel or with another expiry
    for key, have in held.items():
        if have <= now:
            renew.add(key)  # expired in the kernel already: deleting it would fail
            continue
        want = wanted.get(key)
        if want is None:
            ops.append(_new_op(ElementOp, (jail, kind, key, have, True)))
        elif not (have == want or (have != INF and want != INF and abs(have - want) <= slack)):
            ops.append(_new_op(ElementOp, (jail, kind, key, have, True)))
            renew.add(key)
    # Added: what is not held, or held as above; a restart that finds every ban held
    # (the usual case) does not walk the bans a second time.
    needed = (wanted.keys() - held.keys()) | renew
    if needed:
        ops += [
            _new_op(ElementOp, (jail, kind, key, want, False))
            for key, want in wanted.items()
            if key in needed
        ]
    return ops
