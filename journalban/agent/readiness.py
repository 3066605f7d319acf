"""When the agent tells systemd READY: once the parts others reach it by are serving.

``systemctl start journalban`` returns at READY=1, and whatever runs next (a
script's ``journalban status``, a unit ordered after it, Postfix asking its
policy service) reaches the agent through ``org.jailban`` on the system bus or
an enforcement point's socket. Told before those served, it found "journalban
is not running" or a refused connection. The bus service and the enforcement
service each hand in an event set once they serve or their first attempt
failed (logged by them: the agent then runs without that part and keeps
trying); READY waits for those, ``READY_WAIT`` seconds at most. The sources
read meanwhile: waiting delays the announcement, never the work.

Without such parts (``bus: false``, no enforcement point, or a dry run's) READY
is told where it always was, once the firewall holds every ban: before the
agent's own table of them is built (0.4 s for 100,000 bans). With them READY
waits for that table too, as the D-Bus API answers from it: it is then built
while the kernel takes the bans (each in a thread of its own), and the bus
service, started before the restore, connects meanwhile and exports its objects
and owns ``org.jailban`` only once the table is built (``_table_built``). A
``journalban status`` or GetBans sent at READY sees every ban; one sent before
finds no ``org.jailban``, never a table half built.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Coroutine
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from journalban.agent.notify import Notifier
    from journalban.config.schema import Config

log = logging.getLogger("journalban.agent")

# At most this long after the "running" line; then READY regardless (systemd's
# start timeout is 90 s by default, and a bus that hangs must not fail the unit).
READY_WAIT = 5.0


class AgentReadiness:
    """READY=1 of ``Agent``, after its serving parts (``serving``) have started."""

    notifier: Notifier
    config: Config
    dry_run: bool
    _serving: list[asyncio.Event]
    _table_built: asyncio.Event
    _told: asyncio.Event

    def _serves(self, bus: bool | None) -> bool:
        """Whether this configuration has a part READY waits for (``bus``: the agent's
        override of ``config.bus``, None: none)."""
        if bus if bus is not None else self.config.bus:
            return True
        return bool(self.config.enforcement.points) and not self.dry_run

    def _bus_ahead(self, bus: bool | None) -> asyncio.Task[None] | None:
        """The D-Bus service's task, when the bus is wanted (``bus``: the agent's override
        of ``config.bus``), started before the restore: it connects while the kernel
        takes the bans and the ban table is built, and exports and owns ``org.jailban``
        once ``_table_built`` is set."""
        if not (bus if bus is not None else self.config.bus):
            return None
        return asyncio.create_task(self._bus_task())

    async def _bus_task(self) -> None:
        try:
            from journalban.bus.service import BusService
        except ImportError as exc:  # pragma: no cover
            log.warning("D-Bus control unavailable: %s", exc)
            return
        service = BusService(self, table_built=self._table_built)  # type: ignore[arg-type]
        self.serving(service.tried)  # READY once org.jailban is ours, or could not be
        await service.run()

    def serving(self, started: asyncio.Event) -> None:
        """Hold READY until ``started`` is set (or ``READY_WAIT`` has passed)."""
        self._serving.append(started)

    async def _tell_ready(self, status: str) -> None:
        await asyncio.sleep(0)  # the serving parts' tasks, created before, hand theirs in
        waits = [asyncio.create_task(event.wait()) for event in self._serving]
        if waits:
            _, pending = await asyncio.wait(waits, timeout=READY_WAIT)
            for task in pending:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
            if pending:
                log.warning("READY told to systemd after %.0f s, before all of the D-Bus "
                            "API and the enforcement points served", READY_WAIT)  # fmt: skip
        self.notifier.ready(status)
        self._told.set()

    async def _after_ready(self, work: Coroutine[Any, Any, None]) -> None:
        """``work`` once READY is told: the restore's records (100,000 of them, 250 a turn of
        the event loop) took turns from the bus service's export and name before it."""
        try:
            await self._told.wait()
        except asyncio.CancelledError:
            work.close()
            raise
        await work


async def joined(task: asyncio.Task[None]) -> None:
    """Wait for ``task``, started before (a task group's own task for it: cancelled, it
    cancels ``task``)."""
    try:
        await asyncio.shield(task)
    except asyncio.CancelledError:
        await stopped(task)
        raise


async def stopped(task: asyncio.Task[None] | None) -> None:
    """Cancel ``task`` and wait for its end (the start failed: nothing is left running)."""
    if task is None or task.done():
        return
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task
