"""Committed bans and unbans of the stream, announced after the calls waiting for them.

Once a group of journal batches is committed and in the firewall, its bans
are announced: logged, actions run, listeners told (the bus's Banned signal
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
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable, Iterator, Sequence
from operator import itemgetter
from typing import TYPE_CHECKING, NamedTuple

from journalban.addresses import IPNetwork
from journalban.agent.callers import Caller
from journalban.events import Ban

if TYPE_CHECKING:
    from journalban.agent.api import AgentListener


class News(NamedTuple):
    """A committed ban (``unban_reason`` None) or unban, to be announced (a tuple: a
    flood's commit makes one per ban, and a frozen dataclass's ``__init__`` cost
    several times a tuple's)."""

    ban: Ban
    unban_reason: str | None
    at: float
    caller: Caller | None = None  # who asked (None: the agent's own decision)

    @property
    def key(self) -> tuple[str, IPNetwork]:
        return self.ban.jail, self.ban.network


_new_news = tuple.__new__
# (caller, unban_reason, at): what the news of a run share (``news_runs``)
_KIND = itemgetter(3, 1, 2)


def news_of(
    bans: Iterable[Ban], unbans: Iterable[tuple[Ban, str]], at: float, caller: Caller | None
) -> list[News]:
    """A commit's news in the order it is announced: its bans, then its unbans."""
    # (tuple.__new__: a NamedTuple's own __new__ is a Python function)
    return [_new_news(News, (b, None, at, caller)) for b in bans] + [
        _new_news(News, (b, reason, at, caller)) for b, reason in unbans
    ]


class NewsQueue:
    """News committed but not yet announced, oldest first."""

    def __init__(self) -> None:
        self._queued: deque[News] = deque()

    def __len__(self) -> int:
        return len(self._queued)

    def defer(self, news: Iterable[News]) -> None:
        self._queued.extend(news)

    def take(self, count: int) -> list[News]:
        """The oldest ``count`` items (fewer if fewer are queued)."""
        return [self._queued.popleft() for _ in range(min(count, len(self._queued)))]

    def take_before(self, news: Iterable[News]) -> list[News]:
        """The queued items about the same bans as ``news``, which must be announced first."""
        if not self._queued:
            return []
        keys = {item.key for item in news}
        if not keys:
            return []
        first = [item for item in self._queued if item.key in keys]
        if first:
            self._queued = deque(item for item in self._queued if item.key not in keys)
        return first


def news_runs(news: Sequence[News]) -> Iterator[list[News]]:
    """``news`` cut into runs announced together: consecutive bans (or consecutive
    unbans of one reason) of the same caller at the same time, in their order."""
    if news:
        kinds = list(map(_KIND, news))
        if kinds.count(kinds[0]) == len(kinds):  # (a flood's slice: one run, looked at in C)
            yield list(news)
            return
    run: list[News] = []
    last: tuple[object, ...] = ()
    for item in news:
        kind = (item.caller, item.unban_reason, item.at)
        if run and kind != last:
            yield run
            run = []
        run.append(item)
        last = kind
    if run:
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
