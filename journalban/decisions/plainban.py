"""A network's first ban, decided by what its step read once (``PlainBans``).

Most bans of a flood or a scan are a counted network's first (decisions.firstban): no
history, none unsaved or earlier in the step, so no recidive fed. Whether a ban is one
took the same reads for every verdict of a step: the store's commit count and history
networks (a property: a frame of Python), the jail's configuration and recidive's, the
unsaved bans' groups (``UnsavedBans.holds``: a frame). ``PlainBans`` reads them once for
the step (``BanDeciding._plain``) and asks each ban only what is its own: its length, its
text in the history, the step's bans and the unsaved groups.

Read once, they are as a ban's own reads were: a commit landing in the thread meanwhile
leaves its bans in the unsaved groups read (those after the commit count read first), so a
network it wrote is never taken for one without history; the history's networks first read
by a general ban of the step (``store.history_networks`` None before) are read again after
it (``BanDeciding._ban_generally`` drops the step's ``PlainBans``).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

from journalban.addresses import IPNetwork
from journalban.config.detectors import JAIL_BANTIME
from journalban.config.schema import RecidiveConfig
from journalban.decisions.banmaker import new_ban, new_ban_pair
from journalban.decisions.firstban import FirstBans
from journalban.decisions.recentlines import LINE_CHARS, cut
from journalban.decisions.unsaved import UnsavedBans
from journalban.decisions.virtual import VirtualBans

if TYPE_CHECKING:
    from journalban.decisions.runtime import BanTable, Changes, JailRuntime
    from journalban.events import Ban
    from journalban.state.store import BatchCommit, StateStore

RECIDIVE = "recidive"


class PlainBans:
    """One step's facts for its first bans (the step: its ``commit``), read once."""

    __slots__ = (
        "bantime", "changes", "commit", "first", "jail", "known", "lineless", "pending",
        "recent", "rt", "sealed", "texts", "unsaved", "virtual",
    )  # fmt: skip

    def __init__(
        self,
        rt: JailRuntime,
        commit: BatchCommit,
        changes: Changes,
        store: StateStore,
        recidive: RecidiveConfig,
        unsaved: UnsavedBans,
        first: FirstBans,
        bans: BanTable,
        virtual: VirtualBans,
    ) -> None:
        cfg = rt.config
        self.rt, self.commit, self.changes, self.first = rt, commit, changes, first
        self.virtual = virtual
        self.jail, self.bantime = cfg.name, cfg.bantime
        committed = store.commit_count  # (before the history's networks: ``_history``)
        known = store.history_networks
        if cfg.name == RECIDIVE or (recidive.enabled and recidive.maxretry <= 1):
            known = None  # (no ban of the step is plain: ``ban`` answers False at once)
        # (a network in none of these has no history as of the commit count read)
        self.known = known
        self.unsaved, self.sealed = unsaved.since(committed)
        self.pending = changes.pending_bans
        self.recent = rt.recent_lines
        self.texts = bans.texts_of(cfg.name)
        # No action of the jail reads a ban's matched lines (only the firewall: mail and
        # command actions are handed the announced ``Ban``): a ban is one object, the
        # table's, announced and committed too, its lines beside it in the commit
        # (``BatchCommit.lines_of``), not a second ``Ban`` with them.
        self.lineless = lines_unread(cfg.actions)

    def ban(
        self,
        key: str,
        network: IPNetwork,
        text: str,
        when: float,
        failures: int,
        source: str,
        now: float,
        reason: str,
        bantime: float | None,
        account: str | None,
    ) -> bool:
        """``_decide_ban`` of network ``key`` (``text``: its ``network_text``; counted by
        the jail: not a subnet's prefix) when the ban is its first (no history, none
        unsaved or earlier in the step), runs and feeds no recidive: its lines taken and
        its count spent as there, its bookkeeping left to ``FirstBans`` (a ban ended by the
        clock when decided too: a virtual ban and its history row). False, and nothing
        done, for any other ban."""
        known = self.known
        if known is None:
            return False
        base = self.bantime if bantime == JAIL_BANTIME else bantime
        if base is None:
            return False
        expires = when + base
        pending = self.pending
        if text in known or text in pending or text in self.unsaved or text in self.sealed:
            return False
        recent = self.recent
        if (held := recent.held) is not None and held[0] == key:
            # (``spent_lines``' first case written out: a verdict at a network's first
            # failure, most bans of a flood or a scan)
            recent.held = None
            line = held[1]
            lines: tuple[str, ...] = (line if len(line) <= LINE_CHARS else cut(line),)
        else:
            lines = spent_lines(self.rt, key)
        jail = self.jail
        kept: Ban | None
        if expires <= now:
            # Ended by the clock when decided (a backlog older than the ban's length): as
            # the general steps, a virtual ban over its span at once (the failures after
            # it read it), its history row, its count spent; nothing kept, committed as a
            # ban or told (``FirstBans.flush``: no table's ``Ban`` in its run entry).
            ban = new_ban(jail, network, when, expires, 1, reason, failures, source, lines,
                          account or "")  # fmt: skip
            kept = None
            self.virtual[(jail, key)] = (-math.inf, expires)
        elif lines and not self.lineless:
            ban, kept = new_ban_pair(jail, network, when, expires, 1, reason, failures, source,
                                     lines, account or "")  # fmt: skip
        else:
            ban = kept = new_ban(jail, network, when, expires, 1, reason, failures, source, (),
                                 account or "")  # fmt: skip
        pending[text] = 1
        first = self.first
        if not first.run:
            first.start(jail, self.commit, self.changes, self.texts)
        if kept is None:
            first.ended += 1
        else:
            first.texts[text] = kept  # (the jail's bans: the failures after it read it)
        first.run.append((key, text, network, when, expires, ban, kept, lines))
        return True


def lines_unread(actions: Sequence[Mapping[str, object]]) -> bool:
    """Whether a jail's ``actions:`` (its configuration's) are the firewall alone, which
    reads no ban's matched lines (firewall.registry: an item's type, ``firewall`` if
    none)."""
    return all(spec.get("type", "firewall") == "firewall" for spec in actions)


def spent_lines(rt: JailRuntime, key: str) -> tuple[str, ...]:
    """The lines kept for network ``key`` of a jail that counts by it, taken for its ban,
    and its count spent (cleared from the jail's counter)."""
    recent = rt.recent_lines
    if (held := recent.held) is not None and held[0] == key:
        # Its first failure, not counted yet (the engine): in neither the counter nor the
        # kept lines, added and cleared as if it had been.
        recent.held = None
        line = held[1]
        return (line if len(line) <= LINE_CHARS else cut(line),)
    rt.counter.clear(key)
    return recent.pop(key)
