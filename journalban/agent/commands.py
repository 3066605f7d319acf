"""What controllers change: bans and unbans by hand, through the decisions task."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from journalban.addresses import IPNetwork, format_network
from journalban.events import Ban

if TYPE_CHECKING:
    from journalban.agent.logs import EventLog
    from journalban.clock import Clock
    from journalban.config.schema import Config
    from journalban.decisions.engine import Changes, DecisionEngine


class AgentCommands:
    """Ban, Unban and UnbanAll of ``Agent``."""

    decisions: DecisionEngine
    config: Config
    events: EventLog
    clock: Clock

    if TYPE_CHECKING:  # provided by Agent

        async def _call(self, fn: Callable[[], Awaitable[Any]]) -> Any: ...
        async def _apply(self, changes: Changes) -> None: ...

    def _check_prefix(self, network: IPNetwork) -> None:
        from journalban.firewall.nftables.prefixes import check_prefix

        fw = self.config.firewall
        check_prefix(network, fw.min_prefix_v4, fw.min_prefix_v6)

    async def ban(
        self,
        jail: str,
        network: IPNetwork,
        duration: float | None = None,
        *,
        permanent: bool = False,
        comment: str = "",
        force: bool = False,
    ) -> Ban:
        async def do() -> Ban:
            ban, changes = self.decisions.manual_ban(
                jail, network, duration, permanent=permanent, comment=comment, force=force
            )
            await self._apply(changes)
            return ban

        result: Ban = await self._call(do)
        self.events.command("ban", f"{format_network(network)} in {jail}", self.clock.now())
        return result

    async def unban(
        self, network: IPNetwork, jail: str | None = None, reason: str = "manual"
    ) -> int:
        async def do() -> int:
            changes = self.decisions.unban(network, jail, reason)
            await self._apply(changes)
            return len(changes.unbans)

        result: int = await self._call(do)
        where = f" in {jail}" if jail else ""
        self.events.command("unban", f"{format_network(network)}{where}", self.clock.now())
        return result

    async def unban_all(self, jail: str | None = None) -> int:
        async def do() -> int:
            changes = self.decisions.unban_all(jail)
            await self._apply(changes)
            return len(changes.unbans)

        result: int = await self._call(do)
        self.events.command("unban_all", jail or "every jail", self.clock.now())
        return result
