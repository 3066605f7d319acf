"""A network banned by a detector at its first failure, its bookkeeping done for a run.

Most bans of a flood are of this kind (``account`` or ``attack_mode`` verdicts, sshd-flood's
55,000 of 55,400): a network whose first failure its verdict bans, with no count to clear
(the engine had not counted it: ``JailRuntime.first_room``), no history, no earlier ban in
the step and so no recidive due. ``BanDeciding._decide_ban`` would spend its general steps
on it (the history read, the ban table's ``put``, five appends); ``FirstBans`` keeps what it
needs (the ``Ban`` pair, its text in the jail's bans and in the step's pending bans, at
once, as the failures after it read them) and does the rest for the whole run in C
(``flush``): the commit's lists, the unsaved bans, the ban table's dict, counts and expiry
heap (``BanTable.put_run``). The run is flushed before any other ban is decided and at the
step's end, so every list holds the bans in the order ``_decide_ban`` would have put them,
and the state is the same.
"""

from __future__ import annotations

from itertools import repeat
from typing import TYPE_CHECKING

from journalban.addresses import IPNetwork
from journalban.events import Ban

if TYPE_CHECKING:
    from journalban.decisions.runtime import BanTable, Changes
    from journalban.state.store import BatchCommit

# (network key, network text, network, banned_at, expires_at, the ban, the table's ban)
FirstBan = tuple[str, str, IPNetwork, float, float, Ban, Ban]


class FirstBans:
    """The first-failure bans of one jail decided since the last ``flush``, in order."""

    __slots__ = ("_changes", "_commit", "_jail", "run")

    def __init__(self) -> None:
        self.run: list[FirstBan] = []
        self._jail = ""
        self._commit: BatchCommit | None = None
        self._changes: Changes | None = None

    def start(self, jail: str, commit: BatchCommit, changes: Changes) -> None:
        """The run's bans go into ``commit`` and ``changes`` (the step's): call before the
        first ``run.append`` after a ``flush``."""
        self._jail, self._commit, self._changes = jail, commit, changes

    def flush(self, bans: BanTable, decided: list[tuple[str, str, float]]) -> None:
        """Do the run's bookkeeping, as ``_decide_ban`` does each ban's, and empty it:
        ``decided`` is the engine's (text, jail, banned_at) of the step's bans."""
        run, commit, changes = self.run, self._commit, self._changes
        if not run or commit is None or changes is None:
            return
        jail = self._jail
        keys, texts, networks, whens, expiries, made, kept = zip(*run, strict=True)
        commit.cleared += keys
        commit.history += zip(made, repeat(False))
        decided += zip(texts, repeat(jail), whens)
        commit.bans += made
        commit.banned_delta += len(run)
        bans.put_run(jail, networks, kept, texts, expiries)
        changes.bans += made
        run.clear()
        self._commit = self._changes = None
