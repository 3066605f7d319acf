"""The automatic bans decided but not yet committed, by the commit that holds them.

A ban's length and recidive count the network's earlier bans: the state's
history plus the bans decided since, not yet in it. The agent decides the
next group of batches while the last one commits in a thread (agent.committing),
so "not yet in it" is more than "since the last commit": each group's bans
are *sealed* when the group is handed to the store, with the number of the
store's commit that will write them, and count until the store's
``commit_count`` reaches that number. A history read is paired with the
commit count it saw (``committed_history``), so a commit landing meanwhile
counts a ban neither twice nor not at all.

Callers that never seal (the engine driven directly, one commit per change:
the tests, ``journalban replay``) keep the old rule: every commit writes all
the bans decided before it.

The groups hold their steps' bans as committed too (``hold``), so that a ban's
matched lines can be read before its commit lands (``lines``): the ban table holds
the engine's bans without them (decisions.forgetting), and the state only once
written. Each step's lists are held whole, once, and let go when the group lands.
"""

from __future__ import annotations

from collections.abc import Container
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from journalban.addresses import IPNetwork
    from journalban.events import Ban
    from journalban.state.store import StateStore

# By network text (it hashes in C): (jail, banned_at) of its one ban, a list of them when
# it has more. (Most networks have one: the pair alone is one object a ban less, and one
# the collector stops looking at, a pair of a text and a float; a list it looks at always.)
Decided = dict[str, "tuple[str, float] | list[tuple[str, float]]"]
# A step's bans as committed, and the lines of those made without them, by the ban's id
# (``BatchCommit.bans``, ``BatchCommit.lines_of``: the ids are of bans the list holds).
Held = tuple[list["Ban"], dict[int, tuple[str, ...]]]


class UnsavedBans:
    """The open group's decided bans, and the sealed groups whose commit has not landed."""

    __slots__ = ("_held", "_open_held", "_open_since", "_sealed", "open")

    def __init__(self, committed: int) -> None:
        self.open: Decided = {}
        self._sealed: list[tuple[int, Decided]] = []  # (commit number, its bans), in order
        self._open_since = committed  # the commit count when ``open`` began (unsealed use)
        self._open_held: list[Held] = []  # the open group's steps' bans (``hold``)
        self._held: list[tuple[int, list[Held]]] = []  # the sealed groups', as ``_sealed``

    def hold(self, bans: list[Ban], lines_of: dict[int, tuple[str, ...]]) -> None:
        """A step's ``BatchCommit.bans`` and ``lines_of`` (its lists, held as they are), in
        the open group until written: ``lines`` reads them."""
        self._open_held.append((bans, lines_of))

    def keep(self, decided: list[tuple[str, str, float]]) -> None:
        """Add (network text, jail, banned_at) of bans just decided to the open group."""
        unsaved = self.open
        if len(decided) > 1:
            # Most of a flood's: every text new to the group and none twice, added in C.
            texts, jails, ats = zip(*decided, strict=True)
            fresh: Decided = dict(zip(texts, zip(jails, ats, strict=True), strict=True))
            if len(fresh) == len(decided) and unsaved.keys().isdisjoint(fresh):
                unsaved.update(fresh)
                return
        for text, jail, at in decided:
            found = unsaved.get(text)
            if found is None:
                unsaved[text] = (jail, at)
            elif isinstance(found, tuple):
                unsaved[text] = [found, (jail, at)]
            else:
                found.append((jail, at))

    def seal(self, number: int) -> None:
        """The open group's bans are written by the store's commit ``number`` (the next one:
        the caller commits nothing else before it)."""
        if self.open:
            self._sealed.append((number, self.open))
        self.open = {}
        if self._open_held:
            self._held.append((number, self._open_held))
            self._open_held = []
        self._open_since = number

    def catch_up(self, committed: int) -> None:
        """Forget the bans the store has committed (``committed``: its commit count)."""
        sealed = self._sealed
        while sealed and sealed[0][0] <= committed:
            del sealed[0]
        if self._held:
            self.landed(committed)
        if committed > self._open_since:  # committed without a seal: the open group too
            self.open.clear()
            self._open_held = []
            self._open_since = committed

    def landed(self, committed: int) -> None:
        """Let go of the bans held (``hold``) that the store has committed (``committed``:
        its commit count; their lines are the state's): as soon as a commit lands, not
        at the next ``catch_up``, which waits for the next batch."""
        held = self._held
        while held and held[0][0] <= committed:
            del held[0]
        if committed > self._open_since:
            self._open_held = []

    def lines(self, ban: Ban) -> tuple[str, ...] | None:
        """The matched lines of ``ban`` (the ban table's: its network's newest ban in its
        jail), decided and held (``hold``), not yet committed: its commit's ban, itself
        with its lines beside it or a copy with them; None if none is held (committed:
        the state has them)."""
        steps = [*reversed(self._open_held)]
        for _, group in reversed(self._held):
            steps += reversed(group)
        for bans, lines_of in steps:  # (newest first)
            if (lines := lines_of.get(id(ban))) is not None:
                return lines
            for made in reversed(bans):  # (a ban and its copy without lines: by what it is)
                same = made.banned_at == ban.banned_at and made.network == ban.network
                if same and made.jail == ban.jail:
                    return made.lines
        return None

    def holds(self, text: str, committed: int) -> bool:
        """Whether ``of(text, committed)`` has any ban (no list made)."""
        for number, bans in self._sealed:
            if number > committed and text in bans:
                return True
        return committed <= self._open_since and text in self.open

    def since(self, committed: int) -> tuple[Container[str], Container[str]]:
        """What ``holds(text, committed)`` looks in, as two containers (a text in either),
        for a caller asking of many texts before the next ``seal`` or ``catch_up``
        (decisions.plainban): the last group and the one before it as they are (none or one
        most often: the open group, and the sealed one while a commit runs); with more, the
        groups before the last asked one by one (``_Groups``: no copy of their texts)."""
        found = [bans for number, bans in self._sealed if number > committed]
        if committed <= self._open_since:
            found.append(self.open)
        if len(found) <= 2:
            return (found[-1] if found else ()), (found[0] if len(found) == 2 else ())
        return found[-1], _Groups(found[:-1])

    def of(self, text: str, committed: int) -> list[tuple[str, float]]:
        """(jail, banned_at) of ``text``'s bans not in the state as of commit ``committed``."""
        found: list[tuple[str, float]] = []
        for number, bans in self._sealed:
            if number > committed and (more := bans.get(text)) is not None:
                _add(found, more)
        if committed <= self._open_since and (more := self.open.get(text)) is not None:
            _add(found, more)
        return found


def _add(found: list[tuple[str, float]], more: tuple[str, float] | list[tuple[str, float]]) -> None:
    """``more`` (a ``Decided`` value: one ban's pair, or a list of them) added to ``found``."""
    if isinstance(more, tuple):
        found.append(more)
    else:
        found += more


def committed_history(
    store: StateStore, network: IPNetwork, since: float, text: str
) -> tuple[int, list[tuple[str, float]]]:
    """``store.ban_history`` and the commit count it is the history of.

    A read is retried if a commit landed during it (once at most: the agent has
    one commit in flight, and hands no other to the store while it decides).
    """
    while True:
        before = store.commit_count
        history = store.ban_history(network, since, text)
        if store.commit_count == before:
            return before, history


class _Groups:
    """Groups of bans asked as one: a text is in it if it is in any of them."""

    __slots__ = ("groups",)

    def __init__(self, groups: list[Decided]) -> None:
        self.groups = groups

    def __contains__(self, text: object) -> bool:
        return any(text in group for group in self.groups)
