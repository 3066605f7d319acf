"""The agent's side of the fleet: the ``RemotePort`` it offers and the fleet task.

The fleet package stays at the edge: its ledger writes in the state store's
transactions (a ``CommitWriter``), and remote bans reach the decisions stage
only through ``apply_remote``, run in the decisions task like every change.
nats-py is imported (by ``journalban.fleet.service``) only when ``fleet:`` is
configured.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence
from typing import TYPE_CHECKING, Any

from journalban.addresses import IPNetwork, network_text
from journalban.config.fleet import FLEET_JAIL
from journalban.decisions.ignore import host_interfaces
from journalban.decisions.remote import (
    FLEET_POSITION,
    RemoteOrder,
    RemoteOutcome,
    decide_remote,
)
from journalban.errors import JournalbanError, NotBanned
from journalban.state.store import BatchCommit

if TYPE_CHECKING:
    from journalban.agent.api import AgentListener
    from journalban.agent.logs import EventLog
    from journalban.clock import Clock
    from journalban.config.schema import Config
    from journalban.decisions.engine import Changes, DecisionEngine
    from journalban.fleet.ledger import FleetLedger
    from journalban.fleet.service import FleetService
    from journalban.state.store import StateStore

log = logging.getLogger("journalban.agent")


class FleetUnavailable(JournalbanError):
    """A fleet operation on a host without ``fleet:`` (or without nats-py)."""


class AgentFleet:
    """``RemotePort`` and the fleet task of ``Agent``."""

    config: Config
    store: StateStore
    clock: Clock
    decisions: DecisionEngine
    events: EventLog
    _fleet_ledger: FleetLedger | None = None
    fleet: FleetService | None = None

    if TYPE_CHECKING:  # provided by Agent

        async def _call(self, fn: Callable[[], Awaitable[Any]]) -> Any: ...
        async def _apply(self, changes: Changes) -> None: ...
        def _check_prefix(self, network: IPNetwork) -> None: ...
        def subscribe(self, listener: AgentListener) -> Callable[[], None]: ...

    def _fleet_prepare(self) -> None:
        """Register the outbox before the first commit (a ban before it would go unpublished)."""
        if self.config.fleet is None:
            return
        from journalban.fleet.ledger import FleetLedger

        self._fleet_ledger = FleetLedger(self.config.fleet, self.store.path)
        self.store.writers.append(self._fleet_ledger)

    async def _fleet_task(self) -> None:
        cfg = self.config.fleet
        if cfg is None or self._fleet_ledger is None:
            return
        try:
            from journalban.fleet.service import FleetService
        except ImportError as exc:
            log.error("fleet %s is configured but nats-py is missing (install journalban[fleet]):"
                      " %s; bans are kept in the outbox", cfg.name, exc)  # fmt: skip
            return
        own = [str(own) for own, _ in await asyncio.to_thread(host_interfaces)]
        self.fleet = FleetService(cfg, self, self._fleet_ledger, self.clock, own)
        self.subscribe(self.fleet)
        await self.fleet.run()

    async def apply_remote(
        self, orders: Sequence[RemoteOrder], stream: str, seq: int
    ) -> RemoteOutcome:
        cfg = self.config.fleet
        all_ports = FLEET_JAIL if cfg is not None and cfg.remote_all_ports else None

        async def do() -> RemoteOutcome:
            changes, outcome = decide_remote(
                self.decisions, orders, stream, seq,
                all_ports_jail=all_ports, check_prefix=self._check_prefix,
            )  # fmt: skip
            await self._apply(changes)
            return outcome

        result: RemoteOutcome = await self._call(do)
        return result

    async def unban_fleet(self, network: IPNetwork, jail: str | None = None) -> int:
        """Lift ``network`` here and publish the unban to every host; how many lifted here.

        Raises:
            FleetUnavailable: no fleet is configured.
        """
        ledger = self._fleet_ledger
        if ledger is None:
            raise FleetUnavailable("no fleet is configured on this host")

        async def do() -> int:
            try:
                changes = self.decisions.unban(network, jail, "fleet")
            except NotBanned:
                from journalban.decisions.engine import Changes

                changes = Changes()
            ledger.stage_unban(jail, network_text(network), self.clock.now())
            changes.commits.append(BatchCommit(jail=FLEET_POSITION))
            await self._apply(changes)
            return len(changes.unbans)

        lifted: int = await self._call(do)
        where = f" in {jail}" if jail else ""
        self.events.command("unban_fleet", f"{network_text(network)}{where}", self.clock.now())
        if self.fleet is not None:
            self.fleet.wake()
        return lifted

    def fleet_status(self) -> dict[str, Any]:
        """The fleet's status; empty when no fleet is configured."""
        if self.config.fleet is None:
            return {}
        if self.fleet is None:
            return {"name": self.config.fleet.name, "host": self.config.fleet.host,
                    "connected": False, "last_error": "not started"}  # fmt: skip
        return self.fleet.status_dict()
