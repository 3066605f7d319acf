"""Committed bans kept in the ban table without their matched lines.

The state holds a ban's lines once it is committed (``StateStore.ban_lines``);
the table need not. The engine puts its own bans there without them from the
start (``decisions.banning``), so only a ban set with its lines (a manual ban, a
fleet's: ``BanTable.__setitem__``, which lists it in ``BanTable.lined``) is
replaced by its copy without them once committed. A flood's commit of
thousands of the engine's own bans then looks none of them up in the table
(each lookup hashed an ``ipaddress`` network in Python).

A step's failures its bans used up are not written either (``unspent_failures``).
"""

from __future__ import annotations

from collections.abc import Iterable

from journalban.decisions.banmaker import lineless
from journalban.decisions.runtime import BanTable
from journalban.events import Ban


def forget_committed_lines(bans: BanTable, committed: Iterable[Ban]) -> None:
    """In ``bans``, each ban of ``committed`` set with its lines and still held is replaced
    by the same ban without them; the bans not committed yet stay listed."""
    lined = bans.lined
    if not lined:
        return
    done = {id(ban) for ban in committed}  # (the objects: both lists hold them)
    waiting: list[Ban] = []
    for ban in lined:
        if id(ban) not in done:
            waiting.append(ban)
            continue
        key = (ban.jail, ban.network)
        if bans.get(key) is ban:
            bans.replace(key, lineless(ban))
    lined[:] = waiting


def unspent_failures(
    failures: list[tuple[str, float]], spent: dict[str, int]
) -> list[tuple[str, float]]:
    """The step's ``failures`` (network text, time) but those its bans used up: a network
    banned in the step (``spent``: it, and how many of ``failures`` came before its ban)
    loses those before its ban. The state deletes a cleared network's failures before it
    inserts the batch's: those the ban used up must not be written."""
    # (``in`` first: most failures' networks were not banned in the step, no call for them)
    return [f for i, f in enumerate(failures) if f[0] not in spent or i >= spent[f[0]]]
