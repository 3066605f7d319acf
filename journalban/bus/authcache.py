"""polkit's yes to read-only calls, kept per caller connection for a few seconds.

A console or a script that reads the state sends bursts of calls: the
Cockpit page reads GetStatus, GetBans and every jail's properties at once,
and a client polling 100,000 bans fires many reads together. Asking polkitd
for each one queues them all behind its answers (a burst of 90 reads took a
quarter of a second idle, over a second while a journal stream was read),
although the answer for the same connection and action is the same.

So, for the actions in ``CACHED_ACTIONS`` only (``org.jailban.info``, the
read-only one; never a ban, an unban or a manage action):

- checks of one (connection, action) that are in flight together share one
  CheckAuthorization;
- a yes given without a challenge is kept for ``TTL`` seconds for that
  connection (a bus's unique names are never reused, and a connection's
  credentials cannot change);
- everything is forgotten when polkit says its rules or authorizations
  changed (its ``Changed`` signal) or polkitd leaves or returns on the bus.

A no or a challenge is never kept: the next call asks again. The time limit
bounds what rules that depend on something polkit does not signal (a session
turning inactive) can miss.

A kept yes used in its last ``RENEW`` seconds is asked for again in the
background (``use``), the calls meanwhile answered on the yes still held: a
client reading every half second otherwise had one burst in ten wait for
polkitd when its yes ran out (5% of the reads under the 1M-line stream, at
50-150 ms each). The answer a call proceeds on is still never older than
``TTL``; a no from the renewal drops the yes at once.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from typing import Final

from journalban.bus import contract

_log = logging.getLogger(__name__)

CACHED_ACTIONS: Final = frozenset({contract.ACTION_INFO})
TTL: Final = 5.0
RENEW: Final = 1.5  # seconds before a kept yes runs out from which a use of it renews it
MAX_ENTRIES: Final = 4096

Check = tuple[bool, bool]  # (authorized, challenge), as polkit answers


class AuthorizationCache:
    """Recent yes-answers and checks in flight, per (bus name, action)."""

    def __init__(
        self,
        ttl: float = TTL,
        max_entries: int = MAX_ENTRIES,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._ttl = ttl
        self._max = max_entries
        self._clock = clock
        self._yes: OrderedDict[tuple[str, str], float] = OrderedDict()  # -> valid until
        self._pending: dict[tuple[str, str], asyncio.Future[Check]] = {}
        self._epoch = 0  # moves with every clear(): answers asked before it are not kept
        self._renewals: dict[tuple[str, str], asyncio.Task[None]] = {}  # in flight

    def disable(self) -> None:
        """Keep nothing from now on (the changes of polkit cannot be followed)."""
        self.clear()
        self._ttl = 0.0

    def allowed(self, sender: str, action: str) -> bool:
        """Whether a yes for ``sender`` and ``action`` is still held."""
        until = self._yes.get((sender, action))
        if until is None:
            return False
        if self._clock() < until:
            return True
        del self._yes[(sender, action)]
        return False

    def use(self, sender: str, action: str, ask: Callable[[], Awaitable[Check]]) -> bool:
        """Whether a yes is held; near its end, renew it through ``ask`` in the background."""
        if not self.allowed(sender, action):
            return False
        key = (sender, action)
        if self._yes[key] - self._clock() < RENEW and key not in self._renewals:
            task = asyncio.get_running_loop().create_task(self._renew(key, ask))
            self._renewals[key] = task
            task.add_done_callback(lambda _: self._renewals.pop(key, None))
        return True

    async def _renew(self, key: tuple[str, str], ask: Callable[[], Awaitable[Check]]) -> None:
        try:
            await self._ask_and_keep(key, ask)
        except Exception as exc:  # the yes held runs out as it would have; the next call asks
            _log.debug("renewing polkit's answer for %s failed: %r", key, exc)

    async def check(self, sender: str, action: str, ask: Callable[[], Awaitable[Check]]) -> Check:
        """polkit's answer for ``sender`` and ``action``, asking it through ``ask`` if needed.

        Only actions in ``CACHED_ACTIONS`` are shared or kept; others are asked every time.
        """
        if action not in CACHED_ACTIONS:
            return await ask()
        if self.use(sender, action, ask):
            return True, False
        key = (sender, action)
        pending = self._pending.get(key)
        if pending is not None:
            try:
                return await asyncio.shield(pending)
            except _Abandoned:  # the caller that asked went away before the answer
                return await ask()
        return await self._ask_and_keep(key, ask)

    async def _ask_and_keep(
        self, key: tuple[str, str], ask: Callable[[], Awaitable[Check]]
    ) -> Check:
        future: asyncio.Future[Check] = asyncio.get_running_loop().create_future()
        self._pending[key] = future
        epoch, asked = self._epoch, self._clock()
        try:
            answer = await ask()
        except BaseException as exc:
            if not future.done():
                future.set_exception(exc if isinstance(exc, Exception) else _Abandoned())
                future.exception()  # retrieved: nobody else may be waiting for it
            raise
        finally:
            if self._pending.get(key) is future:
                del self._pending[key]
        future.set_result(answer)
        authorized, challenge = answer
        if authorized and not challenge and epoch == self._epoch and self._ttl > 0:
            self._keep(key, asked)
        elif not authorized or challenge:
            self._yes.pop(key, None)  # a renewal heard no: the yes held goes now
        return answer

    def _keep(self, key: tuple[str, str], asked: float) -> None:
        self._yes[key] = asked + self._ttl  # from the question: never used older than TTL
        self._yes.move_to_end(key)
        while len(self._yes) > self._max:
            self._yes.popitem(last=False)

    def clear(self) -> None:
        """Forget every answer (polkit's rules or authorizations changed)."""
        self._yes.clear()
        self._pending.clear()  # checks in flight finish for their own callers only
        self._epoch += 1


class _Abandoned(Exception):
    """The check that others waited for was cancelled: they ask for themselves."""
