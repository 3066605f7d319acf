"""Known-good pairs and accounts under attack, for managers: read and reset.

Reading goes through ``DetectionView``; a change (forgetting pairs, ending
an attack) runs in the decisions task and is committed like a batch's: the
detector rows it changed, in one transaction.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from journalban.decisions.detectionview import DetectionView, EngineDetectionView
from journalban.errors import NoSuchJail
from journalban.state.store import BatchCommit

if TYPE_CHECKING:
    from journalban.decisions.engine import Changes, DecisionEngine
    from journalban.decisions.runtime import JailRuntime


class AgentDetection:
    """``detection_view``, ``forget_known_good`` and ``end_account_attack`` of ``Agent``."""

    decisions: DecisionEngine

    if TYPE_CHECKING:  # provided by Agent

        async def _call(self, fn: Callable[[], Awaitable[Any]]) -> Any: ...
        async def _apply(self, changes: Changes) -> None: ...

    @property
    def detection_view(self) -> DetectionView:
        return EngineDetectionView(lambda: self.decisions.jails, self.decisions.clock)

    def _detection_runtimes(self, jail: str | None) -> list[JailRuntime]:
        jails = self.decisions.jails
        if jail is not None and jail not in jails:
            raise NoSuchJail(jail)
        return [jails[jail]] if jail is not None else list(jails.values())

    async def forget_known_good(self, jail: str | None, what: str) -> int:
        """Forget the pairs of an account, or of an address or network (as the jail counts it)."""
        runtimes = self._detection_runtimes(jail)

        async def do() -> int:
            forgotten = 0
            commits: list[BatchCommit] = []
            for rt in runtimes:
                detection = rt.detection
                if detection is None or detection.known_good is None:
                    continue
                network = _network_key(rt, what)
                if network is not None:
                    n = detection.known_good.forget(network=network)
                else:
                    n = detection.known_good.forget(account=what)
                if n:
                    forgotten += n
                    commits.append(BatchCommit(rt.config.name, detector_rows=detection.rows()))
            await self._commit_rows(commits)
            return forgotten

        result: int = await self._call(do)
        return result

    async def end_account_attack(self, jail: str | None, account: str) -> int:
        """End an account's attack state; in how many jails it was under attack."""
        runtimes = self._detection_runtimes(jail)

        async def do() -> int:
            ended = 0
            commits: list[BatchCommit] = []
            for rt in runtimes:
                detection = rt.detection
                if detection is None or detection.account is None:
                    continue
                if detection.account.end(account):
                    ended += 1
                commits.append(BatchCommit(rt.config.name, detector_rows=detection.rows()))
            await self._commit_rows(commits)
            return ended

        result: int = await self._call(do)
        return result

    async def _commit_rows(self, commits: list[BatchCommit]) -> None:
        from journalban.decisions.runtime import Changes

        if any(c.detector_rows for c in commits):
            await self._apply(Changes(commits=[c for c in commits if c.detector_rows]))


def _network_key(rt: JailRuntime, what: str) -> str | None:
    """The network text a jail counts ``what`` as, or None when it is no address or network."""
    known = rt.network_of(what)
    if known is not None:
        return known[0]
    try:
        return str(ipaddress.ip_network(what, strict=False))
    except ValueError:
        return None
