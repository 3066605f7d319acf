"""The agent's side of the enforcement points (``journalban.enforce``).

The points run as one task beside the others, fed with bans through the
listener interface every controller uses; failures a policy service reports
come back through ``feed``, queued to the decisions task like a source's
batches. A dry run starts none of them: a refused client is a ban enforced.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import asyncio

    from journalban.clock import Clock
    from journalban.config.schema import Config
    from journalban.events import LineBatch

log = logging.getLogger("journalban.agent")


class AgentEnforcement:
    """The enforcement task of ``Agent``."""

    config: Config
    clock: Clock
    dry_run: bool

    if TYPE_CHECKING:  # provided by Agent

        async def feed(self, jail: str, batch: LineBatch) -> None: ...
        def serving(self, started: asyncio.Event) -> None: ...

    async def _enforce_task(self) -> None:
        cfg = self.config.enforcement
        if not cfg.points:
            return
        if self.dry_run:
            log.warning("a dry run starts no enforcement point (%s): refusing a client is "
                        "enforcing a ban", ", ".join(cfg.points))  # fmt: skip
            return
        from journalban.enforce.service import EnforcementService

        service = EnforcementService(cfg, self.clock, self.feed)
        self.serving(service.started)  # READY once the points listen (agent.readiness)
        await service.run(self, lambda: self.config.enforcement)  # type: ignore[arg-type]
