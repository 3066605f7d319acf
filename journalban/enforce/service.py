"""The enforcement points as one service, fed with the agent's bans like a firewall.

``EnforcementService`` is an ``AgentListener``: it takes the active bans once
at start, then each ban and unban as the decisions stage commits them, into
one ``BanTable`` the policy services answer from and into the deny-file
backends. It never reaches into the decisions stage; failures that a policy
service reports (Dovecot's) go back through ``FailureSink``, the way every
source's batches go.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, Protocol

from journalban.clock import Clock
from journalban.config.enforcement import EnforcementConfig
from journalban.enforce.bantable import BanTable
from journalban.enforce.reports import FailureSink
from journalban.events import Ban
from journalban.firewall.base import BanEntry

if TYPE_CHECKING:
    from journalban.decisions.detectionview import DetectionView
    from journalban.enforce.webfeed import WebDenyFeeder

log = logging.getLogger("journalban.enforce")


class BanFeed(Protocol):
    """What the service needs of the agent (``journalban.agent.api.AgentControl``)."""

    def list_bans(self, jail: str | None = None) -> list[Ban]: ...

    def subscribe(self, listener: Any) -> Callable[[], None]: ...


class Point(Protocol):
    """One running enforcement point."""

    async def start(self) -> None: ...

    async def close(self) -> None: ...


def entry(ban: Ban) -> BanEntry:
    return BanEntry(ban.jail, ban.network, ban.expires_at)


class EnforcementService:
    """Runs the configured points; ``run`` until cancelled."""

    def __init__(self, config: EnforcementConfig, clock: Clock, sink: FailureSink) -> None:
        self.config, self.clock, self.sink = config, clock, sink
        self.table = BanTable()
        self.points: dict[str, Point] = {}
        self.web: list[WebDenyFeeder] = []
        self._feed: BanFeed | None = None
        self._configured: Callable[[], EnforcementConfig] | None = None
        self.started = asyncio.Event()

    def _build(self) -> None:
        postfix = self.config.postfix
        if postfix is not None:
            from journalban.enforce.postfix import PostfixPolicyServer

            self.points["postfix"] = PostfixPolicyServer(postfix, self.table, self.clock.now)
        dovecot = self.config.dovecot
        if dovecot is not None:
            from journalban.enforce.dovecot import DovecotPolicyServer

            self.points["dovecot"] = DovecotPolicyServer(
                dovecot, self.table, self.clock.now, self.sink
            )
        pam = self.config.pam
        if pam is not None:
            from journalban.enforce.pam import PamPolicyServer

            self.points["pam"] = PamPolicyServer(pam, self.table, self.clock.now, self._view)
        for web in self.config.web:
            from journalban.enforce.webfeed import WebDenyFeeder

            feeder = WebDenyFeeder(web, self.clock)
            self.web.append(feeder)
            self.points[web.kind] = feeder

    async def run(
        self, feed: BanFeed, configured: Callable[[], EnforcementConfig] | None = None
    ) -> None:
        """Start every point (one that cannot start is logged and left off), then serve.

        ``configured`` gives the configuration after a reload: the points keep
        theirs (a changed listen address or secret takes a restart), and say so.
        """
        self._build()
        self._feed, self._configured = feed, configured
        self._load(feed.list_bans())
        unsubscribe = feed.subscribe(self)
        started: list[Point] = []
        try:
            for name, point in self.points.items():
                try:
                    await point.start()
                except (OSError, ValueError) as exc:
                    log.error("enforcement point %s cannot start: %s; it stays off", name, exc)
                    continue
                started.append(point)
                log.info("enforcement point %s started", name)
            self.started.set()
            await asyncio.Event().wait()
        finally:
            unsubscribe()
            for point in started:
                with contextlib.suppress(Exception):
                    await point.close()

    def _view(self) -> DetectionView | None:
        """The detectors' read-only view (the agent's; None before ``run``)."""
        return getattr(self._feed, "detection_view", None)

    def _load(self, bans: Sequence[Ban]) -> None:
        entries = [entry(b) for b in bans]
        self.table.replace(entries)
        for feeder in self.web:
            feeder.replace(entries)

    # --- AgentListener ---------------------------------------------------------

    def banned(self, ban: Ban) -> None:
        self.table.apply([entry(ban)], ())
        for feeder in self.web:
            feeder.change([entry(ban)], ())

    def banned_all(self, bans: Sequence[Ban]) -> None:
        """A run of bans: the table and each feeder changed once."""
        entries = [entry(b) for b in bans]
        self.table.apply(entries, ())
        for feeder in self.web:
            feeder.change(entries, ())

    def unbanned(self, ban: Ban, reason: str) -> None:
        self.table.apply((), [entry(ban)])
        for feeder in self.web:
            feeder.change((), [entry(ban)])

    def reloaded(self) -> None:
        if self._feed is not None:
            self._load(self._feed.list_bans())
        if self._configured is not None and self._configured() != self.config:
            log.warning("enforcement: changed; the points keep their settings until a restart "
                        "(systemctl restart journalban)")  # fmt: skip

    def status_changed(self, jails: Sequence[str]) -> None:
        pass
