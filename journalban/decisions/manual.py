"""Banning by hand (``BanNetwork``): a mixin of ``DecisionEngine``."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import TYPE_CHECKING

from journalban.addresses import IPNetwork
from journalban.config.schema import RecidiveConfig
from journalban.decisions.banning import RECIDIVE
from journalban.decisions.runtime import BanTable, Changes, JailRuntime
from journalban.errors import NoSuchJail
from journalban.events import Ban
from journalban.state.store import BatchCommit, StateStore

if TYPE_CHECKING:
    from journalban.clock import Clock


class ManualBanning:
    """A ban by hand; needs the engine's store, clock, recidive, jails and bans."""

    store: StateStore
    clock: Clock
    recidive: RecidiveConfig
    jails: dict[str, JailRuntime]
    bans: BanTable
    _check_prefix: Callable[[IPNetwork], None] | None

    def manual_ban(
        self,
        jail: str,
        network: IPNetwork,
        duration: float | None,
        *,
        permanent: bool,
        comment: str,
        force: bool,
    ) -> tuple[Ban, Changes]:
        """Ban by hand. Raises: NoSuchJail, AddressNotPeer, AddressIgnored."""
        rt = self.jails.get(jail)
        if rt is None and (jail != RECIDIVE or not self.recidive.enabled or not self.jails):
            raise NoSuchJail(jail)  # recidive checks its bans against a running jail's list
        ignore = rt.ignore if rt is not None else next(iter(self.jails.values())).ignore
        ignore.check_bannable(network, force=force)
        if network.prefixlen < network.max_prefixlen and self._check_prefix is not None:
            self._check_prefix(network)
        now = self.clock.now()
        if permanent:
            expires: float | None = None
        else:
            if not duration:
                duration = rt.config.bantime if rt is not None else self.recidive.bantime
            expires = None if duration is None else now + duration
        old = self.bans.get((jail, network))
        if old is not None and not old.lines:
            # Restored bans come back without their lines: keep them in the state.
            old = dataclasses.replace(old, lines=self.store.ban_lines(jail, network))
        if old is not None and (
            old.expires_at is None or (expires is not None and old.expires_at >= expires)
        ):
            expires = old.expires_at
        ban = Ban(
            jail, network, old.banned_at if old else now, expires,
            (old.ban_count + 1) if old else 1, comment or "manual", old.failures if old else 0,
            "manual", old.lines if old else (),
        )  # fmt: skip
        self.bans[(jail, network)] = ban
        commit = BatchCommit(
            jail=jail, bans=[ban], history=[(ban, True)], banned_delta=0 if old else 1
        )
        if rt is not None and old is None:
            rt.total_banned += 1
        return ban, Changes(commits=[commit], bans=[ban])
