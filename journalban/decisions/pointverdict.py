"""Why one address must never be banned, in one bisection: the failure path's verdict.

``IgnoreList.why_ignored_range`` walks its range lists in order (never a
peer, an on-link broadcast address, the host's own and local networks,
ignoreip) for every failure: a dozen Python comparisons per range. For one
address the answer depends only on where it falls among the ranges'
boundaries, so the ranges are flattened once, when the list is built or its
host names are resolved anew, into disjoint segments per IP version, each
with the reason the first matching range in that order gives (``PointVerdicts``).

Failures repeat addresses: ``HostVerdicts`` keeps the last ``HOST_MEMO`` IPv4
address texts' (network text, reason), cleared whole when full. Both belong
to one ``IgnoreList`` and are rebuilt with its ranges: a reload or an
address change builds new ignore lists, so nothing outlives the ranges it
was computed from.
"""

from __future__ import annotations

import heapq
import os
from bisect import bisect_right
from collections.abc import Iterable, Sequence
from socket import AF_INET, inet_pton
from typing import Final

from journalban.addresses import ipv4_host_key
from journalban.decisions.hostkeys import v4_text_is_canonical
from journalban.events import HitAddress

# IPv4 address texts remembered per ignore list: attackers' failures come in
# bursts (70-80% of the sshd corpora's failures hit a memo this size; a
# larger one gains a few points and costs memory in a flood of distinct ones).
HOST_MEMO: Final = 1024
# Whether this C library's inet_pton takes only the text inet_ntop prints (hostkeys).
V4_CANONICAL: Final = v4_text_is_canonical()

# An IPv6 entry of the child's addresses (events.HitAddress).
IPv6Entry = tuple[str, int, int, str]
# (version, first, last, reason) in the order the checks are made.
Ranked = tuple[int, int, int, str]


class PointVerdicts:
    """Per IP version, the sorted starts of disjoint segments and each one's reason."""

    def __init__(self, ranked: Sequence[Ranked]) -> None:
        self._starts: dict[int, list[int]] = {}
        self._reasons: dict[int, list[str | None]] = {}
        for version in (4, 6):
            mine = [(first, last, rank) for rank, (v, first, last, _) in enumerate(ranked)
                    if v == version and first <= last]  # fmt: skip
            starts, reasons = _segments(mine, [r[3] for r in ranked])
            self._starts[version], self._reasons[version] = starts, reasons

    def why(self, version: int, value: int) -> str | None:
        """The reason of the first range holding address ``value``, or None."""
        i = bisect_right(self._starts[version], value) - 1
        return None if i < 0 else self._reasons[version][i]

    def clear(self, version: int, low: int, high: int) -> bool:
        """Whether no range holds any address from ``low`` to ``high``: they fall in one
        segment without a reason (a failure's IPv6 prefix, most often; else the caller
        walks the ranges, which tell a range's reason apart from a point's)."""
        starts = self._starts[version]
        i = bisect_right(starts, low)
        return (i == 0 or self._reasons[version][i - 1] is None) and (
            i == len(starts) or starts[i] > high
        )

    def segments(self, version: int) -> tuple[list[int], list[str | None]]:
        """The version's segment starts and reasons (``why`` is a bisection of them)."""
        return self._starts[version], self._reasons[version]


def _segments(
    ranges: Sequence[tuple[int, int, int]], reasons: Sequence[str]
) -> tuple[list[int], list[str | None]]:
    """Sweep the ranges' boundaries; at each, the reason of the lowest rank still open."""
    events: dict[int, list[tuple[int, bool]]] = {}
    for first, last, rank in ranges:
        events.setdefault(first, []).append((rank, True))
        events.setdefault(last + 1, []).append((rank, False))
    open_ranks: list[int] = []  # a heap; a rank whose range ended leaves it when on top
    ended: set[int] = set()
    starts: list[int] = []
    out: list[str | None] = []
    for point in sorted(events):
        for rank, opens in events[point]:
            if opens:
                heapq.heappush(open_ranks, rank)
            else:
                ended.add(rank)
        while open_ranks and open_ranks[0] in ended:
            heapq.heappop(open_ranks)
        reason = reasons[open_ranks[0]] if open_ranks else None
        if not out or out[-1] != reason:
            starts.append(point)
            out.append(reason)
    return starts, out


