"""A network's first ban, its bookkeeping done for a run of them at once.

Most bans of a flood are a network's first, by a detector's verdict at its first failure
(``account`` or ``attack_mode``: sshd-flood's 55,000 of 55,400) or by a verdict or maxretry
once counted (sshd's): no history, no earlier ban in the step and so no recidive due.
``BanDeciding._decide_ban`` spent its general steps on each (the history read, the ban
table's ``put``, five appends); ``PlainBans.ban`` (decisions.plainban) does what the failures after
it read at once (its ``Ban`` pair; its text in the jail's bans and the step's pending bans;
its count spent, its lines taken) and leaves the rest to ``FirstBans``, which does it for
the whole run in C (``flush``): the commit's lists, the unsaved bans, the ban table's
dict, counts and expiry heap (``BanTable.put_run``). The run is flushed before any other
ban is decided and at the step's end, so every list holds the bans in the order
``_decide_ban`` would have put them, and the state is the same.
"""

from __future__ import annotations

from itertools import compress, repeat
from operator import is_not
from typing import TYPE_CHECKING, cast

from journalban.addresses import IPNetwork
from journalban.events import Ban

if TYPE_CHECKING:
    from journalban.decisions.runtime import BanTable, Changes
    from journalban.state.store import BatchCommit

# (network key, network text, network, banned_at, expires_at, the ban, the table's ban,
# the ban's matched lines): the ban and the table's are one object, without its lines, for
# a jail whose actions read none (decisions.plainban), its lines then committed beside it;
# no table's ban for a ban ended when decided (its history row and cleared count alone).
FirstBan = tuple[str, str, IPNetwork, float, float, Ban, "Ban | None", tuple[str, ...]]


class FirstBans:
    """The first-failure bans of one jail decided since the last ``flush``, in order."""

    __slots__ = ("_changes", "_commit", "_jail", "ended", "run", "texts")

    def __init__(self) -> None:
        self.run: list[FirstBan] = []
        self.ended = 0  # (how many of the run's bans ended when decided)
        self._jail = ""
        self._commit: BatchCommit | None = None
        self._changes: Changes | None = None
        # The jail's bans by network text (``BanTable.texts_of``), for the run's bans put
        # there as they are decided (the failures after them in the step read them).
        self.texts: dict[str, Ban] = {}

    def start(
        self, jail: str, commit: BatchCommit, changes: Changes, texts: dict[str, Ban]
    ) -> None:
        """The run's bans go into ``commit`` and ``changes`` (the step's), and ``texts``
        is the jail's bans by text (``BanTable.texts_of``): call before the first
        ``run.append`` after a ``flush``."""
        self._jail, self._commit, self._changes, self.texts = jail, commit, changes, texts

    def flush(self, bans: BanTable, decided: list[tuple[str, str, float]]) -> None:
        """Do the run's bookkeeping, as ``_decide_ban`` does each ban's, and empty it:
        ``decided`` is the engine's (text, jail, banned_at) of the step's bans."""
        run, commit, changes = self.run, self._commit, self._changes
        if not run or commit is None or changes is None:
            return
        jail = self._jail
        keys, texts, networks, whens, expiries, made, held, lines = zip(*run, strict=True)
        commit.cleared += keys
        commit.history += zip(made, repeat(False))
        decided += zip(texts, repeat(jail), whens)
        if self.ended:  # (the bans ended when decided: their history rows alone)
            self.ended = 0
            live = [*map(is_not, held, repeat(None))]
            networks, expiries, made, held, lines = (
                tuple(compress(column, live)) for column in (networks, expiries, made, held, lines)
            )
        kept = cast("tuple[Ban, ...]", held)
        if made:
            if made[0] is kept[0]:  # (one object a ban: its lines beside it, by its id)
                commit.lines_of.update(zip(map(id, made), lines, strict=True))
            commit.bans += made
            commit.banned_delta += len(made)
            bans.put_run(jail, networks, kept, None, expiries)  # (``texts``: put as decided)
            changes.bans += made
        run.clear()
        self._commit = self._changes = None
        self.texts = {}
