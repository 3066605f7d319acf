"""Which set elements the bans need, and what to change to get there. Pure.

Single addresses go to a jail's plain sets, prefixes to its interval sets. Two
rules keep the interval sets valid and every ban as long as decided:

- an address inside a banned prefix gets no element of its own, unless its ban
  outlasts the prefix's (the sets are separate, so holding both is harmless);
- nested prefixes never become overlapping intervals (nft refuses them, and its
  auto-merge would cut a longer ban to the shorter one's expiry): the wider
  prefix is cut around a narrower one that outlasts it (``address_exclude``),
  and a narrower one that ends sooner is covered and gets no element.

Expiries are epoch seconds; ``math.inf`` is a permanent ban.
"""

from __future__ import annotations

import ipaddress
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from journalban.addresses import IPNetwork
from journalban.firewall.base import BanEntry
from journalban.firewall.nftables.builder import SetKind, set_kind

INF = math.inf
SetKey = tuple[str, SetKind]


@dataclass(frozen=True, slots=True)
class ElementOp:
    """Delete or add one element; ``expiry`` is what an added element will carry."""

    jail: str
    kind: SetKind
    network: IPNetwork
    expiry: float
    delete: bool = False


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


def _cut(piece: IPNetwork, inner: IPNetwork) -> list[IPNetwork]:
    if inner.subnet_of(piece):  # type: ignore[arg-type]
        return list(piece.address_exclude(inner))  # type: ignore[arg-type]
    return [piece]


class BanBook:
    """The bans per jail and set kind, and the elements believed to be in the kernel."""

    def __init__(self) -> None:
        self.bans: dict[SetKey, dict[IPNetwork, float]] = {}
        self.held: dict[SetKey, dict[IPNetwork, float]] = {}

    def clear(self) -> None:
        self.bans.clear()
        self.held.clear()

    def record(self, entries: Iterable[BanEntry], now: float) -> None:
        """Take ``entries`` as the bans, replacing all; ``plan_all`` then says what to send."""
        self.bans.clear()
        for entry in entries:
            expiry = expiry_of(entry)
            if expiry > now:
                self.bans.setdefault((entry.jail, set_kind(entry.network)), {})[entry.network] = (
                    expiry
                )

    def plan(
        self, add: Iterable[BanEntry], remove: Iterable[BanEntry], now: float, slack: float = 0.0
    ) -> list[ElementOp]:
        """Record the changes and return the element operations they need (deletes first)."""
        touched: dict[tuple[str, int], set[IPNetwork]] = {}
        nets_changed: set[tuple[str, int]] = set()
        for entry, adding in [(e, False) for e in remove] + [(e, True) for e in add]:
            if adding and expiry_of(entry) <= now:
                continue
            kind = set_kind(entry.network)
            bans = self.bans.setdefault((entry.jail, kind), {})
            if adding:
                bans[entry.network] = expiry_of(entry)
            elif bans.pop(entry.network, None) is None:
                continue
            family: tuple[str, int] = (entry.jail, entry.network.version)
            touched.setdefault(family, set()).add(entry.network)
            if kind.startswith("net"):
                nets_changed.add(family)
        ops: list[ElementOp] = []
        for family, changed in touched.items():
            ops += self._plan_family(family, changed, family in nets_changed, now, slack)
        ops.sort(key=lambda op: not op.delete)
        return ops

    def plan_all(self, now: float, slack: float) -> list[ElementOp]:
        """Operations that make the held elements match every recorded ban."""
        families = {
            (jail, 4 if kind in ("v4", "net4") else 6)
            for jail, kind in list(self.bans) + list(self.held)
        }
        ops: list[ElementOp] = []
        for family in families:
            ops += self._plan_family(family, set(), True, now, slack)
        ops.sort(key=lambda op: not op.delete)
        return ops

    def _plan_family(
        self,
        family: tuple[str, int],
        changed: set[IPNetwork],
        nets_changed: bool,
        now: float,
        slack: float,
    ) -> list[ElementOp]:
        jail, version = family
        akind: SetKind = "v4" if version == 4 else "v6"
        nkind: SetKind = "net4" if version == 4 else "net6"
        prefixes = self.bans.get((jail, nkind), {})
        addresses = self.bans.get((jail, akind), {})
        ops: list[ElementOp] = []
        if nets_changed:
            ops += _diff(
                jail, nkind, self.held.get((jail, nkind), {}), flatten(prefixes), now, slack
            )
            held_addresses = self.held.get((jail, akind), {})
            changed = set(addresses) | set(held_addresses)
        changed = {n for n in changed if n.prefixlen == n.max_prefixlen}
        lengths = sorted({n.prefixlen for n in prefixes})
        wanted: dict[IPNetwork, float] = {}
        for net in changed:
            expiry = addresses.get(net)
            if expiry is not None and not _covered(net, expiry, prefixes, lengths):
                wanted[net] = expiry
        held = self.held.get((jail, akind), {})
        ops += _diff(jail, akind, {n: held[n] for n in changed if n in held}, wanted, now, slack)
        return ops

    def commit(self, ops: Iterable[ElementOp]) -> None:
        """The kernel accepted ``ops``: record them as held."""
        for op in ops:
            held = self.held.setdefault((op.jail, op.kind), {})
            if op.delete:
                held.pop(op.network, None)
            else:
                held[op.network] = op.expiry


def _covered(
    net: IPNetwork, expiry: float, prefixes: Mapping[IPNetwork, float], lengths: list[int]
) -> bool:
    for length in lengths:
        outer = ipaddress.ip_network((net.network_address, length), strict=False)
        if prefixes.get(outer, -INF) >= expiry:
            return True
    return False


def _diff(
    jail: str,
    kind: SetKind,
    held: Mapping[IPNetwork, float],
    wanted: Mapping[IPNetwork, float],
    now: float,
    slack: float,
) -> list[ElementOp]:
    ops: list[ElementOp] = []
    for net, have in held.items():
        if have <= now:
            continue  # expired in the kernel already: deleting it would fail
        want = wanted.get(net)
        if want is None or not _same(have, want, slack):
            ops.append(ElementOp(jail, kind, net, have, delete=True))
    for net, want in wanted.items():
        had = held.get(net)
        if had is None or had <= now or not _same(had, want, slack):
            ops.append(ElementOp(jail, kind, net, want))
    return ops


def _same(a: float, b: float, slack: float) -> bool:
    if a == INF or b == INF:
        return a == b
    return abs(a - b) <= slack
