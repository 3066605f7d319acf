"""Paging through the ban table: ``GetBans`` and the ``Generation`` property.

A console showing 100,000 bans must not fetch them all with ``ListBans``.
``GetBans`` answers one page of the bans sorted newest first, with the total
and the generation of the table it was cut from. The generation changes with
every ban, unban and reload, so a client that missed a signal, or holds
pages of different generations, knows to read again.

The sorted list is kept between calls and dropped at the next change: paging
through a table that does not change sorts it once.
"""

from __future__ import annotations

from typing import Final

from journalban.agent.api import AgentControl
from journalban.bus import convert
from journalban.events import Ban

# The most bans one page holds; a larger limit is cut to it.
MAX_PAGE: Final = 10_000


class BanPages:
    """The ban table's generation and its newest-first order, per jail filter."""

    def __init__(self, control: AgentControl) -> None:
        self._control = control
        # Start at the agent's start time in microseconds: after a restart the
        # generation does not repeat one a client saw before it.
        self.generation: int = convert.usec(control.started_at)
        self._sorted: dict[str, list[Ban]] = {}

    def changed(self) -> None:
        """The ban table changed (a ban, an unban, a reload)."""
        self.generation += 1
        self._sorted.clear()

    def page(self, jail: str, offset: int, limit: int) -> tuple[int, int, list[convert.BanStruct]]:
        """(total, generation, bans[offset:offset+limit]) of ``jail`` ("" every jail).

        Raises:
            NoSuchJail: ``jail`` is not configured.
        """
        bans = self._sorted.get(jail)
        if bans is None:
            bans = sorted(
                self._control.list_bans(convert.jail_arg(jail)),
                key=lambda b: (-b.banned_at, b.jail, b.address),
            )
            self._sorted[jail] = bans
        window = bans[offset : offset + min(limit, MAX_PAGE)]
        return len(bans), self.generation, [convert.ban_struct(b) for b in window]
