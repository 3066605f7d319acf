"""A jail's live state and the tables the decisions stage keeps (see ``engine``)."""

from __future__ import annotations

import collections
import heapq
import itertools
import math
import operator
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from journalban.addresses import (
    IPNetwork,
    ipv6_prefix_key,
    is_prefix,
    network_text,
    parse_address,
)
from journalban.config.schema import JailConfig
from journalban.decisions.detecting import JailDetection
from journalban.decisions.ignore import IgnoreList
from journalban.decisions.recentlines import RecentLines
from journalban.events import Ban, HitAddress, LineBatch
from journalban.jails.counter import FailureCounter
from journalban.netobjects import HOST_V4_TYPE
from journalban.state.store import BatchCommit

# Addresses whose network (and its text) are remembered; attackers come back.
NETWORK_MEMO_SIZE = 65536


@dataclass
class JailRuntime:
    """A jail's live state: its counter, ignore list and totals."""

    config: JailConfig
    counter: FailureCounter[str]  # by network text
    ignore: IgnoreList
    total_failed: int = 0
    total_banned: int = 0
    lines_read: int = 0
    lines_unreadable: int = 0
    lines_truncated: int = 0  # cut at the line length limit (file sources)
    ignored_failures: int = 0
    latest_line: float = 0.0
    detection: JailDetection | None = None  # the detectors beyond the per-address count
    recent_lines: RecentLines = field(init=False)  # by network text, capped as ``counter``
    # address text -> (text of the network it is counted as, why it is
    # ignored), None for a text that is no address: parsing an address and
    # building its network cost several microseconds, and failures repeat
    # addresses. The network itself is built again for a ban (memory: tens of
    # thousands of addresses). Valid for ``networks_for`` (ignore list, generation).
    networks: dict[str, tuple[str, str | None] | None] = field(default_factory=dict)
    networks_for: tuple[IgnoreList, int] | None = None

    def __post_init__(self) -> None:
        self.recent_lines = RecentLines(self.counter.max_tracked)

    def count_lines(self, batch: LineBatch) -> None:
        """Add a batch's lines to the jail's totals (read, unreadable, truncated)."""
        self.lines_read += batch.count
        self.lines_unreadable += batch.unreadable
        self.lines_truncated += batch.truncated

    def network_of(self, host: str) -> tuple[str, str | None] | None:
        """(text of the network counted as, why it is ignored) for an address text; None if invalid."""
        # The last 1,024 IPv4 texts remembered, no more. An IPv6 text is never there: not
        # asked (its miss, ``HostVerdicts.__missing__``, ran already in the engine's loop).
        if ":" not in host and (fast := self.ignore.hosts[host]) is not None:
            return fast
        if host in self.networks:  # (a miss raised KeyError: a flood's IPv6 misses often)
            return self.networks[host]
        if len(self.networks) >= min(NETWORK_MEMO_SIZE, self.counter.max_tracked):
            self.networks.clear()
        known: tuple[str, str | None] | None = None
        six = ipv6_prefix_key(host, self.config.ipv6_prefix)
        if six is not None and self.ignore.why_ignored_range(6, six[0], six[1]) is None:
            known = (six[2], None)  # an ignored one may be narrowed: the general path
        elif (address := parse_address(host)) is not None:
            network, why = self.ignore.counted_network(address, self.config.ipv6_prefix)
            known = (network_text(network), why)
        self.networks[host] = known
        return known

    def first_room(self) -> int:
        """How many networks' first failures the counter and the kept lines both take with
        no eviction (0: none). The engine counts such a failure after its verdicts, and not
        at all if they ban its network: added and then cleared at its ban, it left both as
        they were (``RecentLines.held`` gives the ban its line)."""
        counter = self.counter
        if counter.findtime <= 0:  # (a count of 0, not 1: FailureCounter.add)
            return 0
        return min(counter.max_tracked - len(counter), self.recent_lines.room())

    def check_networks(self, addresses: Sequence[HitAddress] = ()) -> None:
        """Forget the remembered networks if the ignore list changed since; then remember
        those of ``addresses`` (``learn``)."""
        now_for = (self.ignore, self.ignore.generation)
        if self.networks_for != now_for:
            self.networks.clear()
            self.networks_for = now_for
        if addresses:
            self.learn(addresses)

    def learn(self, addresses: Sequence[HitAddress]) -> None:
        """Remember the networks of addresses a reader child parsed (sources.hitkeys), as
        ``network_of`` finds them: the ignore list's verdicts are this jail's, an IPv6 key
        is taken only at the jail's prefix (else it is left to ``network_of``). IPv4 texts
        go where ``network_of`` keeps them, the ignore list's ``hosts``, which gives them
        its own verdicts (``HostVerdicts.learn``): in ``networks`` a flood's 39,378 took 8
        MB more of the agent."""
        sixes = self.ignore.hosts.learn(addresses)  # (the IPv6 entries)
        networks = self.networks
        limit = min(NETWORK_MEMO_SIZE, self.counter.max_tracked)
        if len(networks) + len(addresses) > limit:
            networks.clear()  # (IPv6 entries: as network_of when full)
        why_ignored_range = self.ignore.why_ignored_range
        suffix = f"/{self.config.ipv6_prefix}"
        for entry in sixes:
            if (
                len(networks) < limit
                and entry[3].endswith(suffix)
                and why_ignored_range(6, entry[1], entry[2]) is None
            ):
                networks[entry[0]] = (entry[3], None)


