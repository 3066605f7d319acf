"""A backend that only logs and remembers: for trying journalban and for tests."""

from __future__ import annotations

import logging
from collections.abc import Sequence

from journalban import announcec
from journalban.addresses import IPNetwork, format_networks
from journalban.firewall.base import (
    BanEntry,
    JailCounters,
    JailRules,
    ReconcileReport,
    reconcile_by_listing,
)

log = logging.getLogger("journalban.firewall.dryrun")


class DryRunBackend:
    """Keeps bans in memory and logs what a real firewall would have done."""

    name = "dry-run"
    # Its ``apply`` changes a dict and logs a line: the agent calls it in the event loop's
    # thread (agent.committing), not in a worker thread like a firewall's, whose netlink or
    # command I/O would hold the loop. The hand-off there and back was two thread wake-ups a
    # commit group (3-5 ms of a 300,000-line backlog's wall on two busy cores).
    inline_apply = True

    def __init__(self) -> None:
        self.jails: dict[str, JailRules] = {}
        # Per jail, each network's expiry: what a firewall holds, and no more (the
        # agent's memory with this backend is measured against fail2ban-server's:
        # a BanEntry and a (jail, network) key kept per ban cost 110 bytes; issue 19).
        self._bans: dict[str, dict[IPNetwork, float | None]] = {}
        self.batches = 0

    def setup(self, jails: Sequence[JailRules]) -> None:
        self.jails = {j.name: j for j in jails}
        self._bans = {jail: bans for jail, bans in self._bans.items() if jail in self.jails}

    def apply(self, add: Sequence[BanEntry], remove: Sequence[BanEntry], now: float) -> None:
        self.batches += 1
        unbanned: dict[str, list[IPNetwork]] = {}
        banned: dict[str, list[IPNetwork]] = {}
        for entry in remove:
            held = self._bans.get(entry.jail)
            if held is not None and entry.network in held:
                del held[entry.network]
                unbanned.setdefault(entry.jail, []).append(entry.network)
        native = announcec.NATIVE
        if native is not None and isinstance(add, list):
            native.hold_entries(add, now, self._bans, banned)  # (the loop below, in C)
        else:
            self._hold(add, now, banned)
        # One line per jail and batch: a backlog bans thousands at once, and
        # each ban has its own event line already. (The agent's log says on
        # every line that it runs dry.) The names formatted in one loop a jail.
        for verb, found in (("unban", unbanned), ("ban", banned)):
            for jail, networks in found.items():
                log.info("would %s in %s: %s", verb, jail, " ".join(format_networks(networks)))

    def _hold(
        self, add: Sequence[BanEntry], now: float, banned: dict[str, list[IPNetwork]]
    ) -> None:
        """Keep each entry of ``add`` not expired at ``now``, and its network in ``banned``."""
        # (a jail's table and networks looked up when the jail changes: a flood's batch is
        # thousands of bans of one jail)
        last: str | None = None
        table: dict[IPNetwork, float | None] = {}
        nets: list[IPNetwork] = []
        for entry in add:
            expires_at = entry.expires_at
            if expires_at is not None and expires_at <= now:
                continue
            if entry.jail != last:
                last = entry.jail
                table = self._bans.setdefault(last, {})
                nets = banned.setdefault(last, [])
            network = entry.network
            table[network] = expires_at
            nets.append(network)

    def list(self, now: float) -> list[BanEntry]:
        self._expire(now)
        return [
            BanEntry(jail, network, expires_at)
            for jail, held in self._bans.items()
            for network, expires_at in held.items()
        ]

    def reconcile(self, wanted: Sequence[BanEntry], now: float) -> ReconcileReport:
        return reconcile_by_listing(self, wanted, now)

    def intact(self) -> bool:
        return True

    def counters(self) -> dict[str, JailCounters]:
        return {name: JailCounters() for name in self.jails}

    def teardown(self) -> None:
        self._bans.clear()
        self.jails.clear()

    def _expire(self, now: float) -> None:
        for held in self._bans.values():
            gone = [n for n, expires in held.items() if expires is not None and expires <= now]
            for network in gone:
                del held[network]
