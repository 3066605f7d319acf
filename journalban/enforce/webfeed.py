"""Keeps a web server's deny file in step with the bans, and reloads it, batched.

Changes are gathered and written together; the reload command (the admin's
``reload:``, e.g. ``/usr/sbin/nginx -s reload``) runs at most once every
``reload_interval`` seconds, however many bans a flood brings: a batch that
comes sooner waits for the interval's end and goes with the others.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Iterable
from pathlib import Path

from journalban.clock import Clock
from journalban.config.enforcement import WebDenyPoint
from journalban.enforce.webdeny import WebDenyBackend
from journalban.errors import BackendError
from journalban.firewall.base import BanEntry, JailRules

log = logging.getLogger("journalban.enforce")
GATHER = 0.2  # seconds a change waits for the ones behind it
RELOAD_TIMEOUT = 30.0


class WebDenyFeeder:
    """One enforcement point: a ``WebDenyBackend`` fed with the bans of its jails."""

    def __init__(self, point: WebDenyPoint, clock: Clock) -> None:
        self.point, self.clock = point, clock
        self.jails = frozenset(point.jails)
        self.backend = WebDenyBackend(point.kind, Path(point.file))
        self.reloads = 0
        self.reload_errors = 0
        self._changes: dict[tuple[str, object], tuple[bool, BanEntry]] = {}
        self._wanted: list[BanEntry] | None = None
        self._dirty = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    def replace(self, entries: Iterable[BanEntry]) -> None:
        """Hold exactly these bans (of its jails) from the next write on."""
        self._wanted = [e for e in entries if e.jail in self.jails]
        self._changes.clear()
        self._dirty.set()

    def change(self, add: Iterable[BanEntry], remove: Iterable[BanEntry]) -> None:
        for entry in remove:
            if entry.jail in self.jails:
                self._changes[(entry.jail, entry.network)] = (False, entry)
        for entry in add:
            if entry.jail in self.jails:
                self._changes[(entry.jail, entry.network)] = (True, entry)
        if self._changes:
            self._dirty.set()

    async def start(self) -> None:
        """Raises: BackendError (as OSError's kin, logged by the service) when the file cannot be written."""
        try:
            await asyncio.to_thread(self.backend.setup, [JailRules(j) for j in self.point.jails])
        except BackendError as exc:
            raise OSError(str(exc)) from exc
        self._task = asyncio.create_task(self._run())

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        last_reload = -self.point.reload_interval
        while True:
            await self._dirty.wait()
            await asyncio.sleep(max(GATHER, last_reload + self.point.reload_interval - loop.time()))
            self._dirty.clear()
            wanted, self._wanted = self._wanted, None
            changes, self._changes = self._changes, {}
            add = [e for is_add, e in changes.values() if is_add]
            remove = [e for is_add, e in changes.values() if not is_add]
            now = self.clock.now()
            try:
                if wanted is not None:
                    await asyncio.to_thread(self.backend.reconcile, wanted, now)
                await asyncio.to_thread(self.backend.apply, add, remove, now)
            except BackendError as exc:
                log.error("%s: %s; retried with the next change", self.backend.name, exc)
                continue
            if self.point.reload:
                await self._reload()
                last_reload = loop.time()

    async def _reload(self) -> None:
        argv = self.point.reload
        self.reloads += 1
        try:
            proc = await asyncio.create_subprocess_exec(
                *argv,
                stdin=asyncio.subprocess.DEVNULL,
                stdout=asyncio.subprocess.DEVNULL,
                stderr=asyncio.subprocess.PIPE,
            )
            try:
                _, err = await asyncio.wait_for(proc.communicate(), RELOAD_TIMEOUT)
            except TimeoutError:
                proc.kill()
                await proc.wait()
                raise OSError(f"still running after {RELOAD_TIMEOUT:.0f}s; killed") from None
        except OSError as exc:
            self.reload_errors += 1
            log.error("%s reload (%s) failed: %s", self.backend.name, argv[0], exc)
            return
        if proc.returncode != 0:
            self.reload_errors += 1
            log.error("%s reload (%s) exited %s: %s", self.backend.name, argv[0], proc.returncode,
                      err.decode(errors="replace").strip()[:300])  # fmt: skip
