"""Shorewall's dynamic blacklist, through its command line.

``shorewall drop ADDR...`` adds addresses (or networks) to the dynamic
blacklist, ``shorewall allow ADDR...`` takes them out; IPv6 goes to
``shorewall6``. Each batch is at most two calls per family, argv without a
shell. Shorewall blocks all traffic from a blacklisted address, so a jail's
ports do not narrow the ban, and it has no timeouts: the agent expires bans by
calling ``apply`` with removals. An address banned by two jails is allowed
again only when the last of those bans ends. Which jail banned what, and
until when, is kept in ``shorewall.json`` in the state directory.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Final

from journalban.actions.process import run_argv
from journalban.addresses import format_network
from journalban.errors import ActionError, BackendError
from journalban.firewall.base import (
    BanEntry,
    JailCounters,
    JailRules,
    ReconcileReport,
    reconcile_by_listing,
)
from journalban.firewall.filestate import read_bans, unexpired, write_bans

STATE_FILE: Final = "shorewall.json"
COMMAND_TIMEOUT: Final = 60.0


class ShorewallBackend:
    """Bans in shorewall's dynamic blacklist (``drop``/``allow``)."""

    name = "shorewall"

    def __init__(
        self,
        state_dir: Path,
        *,
        shorewall: str = "/usr/sbin/shorewall",
        shorewall6: str = "/usr/sbin/shorewall6",
        timeout: float = COMMAND_TIMEOUT,
    ) -> None:
        self.state_file = state_dir / STATE_FILE
        self._commands = {4: shorewall, 6: shorewall6}
        self.timeout = timeout
        self.jails: dict[str, JailRules] = {}

    def setup(self, jails: Sequence[JailRules]) -> None:
        """Forget the bans of jails no longer configured (and allow their addresses)."""
        self.jails = {j.name: j for j in jails}
        current = read_bans(self.state_file)
        gone = [e for e in current if e.jail not in self.jails]
        if gone:
            self.apply([], gone, 0.0)

    def apply(self, add: Sequence[BanEntry], remove: Sequence[BanEntry], now: float) -> None:
        bans = {(e.jail, e.network): e for e in read_bans(self.state_file)}
        before = {net for _, net in bans}
        for entry in remove:
            bans.pop((entry.jail, entry.network), None)
        for entry in add:
            if entry.expires_at is None or entry.expires_at > now:
                bans[(entry.jail, entry.network)] = entry
        after = {net for _, net in bans}
        for version in (4, 6):
            allow = sorted(n for n in before - after if n.version == version)
            drop = sorted(n for n in after - before if n.version == version)
            if allow:
                self._run(version, "allow", [format_network(n) for n in allow])
            if drop:
                self._run(version, "drop", [format_network(n) for n in drop])
        write_bans(self.state_file, bans.values())

    def list(self, now: float) -> list[BanEntry]:
        return unexpired(read_bans(self.state_file), now)

    def reconcile(self, wanted: Sequence[BanEntry], now: float) -> ReconcileReport:
        return reconcile_by_listing(self, wanted, now)

    def intact(self) -> bool:
        # Shorewall keeps its dynamic blacklist across restart and reload; we
        # cannot see a "shorewall clear" without parsing its show output.
        return True

    def counters(self) -> dict[str, JailCounters]:
        return {name: JailCounters() for name in self.jails}

    def teardown(self) -> None:
        self.apply([], read_bans(self.state_file), 0.0)
        self.state_file.unlink(missing_ok=True)
        self.jails = {}

    def _run(self, version: int, verb: str, addresses: Sequence[str]) -> None:
        try:
            run_argv([self._commands[version], verb, *addresses], self.timeout)
        except ActionError as exc:
            raise BackendError(str(exc)) from exc
