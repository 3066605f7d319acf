"""Reload of ``Agent``: read the configuration again and swap it in, or keep the old one."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from journalban.agent.build import check_jail_actions
from journalban.agent.logs import jails_phrase
from journalban.config.loader import load_config
from journalban.config.schema import FLEET_JAIL, Config, JailConfig
from journalban.config.yamlsource import forget_yaml
from journalban.decisions.engine import RECIDIVE
from journalban.decisions.ignore import host_interfaces
from journalban.errors import ConfigError, JournalbanError, all_errors
from journalban.matching.filterdef import FilterDef
from journalban.matching.literals import forget_parses

if TYPE_CHECKING:
    from journalban.addresses import IPNetwork
    from journalban.agent.api import AgentListener
    from journalban.agent.build import JailParts
    from journalban.agent.logs import EventLog
    from journalban.agent.notify import Notifier
    from journalban.clock import Clock
    from journalban.decisions.engine import Changes, DecisionEngine
    from journalban.firewall.base import FirewallBackend
    from journalban.matching.library import FilterLibrary

log = logging.getLogger("journalban.agent")


class AgentReloading:
    """``reload()`` of ``Agent``: a broken configuration changes nothing."""

    config: Config
    config_path: Path | None
    library: FilterLibrary
    decisions: DecisionEngine
    backend: FirewallBackend
    clock: Clock
    parts: dict[str, JailParts]
    notifier: Notifier
    events: EventLog
    _state: str
    _listeners: list[AgentListener]

    if TYPE_CHECKING:  # provided by Agent

        async def _call(self, fn: Callable[[], Awaitable[Any]]) -> Any: ...
        async def _apply(self, changes: Changes, *, defer: bool = False) -> None: ...
        async def _fleet_reload(self) -> None: ...
        def _install(
            self, config: Config, interfaces: Sequence[tuple[IPNetwork, IPNetwork]]
        ) -> None: ...
        def _stop_sources(self, names: Sequence[str]) -> None: ...
        def _start_sources(self) -> None: ...
        def _all_rules(self) -> list[Any]: ...
        def _status_line(self, bans: int | None = None) -> str: ...

    async def _reload_logged(self) -> None:
        with contextlib.suppress(JournalbanError):  # reload() logged it
            await self.reload()

    async def reload(self) -> None:
        """Read the configuration again and swap it in; a broken one changes nothing.

        A failure is logged here, whoever asked (SIGHUP, D-Bus).

        Raises:
            ConfigError: the new configuration is invalid (the old one keeps running).
        """
        try:
            await self._reload()
            self.events.command("reload", "", self.clock.now())
        except ConfigError as exc:
            for error in all_errors(exc):
                log.error("reload failed, keeping the running configuration: %s", error)
            raise
        except JournalbanError as exc:
            log.error("reload failed, keeping the running configuration: %s", exc)
            raise

    async def _reload(self) -> None:
        self.notifier.reloading()
        previous = self._state
        self._state = "reloading"
        try:
            config = await asyncio.to_thread(
                load_config,
                self.config_path,
                check_filter=self.library.check,
                check_actions=check_jail_actions,
            )
            await self._call(lambda: self._swap(config))
            await self._fleet_reload()
        finally:
            forget_yaml(1)  # (PyYAML's Python parser in journalban run: freed)
            self._state = previous if previous != "reloading" else "running"
            self.notifier.ready(self._status_line())
        for listener in list(self._listeners):
            listener.reloaded()

    async def _swap(self, config: Config) -> None:
        # A jail's reader children match with the filter they loaded: an edited
        # filter file restarts them too (from the committed position).
        def read_with(name: str) -> tuple[JailConfig, FilterDef] | None:
            part = self.parts.get(name)
            return None if part is None else (part.config, part.compiled.fdef)

        old = {n: read_with(n) for n in self.parts}
        if config.firewall.backend != self.config.firewall.backend:
            # Above all from dry-run to a real one: no ban would reach the firewall.
            log.warning("firewall.backend changed from %s to %s: it takes a restart "
                        "(systemctl restart journalban); until then the agent goes on with %s",
                        self.config.firewall.backend, config.firewall.backend, self.backend.name)  # fmt: skip
        self._install(config, await asyncio.to_thread(host_interfaces))
        changed = [n for n in old if read_with(n) != old[n]]
        self._stop_sources(changed)
        await asyncio.to_thread(self.backend.setup, self._all_rules())
        # The fleet's all-ports jail is the fleet link's (it lifts those bans
        # itself when the reload drops its rules); recidive's bans go with it.
        kept = {FLEET_JAIL} | ({RECIDIVE} if self.config.recidive.enabled else set())
        gone = [b for b in self.decisions.list_bans() if b.jail not in self.parts.keys() | kept]
        if gone:
            await self._apply(self.decisions._lift(gone, "flush"))
        self._start_sources()
        forget_parses()
        log.info(
            "configuration reloaded: %s", jails_phrase(self.parts, self.config.recidive.enabled)
        )
