"""Counting failures per address (or IPv6 prefix) within findtime."""

from __future__ import annotations

from bisect import bisect_right, insort
from collections import OrderedDict
from collections.abc import Hashable, Iterable
from typing import Generic, TypeVar

K = TypeVar("K", bound=Hashable)


class FailureCounter(Generic[K]):
    """Failure times per network for one jail, bounded in how many networks it tracks.

    Networks are keys of any hashable kind: the agent uses their text, which
    hashes in C (an ipaddress network hashes in Python).

    When the cap is reached the network seen least recently is forgotten
    first; ``evicted`` counts those.
    """

    def __init__(self, maxretry: int, findtime: float, max_tracked: int) -> None:
        self.maxretry = maxretry
        self.findtime = findtime
        self.max_tracked = max_tracked
        self.evicted = 0
        # Lists, not deques: a network holds fewer than maxretry times, and an
        # empty deque alone takes over 500 bytes (tens of thousands of networks).
        self._times: OrderedDict[K, list[float]] = OrderedDict()

    def __len__(self) -> int:
        return len(self._times)

    @property
    def times(self) -> OrderedDict[K, list[float]]:
        """The networks counted, with their failure times (read only)."""
        return self._times

    def restore(self, failures: Iterable[tuple[K, float]]) -> None:
        for network, when in failures:
            self.add(network, when)

    def add(self, network: K, when: float) -> int:
        """Record a failure; how many of the network's failures are within findtime."""
        networks = self._times
        if network not in networks:  # (``in`` and a subscript: no method call, as ``get``)
            if len(networks) < self.max_tracked and self.findtime > 0:
                networks[network] = [when]  # a network's first failure (most): no window cut
                return 1
            while len(networks) >= self.max_tracked:
                networks.popitem(last=False)
                self.evicted += 1
            times = networks[network] = []
        else:
            times = networks[network]
            networks.move_to_end(network)
        # Lines may come out of order (several sources): keep the times sorted.
        if times and when < times[-1]:
            insort(times, when)
        else:
            times.append(when)
        if not times[0] > (oldest := times[-1] - self.findtime):  # (else none is cut: no call)
            del times[: bisect_right(times, oldest)]
        return len(times)

    def newest(self, limit: int) -> list[tuple[K, list[float]]]:
        """The ``limit`` networks seen most recently, newest first, with their failure times."""
        out: list[tuple[K, list[float]]] = []
        for network in reversed(self._times):
            if len(out) >= limit:
                break
            out.append((network, list(self._times[network])))
        return out

    def clear(self, network: K) -> None:
        self._times.pop(network, None)

    def expire(self, now: float) -> list[K]:
        """Forget networks whose last failure is older than findtime."""
        gone = [n for n, t in self._times.items() if not t or t[-1] <= now - self.findtime]
        for n in gone:
            del self._times[n]
        return gone

    @property
    def currently_failed(self) -> int:
        return len(self._times)
