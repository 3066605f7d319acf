"""The agent's side of the fleet: the ``RemotePort`` it offers and the fleet task.

The fleet package stays at the edge: its ledger writes in the state store's
transactions (a ``CommitWriter``), and remote bans reach the decisions stage
only through ``apply_remote``, run in the decisions task like every change.
nats-py is imported (by ``journalban.fleet.service``) only when ``fleet:`` is
configured; so is ``decisions.remote``, which only the fleet's service calls for (a
default run does not keep it, issue 19).
"""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import Awaitable, Callable, Sequence
from typing import TYPE_CHECKING, Any

from journalban.addresses import IPNetwork, network_text, parse_network
from journalban.config.schema import FLEET_JAIL
from journalban.decisions.engine import Changes
from journalban.decisions.ignore import host_interfaces
from journalban.errors import JournalbanError, NotBanned
from journalban.state.store import BatchCommit

if TYPE_CHECKING:
    from journalban.agent.api import AgentListener
    from journalban.agent.logs import EventLog
    from journalban.clock import Clock
    from journalban.config.fleet import FleetConfig
    from journalban.config.schema import Config
    from journalban.decisions.engine import DecisionEngine
    from journalban.decisions.remote import RemoteOrder, RemoteOutcome
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
    dry_run: bool
    _group: asyncio.TaskGroup | None
    _fleet_ledger: FleetLedger | None = None
    fleet: FleetService | None = None
    _fleet_job: asyncio.Task[None] | None = None
    _fleet_running: tuple[object, ...] | None = None  # what the running fleet was made from

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
        self._fleet_running = fleet_fingerprint(self.config.fleet)

    async def _fleet_task(self) -> None:
        cfg = self.config.fleet
        if cfg is None or self._fleet_ledger is None:
            return
        self._fleet_job = asyncio.current_task()
        try:
            from journalban.fleet.service import FleetService
            from journalban.fleet.tasks import run_until_one_fails
        except ImportError as exc:
            log.error("fleet %s is configured but nats-py is missing (install journalban[fleet]):"
                      " %s; bans are kept in the outbox", cfg.name, exc)  # fmt: skip
            return
        own = [str(own) for own, _ in await asyncio.to_thread(host_interfaces)]
        self.fleet = service = FleetService(cfg, self, self._fleet_ledger, self.clock, own)
        unsubscribe = self.subscribe(service)
        try:
            await run_until_one_fails([service.run()])  # stops however a reply met its cancellation
        finally:
            unsubscribe()

    async def _fleet_reload(self) -> None:
        """After a reload: join, leave or rejoin the fleet as the new ``fleet:`` says.

        A changed section (or a changed password, credentials or TLS file it
        names) stops the fleet task and starts it again: a new connection and
        subscription, from the position committed. Fleet bans held stay (until
        they expire, or their message leaves the stream), but for those of the
        all-ports jail once ``remote_all_ports`` is off (its rules are gone);
        the outbox stays.
        """
        new = None if self.dry_run else self.config.fleet
        if fleet_fingerprint(new) == self._fleet_running:
            return
        job, self._fleet_job = self._fleet_job, None
        if job is not None and not job.done():
            job.cancel()
            await asyncio.wait([job])

        async def swap() -> None:  # in the decisions task: after every queued commit
            old = self._fleet_ledger
            if old is not None:
                self.store.writers.remove(old)
                old.close()
            self._fleet_ledger, self.fleet, self._fleet_running = None, None, None
            if new is not None:
                self._fleet_prepare()
            if new is None or not new.remote_all_ports:  # its rules went with the reload
                gone = [b for (jail, _), b in self.decisions.bans.items() if jail == FLEET_JAIL]
                if gone:
                    await self._apply(self.decisions._lift(gone, "flush"))

        await self._call(swap)
        if new is None:
            log.info("fleet: left (no fleet: section any longer); its bans stay until they expire")
        elif self._group is not None:
            log.info("fleet %s: configuration changed, joining again as %s", new.name, new.host)
            self._group.create_task(self._fleet_task())

    async def apply_remote(
        self, orders: Sequence[RemoteOrder], stream: str, seq: int
    ) -> RemoteOutcome:
        from journalban.decisions.remote import decide_remote

        cfg = self.config.fleet
        all_ports = FLEET_JAIL if cfg is not None and cfg.remote_all_ports else None

        async def do() -> RemoteOutcome:
            changes, outcome = decide_remote(
                self.decisions, orders, stream, seq,
                all_ports_jail=all_ports, check_prefix=self._check_prefix,
            )  # fmt: skip
            if self._fleet_ledger is not None:
                self._fleet_ledger.stage_held(outcome.held)  # written by this commit
            await self._apply(changes)
            return outcome

        result: RemoteOutcome = await self._call(do)
        return result

    async def committed_position(self, stream: str) -> int:
        async def do() -> int:
            ledger = self._fleet_ledger
            return 0 if ledger is None else ledger.position()

        result: int = await self._call(do)
        return result

    async def lift_unheld(self, stream: str, below: int) -> int:
        from journalban.decisions.remote import FLEET_POSITION, lift_unheld

        async def do() -> int:
            ledger = self._fleet_ledger
            if ledger is None:
                return 0
            rows = await asyncio.to_thread(ledger.held_below, below)
            if not rows:
                return 0
            changes = lift_unheld(self.decisions, [(j, parse_network(n)) for j, n in rows])
            ledger.stage_forget(rows)  # those that were no fleet ban any longer too
            changes.commits.append(BatchCommit(jail=FLEET_POSITION))
            await self._apply(changes)
            return len(changes.unbans)

        lifted: int = await self._call(do)
        return lifted

    async def forget_held(self, stream: str) -> None:
        from journalban.decisions.remote import FLEET_POSITION

        async def do() -> None:
            if self._fleet_ledger is not None:
                self._fleet_ledger.stage_reset_held()
                await self._apply(Changes(commits=[BatchCommit(jail=FLEET_POSITION)]))

        await self._call(do)

    async def unban_fleet(self, network: IPNetwork, jail: str | None = None) -> int:
        """Lift ``network`` here and publish the unban to every host; how many lifted here.

        Raises:
            FleetUnavailable: no fleet is configured.
        """
        ledger = self._fleet_ledger
        if ledger is None:
            raise FleetUnavailable("no fleet is configured on this host")
        from journalban.decisions.remote import FLEET_POSITION

        async def do() -> int:
            try:
                changes = self.decisions.unban(network, jail, "fleet")
            except NotBanned:
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


def fleet_fingerprint(cfg: FleetConfig | None) -> tuple[object, ...] | None:
    """The section and the state of the files it names (a new password takes a reconnect)."""
    if cfg is None:
        return None
    files: list[object] = []
    for name in (cfg.password_file, cfg.credentials, *(
        (cfg.tls.ca, cfg.tls.cert, cfg.tls.key) if cfg.tls is not None else ()
    )):  # fmt: skip
        if name:
            try:
                st = os.stat(name)
                files.append((name, st.st_mtime_ns, st.st_size, st.st_ino))
            except OSError:
                files.append((name, None))
    return (cfg, *files)
