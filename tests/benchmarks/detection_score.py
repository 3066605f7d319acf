"""Scoring decisions against a scenario's truth (``gen_scenario.py``), and the oracle.

The score of a list of bans (address or prefix, from, until):

- **share**: of the attack attempts, those that arrived while their address
  was already banned (the firewall would have dropped them);
- **known-good banned**: real users' addresses banned after the user had
  logged in from them (must be zero);
- **users blocked**: real users' attempts that arrived while banned.

The oracle knows every attacker: it bans each attacking address at its first
attempt and each /24 (IPv6: /48) at its fifth distinct attacking address, for
ever. Its share is the ceiling of any detector on the scenario.
"""

from __future__ import annotations

import bisect
import ipaddress
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

# (network, from, until or None)
BanSpan = tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, float, float | None]


@dataclass(frozen=True)
class Score:
    attacks: int
    dropped: int
    known_good_banned: int
    user_attempts: int
    users_blocked: int

    @property
    def share(self) -> float:
        return self.dropped / self.attacks if self.attacks else 0.0


class BanIndex:
    """Bans by the prefix lengths they use, for "was A banned at t" lookups."""

    def __init__(self, bans: Iterable[BanSpan]) -> None:
        self.spans: dict[tuple[int, int], list[tuple[float, float]]] = defaultdict(list)
        for net, start, until in bans:
            key = (
                net.prefixlen if net.version == 4 else net.prefixlen + 1000,
                int(net.network_address),
            )
            self.spans[key].append((start, float("inf") if until is None else until))
        self.lengths = sorted({k[0] for k in self.spans})
        for spans in self.spans.values():
            spans.sort()

    def banned(self, address: str, when: float) -> bool:
        addr = ipaddress.ip_address(address)
        value = int(addr)
        width = 32 if addr.version == 4 else 128
        for length in self.lengths:
            plen = length if addr.version == 4 else length - 1000
            if (addr.version == 4) != (length < 1000) or plen > width:
                continue
            key = (length, value >> (width - plen) << (width - plen))
            spans = self.spans.get(key)
            if spans is None:
                continue
            i = bisect.bisect_left(spans, (when, when))
            if any(s < when < u for s, u in spans[max(0, i - 8) : i]):
                return True
        return False


def score(spans: Iterable[BanSpan], truth: dict[str, Any]) -> Score:
    bans = list(spans)
    index = BanIndex(bans)
    attacks = dropped = users = blocked = 0
    for when, address, attacker, _ in truth["attempts"]:
        hit = index.banned(address, when)
        if attacker:
            attacks += 1
            dropped += hit
        else:
            users += 1
            blocked += hit
    first_login: dict[str, float] = {}
    for when, address, attacker, ok in truth["attempts"]:
        if ok and not attacker:
            first_login.setdefault(address, when)
    bad = 0
    for net, _, until in bans:
        for address, since in first_login.items():
            if ipaddress.ip_address(address) in net and (until is None or until > since):
                bad += 1
    return Score(attacks, dropped, bad, users, blocked)


def oracle(truth: dict[str, Any]) -> Score:
    seen: set[str] = set()
    prefix_members: dict[str, set[str]] = defaultdict(set)
    attacks = dropped = 0
    for _, address, attacker, _ in truth["attempts"]:
        if not attacker:
            continue
        attacks += 1
        net = ipaddress.ip_network(f"{address}/{24 if ':' not in address else 48}", strict=False)
        prefix = str(net)
        if address in seen or len(prefix_members[prefix]) >= 5:
            dropped += 1
        seen.add(address)
        prefix_members[prefix].add(address)
    return Score(attacks, dropped, 0, 0, 0)
