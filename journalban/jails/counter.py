"""Counting failures per address (or IPv6 prefix) within findtime."""

from __future__ import annotations

from collections import OrderedDict, deque
from collections.abc import Iterable

from journalban.addresses import IPNetwork


class FailureCounter:
    """Failure times per network for one jail, bounded in how many networks it tracks.

    When the cap is reached the network seen least recently is forgotten
    first; ``evicted`` counts those.
    """

    def __init__(self, maxretry: int, findtime: float, max_tracked: int) -> None:
        self.maxretry = maxretry
        self.findtime = findtime
        self.max_tracked = max_tracked
        self.evicted = 0
        self._times: OrderedDict[IPNetwork, deque[float]] = OrderedDict()

    def __len__(self) -> int:
        return len(self._times)

    def restore(self, failures: Iterable[tuple[IPNetwork, float]]) -> None:
        for network, when in failures:
            self._push(network, when)

    def add(self, network: IPNetwork, when: float) -> tuple[int, list[str]]:
        """Record a failure; how many are within findtime, and networks evicted for room."""
        times, evicted = self._push(network, when)
        return len(times), evicted

    def _push(self, network: IPNetwork, when: float) -> tuple[deque[float], list[str]]:
        evicted: list[str] = []
        times = self._times.get(network)
        if times is None:
            while len(self._times) >= self.max_tracked:
                old, _ = self._times.popitem(last=False)
                self.evicted += 1
                evicted.append(str(old))
            times = self._times[network] = deque()
        else:
            self._times.move_to_end(network)
        # Lines may come out of order (several sources): keep the times sorted.
        if times and when < times[-1]:
            times.append(when)
            ordered = sorted(times)
            times.clear()
            times.extend(ordered)
        else:
            times.append(when)
        latest = times[-1]
        while times and times[0] <= latest - self.findtime:
            times.popleft()
        return times, evicted

    def clear(self, network: IPNetwork) -> None:
        self._times.pop(network, None)

    def expire(self, now: float) -> list[IPNetwork]:
        """Forget networks whose last failure is older than findtime."""
        gone = [n for n, t in self._times.items() if not t or t[-1] <= now - self.findtime]
        for n in gone:
            del self._times[n]
        return gone

    @property
    def currently_failed(self) -> int:
        return len(self._times)
