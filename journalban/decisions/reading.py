"""Reading the active bans: a mixin of ``DecisionEngine``."""

from __future__ import annotations

from typing import TYPE_CHECKING

from journalban.addresses import IPNetwork, is_prefix
from journalban.decisions.runtime import BanTable
from journalban.events import Ban

if TYPE_CHECKING:
    from journalban.clock import Clock
    from journalban.decisions.unsaved import UnsavedBans


class BanReading:
    """Lists and lookups of active bans; needs the engine's ``bans``, ``clock`` and
    ``_unsaved``."""

    bans: BanTable
    clock: Clock
    _unsaved: UnsavedBans
    _sorted: list[Ban]
    _sorted_key: tuple[int, str | None]

    def list_bans(self, jail: str | None = None) -> list[Ban]:
        """Active bans, by jail then ban time; sorted once per change of the table."""
        now = self.clock.now()
        key = (self.bans.version, jail)
        if self._sorted_key != key:
            self._sorted = sorted(
                (b for b in self.bans.values() if jail is None or b.jail == jail),
                key=lambda b: (b.jail, b.banned_at),
            )
            self._sorted_key = key
        return [b for b in self._sorted if not b.expired(now)]

    def count_bans(self, jail: str | None = None) -> int:
        """``len(list_bans(jail))`` without a scan of the table.

        The table's own counts, less the bans that have run out and wait for
        the expiry chore (found at the top of the table's expiry heap). Every
        jail property and GetStatus read it: at 100,000 bans a scan per read
        cost the event loop about 20 ms, and a GetAll of a jail reads it once
        per property.
        """
        now = self.clock.now()
        held = len(self.bans) if jail is None else self.bans.per_jail.get(jail, 0)
        if now < self.bans.next_expiry():  # nothing has run out
            return held
        due = self.bans.due(now)
        return held - sum(1 for b in due if jail is None or b.jail == jail)

    def count_prefix_bans(self) -> int:
        """How many active bans are of prefixes (``addresses.is_prefix``), as ``count_bans``:
        the table's own count, less those run out and waiting for the expiry chore."""
        now = self.clock.now()
        held = self.bans.prefixes
        if not held or now < self.bans.next_expiry():
            return held
        return held - sum(1 for b in self.bans.due(now) if is_prefix(b.network))

    def covering(self, network: IPNetwork) -> list[Ban]:
        """Active bans of ``network`` or of a prefix holding it, ordered as ``list_bans``.

        Looks up each enclosing prefix instead of testing every ban: a D-Bus
        QueryBan then costs the same with 20 bans or 20,000 (a scan took
        about 70 ms of the event loop at 16,000 bans).
        """
        now = self.clock.now()
        held = self.bans.lengths  # only prefix lengths some ban has (often one or two)
        version = network.version
        enclosing = [
            network.supernet(new_prefix=p) for p in range(network.prefixlen) if (version, p) in held
        ]
        enclosing.append(network)
        jails = list(self.bans.per_jail)
        found = [
            ban
            for jail in jails
            for net in enclosing
            if (ban := self.bans.get((jail, net))) is not None and not ban.expired(now)
        ]
        return sorted(found, key=lambda b: (b.jail, b.banned_at))

    def bans_of(self, network: IPNetwork, jail: str | None) -> list[Ban]:
        """The bans of exactly ``network``, in ``jail`` or in every jail (lookups, no scan)."""
        jails = list(self.bans.per_jail) if jail is None else [jail]
        return [b for j in jails if (b := self.bans.get((j, network))) is not None]

    def unsaved_lines(self, ban: Ban) -> tuple[str, ...] | None:
        """The matched lines of ``ban`` (the table's), its own or, decided and not yet
        committed, its commit's (the table holds the engine's bans without them); None
        when neither has them: the state's (``StateStore.ban_lines``), read after this."""
        return ban.lines or self._unsaved.lines(ban)