@dataclass
class Changes:
    """What one step decided: the commit and what to tell the firewall and listeners."""

    commits: list[BatchCommit] = field(default_factory=list)
    bans: list[Ban] = field(default_factory=list)
    unbans: list[tuple[Ban, str]] = field(default_factory=list)
    # Automatic bans of each network (by text) in this step's history, recidive's own aside:
    # recidive's count of the step's own bans. ``extend`` leaves them out: a later step
    # counts the earlier ones through the engine's unsaved bans (decisions.unsaved).
    pending_bans: dict[str, int] = field(default_factory=dict, compare=False)

    def extend(self, other: Changes) -> None:
        self.commits += other.commits
        self.bans += other.bans
        self.unbans += other.unbans


class BanTable(dict[tuple[str, IPNetwork], Ban]):
    """The active bans; ``version`` changes with every change, for caches of views.

    ``texts_of(jail)`` holds the same bans by network text: the failure path
    looks bans up by text, as hashing an ipaddress network costs a Python call.
    One dict per jail, not one keyed by (jail, text): a key tuple was 64 bytes a ban.
    ``by_text`` shows them by (jail, network text).
    """

    def __init__(self, *args: Any, texts: Sequence[str] | None = None) -> None:
        """``texts``: the bans' network texts in the order given, when the caller has them."""
        super().__init__(*args)
        self.version = next(_VERSIONS)
        self._texts: dict[str, dict[str, Ban]] = {}
        if texts is None or len(texts) != len(self):
            texts = [network_text(n) for _, n in self]
        # Each jail's run of bans (in order) by text in one ``update``: no Python step per
        # ban (a restore's 100,000).
        values, start = list(self.values()), 0
        for jail, run in itertools.groupby(map(_JAIL, self)):
            stop = start + len(list(run))
            self.texts_of(jail).update(zip(texts[start:stop], values[start:stop], strict=True))
            start = stop
        # Bans per jail: the jails holding bans without a scan of the table (one text each).
        self.per_jail: collections.Counter[str] = collections.Counter(
            {jail: len(by_text) for jail, by_text in self._texts.items() if by_text}
        )
        # Bans of prefixes (addresses.is_prefix), for a count of them without a scan;
        # counted on the first read (not in a restore's way), kept from then on.
        self._prefixes: int | None = None
        # Bans per (IP version, prefix length), counted on the first read as _prefixes:
        # a QueryBan looks up only the enclosing prefixes of lengths some ban has.
        self._lengths: collections.Counter[tuple[int, int]] | None = None
        # (expires_at, key) of every ban set; entries of lifted or replaced bans
        # are dropped when they reach the top.
        # The middle item keeps networks of different versions from being compared.
        # Built without a Python step per ban when every ban given expires (a restore of
        # 100,000: 30-60 ms with a comprehension, a third of it so).
        expiries = list(map(_EXPIRES_AT, self.values()))
        entries = zip(expiries, itertools.count(), self)
        self._expiries: list[tuple[float, int, tuple[str, IPNetwork]]] = (
            list(entries) if None not in expiries else [e for e in entries if e[0] is not None]
        )
        heapq.heapify(self._expiries)
        # The bans set with their matched lines (``__setitem__``: a manual or a fleet's ban;
        # the agent's own are put without them), until their commit (decisions.forgetting).
        self.lined: list[Ban] = []

    def __setitem__(self, key: tuple[str, IPNetwork], value: Ban) -> None:
        if value.lines:
            self.lined.append(value)
        self.put(key, value, network_text(key[1]))

    def put(self, key: tuple[str, IPNetwork], value: Ban, text: str) -> None:
        """``self[key] = value``, the network's text (``network_text``) given by the caller."""
        self.version = next(_VERSIONS)
        held = len(self)
        dict.__setitem__(self, key, value)  # (one hash of the key: a network's is a Python call)
        if len(self) != held:  # a new key
            self.per_jail[key[0]] += 1
            if self._prefixes is not None:
                self._prefixes += is_prefix(key[1])
            if self._lengths is not None:
                self._lengths[(key[1].version, key[1].prefixlen)] += 1
        if value.expires_at is not None:
            heapq.heappush(self._expiries, (value.expires_at, self.version, key))
        texts = self._texts.get(key[0])
        if texts is None:
            texts = self._texts[key[0]] = {}
        texts[text] = value

    def put_run(
        self,
        jail: str,
        networks: Sequence[IPNetwork],
        values: Sequence[Ban],
        texts: Sequence[str] | None,
        expiries: Sequence[float],
    ) -> None:
        """``put`` of each ``(jail, networks[i]) -> values[i]`` in order, each expiring
        (``expiries[i]``, not None), in C (decisions.firstban). ``texts`` None: the
        jail's ``texts_of`` holds each ban by its text already (the caller put it there)."""
        keys = list(zip(itertools.repeat(jail), networks))
        versions = list(itertools.islice(_VERSIONS, len(keys)))
        self.version = versions[-1]
        held = len(self)
        dict.update(self, zip(keys, values, strict=True))
        added = len(self) - held
        if added:
            self.per_jail[jail] += added  # (the new keys: put counts them)
        if self._prefixes is not None or self._lengths is not None:
            if added == len(keys):  # all new: counted as put counts them
                lengths = collections.Counter(map(_LENGTH, networks))
                if self._lengths is not None:
                    self._lengths.update(lengths)
                if self._prefixes is not None:
                    self._prefixes += sum(n for (v, p), n in lengths.items() if p < _WIDEST[v])
            else:  # some held a ban already: counted again when next read
                self._prefixes = self._lengths = None
        entries = zip(expiries, versions, keys, strict=True)
        collections.deque(map(heapq.heappush, itertools.repeat(self._expiries), entries), maxlen=0)
        if texts is not None:
            self.texts_of(jail).update(zip(texts, values, strict=True))

    def texts_of(self, jail: str) -> dict[str, Ban]:
        """The jail's bans by network text (the same dict for the jail's whole life)."""
        texts = self._texts.get(jail)
        if texts is None:
            texts = self._texts[jail] = {}
        return texts

    @property
    def by_text(self) -> dict[tuple[str, str], Ban]:
        """The bans by (jail, network text), built when asked (a restore's log, tests)."""
        return {(j, t): b for j, texts in self._texts.items() for t, b in texts.items()}

    def replace(self, key: tuple[str, IPNetwork], value: Ban) -> None:
        """``value`` in place of the ban held under ``key``, with the same network and
        expiry (a committed ban kept without its lines): its expiry entry stays valid,
        so none is added (two per ban made the heap twice the bans)."""
        self.version = next(_VERSIONS)
        super().__setitem__(key, value)
        self.texts_of(key[0])[network_text(key[1])] = value

    def __delitem__(self, key: tuple[str, IPNetwork]) -> None:
        self.version = next(_VERSIONS)
        super().__delitem__(key)
        self._forget(key)

    def pop(self, key: tuple[str, IPNetwork], default: Ban | None = None) -> Ban | None:  # type: ignore[override]
        self.version = next(_VERSIONS)
        if key in self:
            self._forget(key)
        return super().pop(key, default)

    def _forget(self, key: tuple[str, IPNetwork]) -> None:
        self.texts_of(key[0]).pop(network_text(key[1]), None)
        self.per_jail[key[0]] -= 1
        if self._prefixes is not None:
            self._prefixes -= is_prefix(key[1])
        if self._lengths is not None:
            length = (key[1].version, key[1].prefixlen)
            self._lengths[length] -= 1
            if not self._lengths[length]:
                del self._lengths[length]
        if not self.per_jail[key[0]]:
            del self.per_jail[key[0]]

    @property
    def prefixes(self) -> int:
        """How many bans held are of prefixes (``addresses.is_prefix``)."""
        if self._prefixes is None:  # (counted when the D-Bus API is exported: before READY)
            host = HOST_V4_TYPE  # never a prefix, and told so without a call
            # (most are single IPv4 addresses: counted in C, the others looked at)
            if operator.countOf(map(type, map(_NETWORK, self)), host) == len(self):
                self._prefixes = 0
            else:
                self._prefixes = sum(1 for _, n in self if type(n) is not host and is_prefix(n))
        return self._prefixes

    @property
    def lengths(self) -> collections.Counter[tuple[int, int]]:
        """Bans held per (IP version, prefix length)."""
        if self._lengths is None:
            self._lengths = collections.Counter((n.version, n.prefixlen) for _, n in self)
        return self._lengths

    def next_expiry(self) -> float:
        """When the first of the bans runs out (inf: none does)."""
        heap = self._expiries
        while heap:
            expires, _, key = heap[0]
            ban = self.get(key)
            if ban is not None and ban.expires_at == expires:
                return expires
            heapq.heappop(heap)
        return math.inf

    def due(self, now: float) -> list[Ban]:
        """The bans that have run out by ``now``, from the expiry heap's top (no scan).

        Visits only heap entries due by ``now`` (a child is never due before
        its parent), skipping those of lifted or replaced bans.
        """
        heap = self._expiries
        found: dict[tuple[str, IPNetwork], Ban] = {}
        stack = [0]
        while stack:
            i = stack.pop()
            if i >= len(heap) or heap[i][0] > now:
                continue
            expires, _, key = heap[i]
            ban = self.get(key)
            if ban is not None and ban.expires_at == expires:
                found[key] = ban
            stack += (2 * i + 1, 2 * i + 2)
        return list(found.values())

    def clear(self) -> None:
        self.version = next(_VERSIONS)
        for texts in self._texts.values():
            texts.clear()  # in place: a step may hold its jail's dict
        self.per_jail.clear()
        self._prefixes = 0
        self._lengths = collections.Counter()
        self._expiries.clear()
        super().clear()

    def update(self, *args: Any, **kwargs: Any) -> None:
        raise NotImplementedError("BanTable: set bans one by one")

    def setdefault(self, *args: Any) -> Ban:
        raise NotImplementedError("BanTable: set bans one by one")


_VERSIONS = itertools.count(1)
# A network's (version, prefixlen), read in C (ipaddress's own fields behind the properties).
_LENGTH = operator.attrgetter("_version", "_prefixlen")
_EXPIRES_AT = operator.attrgetter("expires_at")
_JAIL, _NETWORK = operator.itemgetter(0), operator.itemgetter(1)  # of a key
# The shortest prefix length that is not a prefix ban, per IP version (``is_prefix``).
_WIDEST = {4: 32, 6: 64}
