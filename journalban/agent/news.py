"""Committed bans and unbans of the stream, announced after the calls waiting for them.

Once a group of journal batches is committed and in the firewall, its bans
are announced: logged, actions run, listeners told (the bus's Banned or BannedMany signals
and GetBans order). Under a stream that is hundreds of bans, a few turns of
the event loop each, and a D-Bus Ban waiting for the decisions task waited
for all of them (p99 0.1-0.2 s of its latency, with 100,000 bans, in
bench_dbus_agent's traces). So a group's news is queued here, and the calls
waiting are run before it is announced, then between its slices.

Order per ban is kept: before a call's own bans and unbans are announced, the
queued news of the same (jail, network) goes first, so nobody sees an Unban
before the Ban it lifts, or a ban extended before it was made. News of other
bans only comes later than it would have, by the length of the calls, and
always after its commit: nothing is announced that is not durable.

The news is queued by runs (``News``: a commit's bans, or its unbans of one
reason), not by ban: a flood's commit holds thousands of bans, and an item each
(a tuple made, queued, taken, cut into runs and read back) cost about 3,500
instructions a ban.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable, Iterator, Sequence
from operator import attrgetter
from typing import TYPE_CHECKING, NamedTuple

from journalban.agent.callers import Caller
from journalban.events import Ban

if TYPE_CHECKING:
    from journalban.agent.api import AgentListener

_JAIL = attrgetter("jail")


class News(NamedTuple):
    """A run of committed bans (``unban_reason`` None), or of unbans of one reason, of one
    caller at one time: announced together, in the order of ``bans``."""

    bans: list[Ban]
    unban_reason: str | None
    at: float
    caller: Caller | None = None  # who asked (None: the agent's own decision)


def news_of(
    bans: Iterable[Ban], unbans: Iterable[tuple[Ban, str]], at: float, caller: Caller | None
) -> list[News]:
    """A commit's news in the order it is announced: its bans (one run), then its unbans
    (a run per reason, in their order)."""
    news: list[News] = []
    if banned := list(bans):
        news.append(News(banned, None, at, caller))
    run: list[Ban] = []
    last = ""
    for ban, reason in unbans:
        if run and reason != last:
            news.append(News(run, last, at, caller))
            run = []
        run.append(ban)
        last = reason
    if run:
        news.append(News(run, last, at, caller))
    return news


def _with_bans(item: News, bans: list[Ban]) -> News:
    """``item._replace(bans=bans)`` without its keyword walk in Python (a slice taken
    from a flood's run of bans at each turn)."""
    return News(bans, item.unban_reason, item.at, item.caller)


def jails_of(news: Iterable[News]) -> set[str]:
    """The jails of the bans and unbans of ``news``."""
    jails: set[str] = set()
    for item in news:
        jails.update(map(_JAIL, item.bans))
    return jails


class NewsQueue:
    """News committed but not yet announced, oldest first; its length is the bans and
    unbans it holds."""

    def __init__(self) -> None:
        self._queued: deque[News] = deque()
        self._head = 0  # the bans of the oldest run already taken (``take``)
        self._count = 0

    def __len__(self) -> int:
        return self._count

    def defer(self, news: Iterable[News]) -> None:
        for item in news:
            if item.bans:
                self._queued.append(item)
                self._count += len(item.bans)

    def take(self, count: int) -> list[News]:
        """The oldest ``count`` bans and unbans (fewer if fewer are queued), in runs."""
        queued, taken = self._queued, []
        while count > 0 and queued:
            item, head = queued[0], self._head
            left = len(item.bans) - head
            if left <= count:
                queued.popleft()
                self._head = 0
                taken.append(item if not head else _with_bans(item, item.bans[head:]))
                count -= left
                self._count -= left
            else:
                taken.append(_with_bans(item, item.bans[head : head + count]))
                self._head = head + count
                self._count -= count
                count = 0
        return taken

    def take_before(self, news: Iterable[News]) -> list[News]:
        """The queued bans and unbans of the same (jail, network) as one of ``news``'s, which
        must be announced first, in their order (and in runs)."""
        if not self._queued:
            return []
        keys = {(ban.jail, ban.network) for item in news for ban in item.bans}
        if not keys:
            return []
        first: list[News] = []
        rest: deque[News] = deque()
        for item in self.take(self._count):
            mine: list[Ban] = []
            others: list[Ban] = []
            for ban in item.bans:
                (mine if (ban.jail, ban.network) in keys else others).append(ban)
            if mine:
                first.append(item._replace(bans=mine))
            if others:
                rest.append(item if not mine else item._replace(bans=others))
        self._queued = rest
        self._count = sum(len(item.bans) for item in rest)
        return first


def news_slices(news: Iterable[News], size: int) -> Iterator[list[News]]:
    """``news`` in slices of at most ``size`` bans and unbans, in order."""
    queue = NewsQueue()
    queue.defer(news)
    while queue:
        yield queue.take(size)


def news_runs(news: Sequence[News]) -> Iterator[News]:
    """``news`` as the runs announced together: consecutive runs of the same kind (bans, or
    unbans of one reason), caller and time joined, in their order."""
    if len(news) == 1:  # (a flood's slice)
        yield news[0]
        return
    run: News | None = None
    joined: list[Ban] | None = None  # (run's bans, copied once it joins another run)
    for item in news:
        if run is not None and item[1:] == run[1:]:
            if joined is None:
                joined = list(run.bans)
                run = run._replace(bans=joined)
            joined += item.bans
            continue
        if run is not None:
            yield run
        run, joined = item, None
    if run is not None:
        yield run


def tell(listener: AgentListener, bans: Sequence[Ban], unban_reason: str | None) -> None:
    """Tell ``listener`` about a run of bans (or unbans): the whole run at once when it
    takes one (an optional ``banned_all(bans)``: a table applied once, a property
    announced once), else ban by ban."""
    if unban_reason is not None:
        for ban in bans:
            listener.unbanned(ban, unban_reason)
        return
    banned_all = getattr(listener, "banned_all", None)
    if banned_all is not None:
        banned_all(bans)
        return
    for ban in bans:
        listener.banned(ban)