class HostVerdicts(dict[str, "tuple[str, str | None] | None"]):
    """(network text, reason) of IPv4 address texts, from ``PointVerdicts``, remembered:
    ``hosts[text]``, None for any other text (not remembered). A dict, so that a text
    seen before costs one lookup in C and no Python call."""

    def __init__(self, points: PointVerdicts) -> None:
        super().__init__()
        self._points = points
        self._starts, self._reasons = points.segments(4)
        # The reason of a value by ``bisect_right`` itself: the one before the first start
        # is None (``learn``: no test of the index).
        self._after: list[str | None] = [None, *self._reasons]

    def __missing__(self, host: str) -> tuple[str, str | None] | None:
        # (a miss is most failures of a flood or a scan: ipv4_host_key and PointVerdicts.why
        # inlined, and the text itself is the /32's, as inet_pton took it: hostkeys)
        if ":" in host:  # IPv6: not here (inet_pton would raise)
            return None
        if not V4_CANONICAL:
            fast = ipv4_host_key(host)
            if fast is None:
                return None
            value, key = fast
        else:
            try:
                value = int.from_bytes(inet_pton(AF_INET, host), "big")
            except (OSError, ValueError):  # not a dotted quad (a NUL: ValueError)
                return None
            key = host + "/32"
        if len(self) >= HOST_MEMO:
            self.clear()
        i = bisect_right(self._starts, value) - 1
        found = self[host] = (key, None if i < 0 else self._reasons[i])
        return found

    def learn(self, entries: Sequence[HitAddress]) -> list[IPv6Entry]:
        """Remember the IPv4 texts of ``entries`` a reader child parsed to their integers
        (sources.hitkeys) as their misses would (``__missing__``'s last lines, in the loop:
        a flood's tens of thousands, a call of Python less each), where the text is its own
        /32's key (``V4_CANONICAL``: else a text's key is left to its miss). The IPv6
        entries, not for here, are returned (``JailRuntime.learn``: no second pass)."""
        sixes: list[IPv6Entry] = []
        if not V4_CANONICAL:
            return [entry for entry in entries if len(entry) == 4]
        starts, after = self._starts, self._after
        room = len(self) + len(entries) <= HOST_MEMO  # (then none clears it below)
        for entry in entries:
            if len(entry) == 4:
                sixes.append(entry)
                continue
            host, value = entry
            if not room and len(self) >= HOST_MEMO:
                self.clear()
            self[host] = (host + "/32", after[bisect_right(starts, value)])
        return sixes


# ``HostVerdicts.__missing__`` in Python, and in C (decisions._banrun: no frame of Python a
# miss, a flood's every new address) where the module is built and inet_pton takes only the
# canonical dotted quad; JOURNALBAN_NATIVE_BANS=0 keeps Python's. ``use_native`` switches.
PYTHON_MISSING: Final = HostVerdicts.__missing__


def _native_missing() -> object | None:
    if not V4_CANONICAL or os.environ.get("JOURNALBAN_NATIVE_BANS", "1") == "0":
        return None
    try:
        from journalban.decisions import _banrun
    except ImportError:
        return None
    make = getattr(_banrun, "host_missing", None)  # (None: a build older than this module)
    return None if make is None else make(HostVerdicts, HOST_MEMO)


NATIVE_MISSING: Final = _native_missing()


def use_native(native: bool) -> bool:
    """``HostVerdicts.__missing__`` in C (if built) or in Python; whether C is in use."""
    on = native and NATIVE_MISSING is not None
    HostVerdicts.__missing__ = NATIVE_MISSING if on else PYTHON_MISSING  # type: ignore[assignment,method-assign]
    return on


use_native(True)


def ranked(groups: Iterable[tuple[Iterable[tuple[int, int, int]], str]]) -> list[Ranked]:
    """(version, first, last) ranges of each (ranges, reason) group, in order."""
    return [(v, first, last, reason) for ranges, reason in groups for v, first, last in ranges]
