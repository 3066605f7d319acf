"""What the detectors know, read-only, for the edges (policy services, the bus).

The policy services (issue 18) ask "is account A under attack, and is
network N known-good for A" before a daemon even checks a password; the
bus lists known-good pairs and accounts under attack for managers. They read
through ``DetectionView`` and never reach into the decisions stage; changes
(forgetting pairs, ending an attack) go through the agent's decisions task.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Protocol

from journalban.clock import Clock
from journalban.decisions.runtime import JailRuntime


class DetectionView(Protocol):
    def account_under_attack(self, jail: str, account: str) -> float | None:
        """The end of the account's attack state in ``jail``, or None when it is not attacked."""
        ...

    def known_good(self, jail: str, account: str, address: str) -> bool:
        """Whether ``account`` logged in from the network ``address`` is counted in."""
        ...

    def known_good_pairs(self, jail: str) -> list[tuple[str, str, float]]:
        """(account, network, last login) of a jail's known-good pairs."""
        ...

    def accounts_under_attack(self, jail: str) -> list[tuple[str, float, float]]:
        """(account, since, until) of a jail's accounts under attack now."""
        ...


class EngineDetectionView:
    """``DetectionView`` over the decisions stage's jails (read, never written)."""

    def __init__(self, jails: Callable[[], Mapping[str, JailRuntime]], clock: Clock) -> None:
        """``jails``: the engine's jails, asked at each call (a reload replaces them)."""
        self._jails_now = jails
        self._clock = clock

    @property
    def _jails(self) -> Mapping[str, JailRuntime]:
        return self._jails_now()

    def account_under_attack(self, jail: str, account: str) -> float | None:
        rt = self._jails.get(jail)
        if rt is None or rt.detection is None or rt.detection.account is None:
            return None
        return rt.detection.account.attacked_until(account, self._clock.now())

    def known_good(self, jail: str, account: str, address: str) -> bool:
        rt = self._jails.get(jail)
        if rt is None or rt.detection is None or rt.detection.known_good is None:
            return False
        known = rt.network_of(address)
        if known is None:
            return False
        return rt.detection.known_good.holds(account, known[0], self._clock.now())

    def known_good_pairs(self, jail: str) -> list[tuple[str, str, float]]:
        rt = self._jails.get(jail)
        if rt is None or rt.detection is None or rt.detection.known_good is None:
            return []
        return rt.detection.known_good.listing()

    def accounts_under_attack(self, jail: str) -> list[tuple[str, float, float]]:
        rt = self._jails.get(jail)
        if rt is None or rt.detection is None or rt.detection.account is None:
            return []
        return rt.detection.account.under_attack(self._clock.now())
