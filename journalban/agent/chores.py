"""The agent's background chores: expiry, pruning, host names, firewall integrity, watchdog."""

from __future__ import annotations

import asyncio
import functools
import logging
from collections.abc import Awaitable, Callable, Sequence
from typing import TYPE_CHECKING, Any

from journalban.agent.housekeeping import (
    ignore_names,
    prune_state,
    refresh_ignore_lists,
    resolve_names,
)
from journalban.errors import BackendError
from journalban.state.checkpoint import INTERVAL as CHECKPOINT_INTERVAL
from journalban.state.checkpoint import Checkpointer

if TYPE_CHECKING:
    from journalban.actions.runner import ActionRunner
    from journalban.agent.build import JailParts
    from journalban.agent.notify import Notifier
    from journalban.clock import Clock
    from journalban.decisions.engine import Changes, DecisionEngine
    from journalban.events import Ban
    from journalban.firewall.base import FirewallBackend, JailRules

log = logging.getLogger("journalban.agent")
EXPIRY_INTERVAL = 1.0
INTEGRITY_INTERVAL = 2.0
PRUNE_EVERY = 60  # expiry ticks
RESOLVE_INTERVAL = 600.0


class AgentChores:
    """Periodic tasks of ``Agent``; each change goes through the decisions task."""

    decisions: DecisionEngine
    backend: FirewallBackend
    clock: Clock
    parts: dict[str, JailParts]
    runner: ActionRunner
    notifier: Notifier
    _state: str
    degraded_reason: str

    if TYPE_CHECKING:  # provided by Agent

        async def _call(self, fn: Callable[[], Awaitable[Any]]) -> Any: ...
        async def _apply(self, changes: Changes) -> None: ...
        async def _restore(self, bans: Sequence[Ban]) -> None: ...
        def _all_rules(self) -> list[JailRules]: ...

    async def _checkpoint_loop(self, checkpointer: Checkpointer) -> None:
        """The state's WAL checkpoints, beside the commits rather than inside one."""
        running: asyncio.Future[tuple[int, int]] | None = None
        try:
            while True:
                await asyncio.sleep(CHECKPOINT_INTERVAL)
                running = asyncio.ensure_future(asyncio.to_thread(checkpointer.checkpoint))
                await asyncio.shield(running)
        finally:
            # Waits for a checkpoint still running in its thread: cancelling
            # ``running`` (as asyncio.run does at its end) does not stop that thread.
            checkpointer.close()

    async def _expiry_loop(self) -> None:
        ticks = 0
        while True:
            await asyncio.sleep(EXPIRY_INTERVAL)
            await self._call(self._expire_once)
            ticks += 1
            if ticks % PRUNE_EVERY == 0:
                await self._call(self._prune_once)

    async def _prune_once(self) -> None:
        await asyncio.to_thread(prune_state, self.decisions, self.clock.now())

    async def _resolve_loop(self) -> None:
        while True:
            names = ignore_names(self.decisions)
            if names:
                found = await resolve_names(names)
                await self._call(functools.partial(self._refresh_names, found))
            await asyncio.sleep(RESOLVE_INTERVAL)

    async def _refresh_names(self, found: dict[str, list[str]]) -> None:
        refresh_ignore_lists(self.decisions, found, self.clock.now())

    async def _expire_once(self) -> None:
        await self._apply(self.decisions.expire())
        now = self.clock.now()
        for name, part in self.parts.items():
            if part.actions.actions:
                self.runner.flush_due(name, part.actions.actions, now)

    async def _integrity_loop(self) -> None:
        while True:
            await asyncio.sleep(INTEGRITY_INTERVAL)
            intact = await asyncio.to_thread(self.backend.intact)
            if intact and not self._firewall_degraded():
                continue
            await self._call(functools.partial(self._recreate, intact))

    def _firewall_degraded(self) -> bool:
        """Degraded by the firewall (a refused batch), not by a source that failed: a
        source is restarted by its own task and the firewall has nothing to redo."""
        return self._state == "degraded" and not self.degraded_reason.startswith("source ")

    async def _recreate(self, intact: bool) -> None:
        if intact:
            log.warning("the firewall refused a batch before: setting up its table and bans again")
        else:
            log.warning("the firewall lost journalban's table or sets; re-creating them")
        try:
            await asyncio.to_thread(self.backend.setup, self._all_rules())
            await self._restore(self.decisions.list_bans())
            if self._firewall_degraded():
                self._state = "running"
        except BackendError as exc:
            log.error("cannot re-create the firewall set-up: %s", exc)

    async def _watchdog_loop(self, interval: float) -> None:
        while True:
            self.notifier.watchdog()
            await asyncio.sleep(interval)
