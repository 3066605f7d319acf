"""The contract every firewall backend keeps.

Backends are synchronous and called from a worker thread by the agent; each
call is one batch. ``apply`` is idempotent: adding a ban that is there
refreshes its timeout, removing one that is gone is not an error.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Protocol, overload, runtime_checkable

from journalban.addresses import IPNetwork


@dataclass(frozen=True, slots=True)
class PortRange:
    first: int
    last: int


@dataclass(frozen=True, slots=True)
class JailRules:
    """What the firewall must know of a jail: which traffic its bans block."""

    name: str
    ports: tuple[PortRange, ...] = ()  # empty: all ports
    protocols: tuple[str, ...] = ("tcp",)
    all_ports: bool = False


@dataclass(frozen=True, slots=True)
class BanEntry:
    """One element in the firewall: ``expires_at`` is epoch seconds, None = permanent."""

    jail: str
    network: IPNetwork
    expires_at: float | None


@dataclass(frozen=True, slots=True)
class ReconcileReport:
    added: tuple[BanEntry, ...] = ()
    removed: tuple[BanEntry, ...] = ()


# A ban as the state stores it: (jail, network text, expiry; None: permanent).
StoredBan = tuple[str, str, "float | None"]


class StoredHosts(Sequence[StoredBan]):
    """Stored bans each of one IPv4 address with an expiry, as columns, their texts parsed
    once (state.rowcheck.host_rows): nearly every state's bans. The start gives them to
    the firewall and builds the ban table of them, neither parsing a text again (three
    parses of 100,000 texts were a sixth of a start's restore).

    ``runs``: the jail of each run of rows, (jail, rows); ``texts``: each row's network
    text (``a.b.c.d/32``); ``addresses``: its address as an integer; ``expiries``: its
    expiry (a float). As a sequence, the (jail, network text, expiry) of each row."""

    __slots__ = ("addresses", "expiries", "runs", "texts")

    def __init__(
        self,
        runs: Sequence[tuple[str, int]],
        texts: Sequence[str],
        addresses: Sequence[int],
        expiries: Sequence[float],
    ) -> None:
        self.runs = tuple(runs)
        self.texts, self.addresses, self.expiries = texts, addresses, expiries

    def jails(self) -> Iterator[str]:
        """Each row's jail, in order."""
        return itertools.chain.from_iterable(itertools.repeat(j, n) for j, n in self.runs)

    def only(self, keep: Callable[[str], bool]) -> StoredHosts:
        """The rows of the jails ``keep`` keeps (the same object when it keeps every one)."""
        if all(keep(jail) for jail, _ in self.runs):
            return self
        runs: list[tuple[str, int]] = []
        texts: list[str] = []
        addresses: list[int] = []
        expiries: list[float] = []
        start = 0
        for jail, count in self.runs:
            stop = start + count
            if keep(jail):
                runs.append((jail, count))
                texts += self.texts[start:stop]
                addresses += self.addresses[start:stop]
                expiries += self.expiries[start:stop]
            start = stop
        return StoredHosts(runs, texts, addresses, expiries)

    def __len__(self) -> int:
        return len(self.addresses)

    def __iter__(self) -> Iterator[StoredBan]:
        return zip(self.jails(), self.texts, self.expiries, strict=True)

    @overload
    def __getitem__(self, index: int) -> StoredBan: ...
    @overload
    def __getitem__(self, index: slice) -> list[StoredBan]: ...
    def __getitem__(self, index: int | slice) -> StoredBan | list[StoredBan]:
        if isinstance(index, slice):
            return list(self)[index]
        position, seen = range(len(self))[index], 0
        for jail, count in self.runs:
            seen += count
            if position < seen:
                return (jail, self.texts[position], self.expiries[position])
        raise IndexError(index)  # (runs shorter than the columns)


@dataclass(frozen=True, slots=True)
class StoredReport:
    """What ``restore_stored`` did. ``whole``: jails every ban of which was added (a new
    table: no list of 100,000 bans is built); ``added``: the other bans added, as (jail,
    network text); ``removed``: as ``ReconcileReport.removed``."""

    whole: frozenset[str] = frozenset()
    added: frozenset[tuple[str, str]] = frozenset()
    removed: tuple[BanEntry, ...] = ()


@dataclass(frozen=True, slots=True)
class JailCounters:
    packets: int = 0
    bytes: int = 0


@dataclass(slots=True)
class BackendStatus:
    errors: int = 0
    last_error: str = ""
    extra: dict[str, str] = field(default_factory=dict)


class FirewallBackend(Protocol):
    """A firewall that holds per-jail sets of banned addresses and prefixes."""

    name: str

    def setup(self, jails: Sequence[JailRules]) -> None:
        """Create (or adapt, on reload) the table, sets and rules; keep existing bans.

        Raises:
            BackendError: the firewall refused.
        """
        ...

    def apply(self, add: Sequence[BanEntry], remove: Sequence[BanEntry], now: float) -> None:
        """Add and remove bans in one batch; entries already expired at ``now`` are skipped.

        Raises:
            BackendError: the firewall refused the batch.
        """
        ...

    def list(self, now: float) -> list[BanEntry]:
        """The bans the firewall holds now, with their expiry as the kernel reports it."""
        ...

    def reconcile(self, wanted: Sequence[BanEntry], now: float) -> ReconcileReport:
        """Make the firewall hold exactly ``wanted``: add what is missing, drop the rest."""
        ...

    def intact(self) -> bool:
        """False when the table or a set has disappeared (someone flushed the ruleset)."""
        ...

    def counters(self) -> dict[str, JailCounters]:
        """Packets and bytes dropped per jail."""
        ...

    def teardown(self) -> None:
        """Remove everything this backend created."""
        ...


@runtime_checkable
class StoredRestorer(Protocol):
    """A backend that restores bans straight from the state's rows, with no network object
    per ban (the agent's start: the kernel holds every ban sooner)."""

    def restore_stored(self, wanted: Sequence[StoredBan], now: float) -> StoredReport:
        """``reconcile`` for bans as stored; a network text that is not one is skipped."""
        ...


def reconcile_diff(
    current: Sequence[BanEntry], wanted: Sequence[BanEntry], now: float, slack: float = 2.0
) -> tuple[list[BanEntry], list[BanEntry]]:
    """What to add and what to remove so that ``current`` becomes ``wanted``.

    A ban present with an expiry within ``slack`` seconds of the wanted one is
    left alone; an expired wanted ban is neither added nor kept.
    """
    have = {(e.jail, e.network): e for e in current}
    want = {(e.jail, e.network): e for e in wanted if e.expires_at is None or e.expires_at > now}
    add: list[BanEntry] = []
    for key, entry in want.items():
        old = have.get(key)
        if old is None or not _same_expiry(old.expires_at, entry.expires_at, slack):
            add.append(entry)
    remove = [e for key, e in have.items() if key not in want]
    return add, remove


def _same_expiry(a: float | None, b: float | None, slack: float) -> bool:
    if a is None or b is None:
        return a is b
    return abs(a - b) <= slack


DiffFunction = Callable[
    [Sequence[BanEntry], Sequence[BanEntry], float], tuple[list[BanEntry], list[BanEntry]]
]


def reconcile_by_listing(
    backend: FirewallBackend,
    wanted: Sequence[BanEntry],
    now: float,
    diff: DiffFunction = reconcile_diff,
) -> ReconcileReport:
    """``reconcile`` for backends that can list their bans: list, diff, one apply."""
    add, remove = diff(backend.list(now), wanted, now)
    backend.apply(add, remove, now)
    return ReconcileReport(tuple(add), tuple(remove))
