"""The ``org.jailban`` service: connects when the bus is there, and again when it returns.

The agent starts and restores bans without waiting for D-Bus; this task runs
beside it, retries the connection until the system bus appears, exports the
manager and one object per jail, owns ``org.jailban``, and turns what the
agent reports (``AgentListener``) into signals. Property changes are gathered
and announced at most a few times a second, so a flood of failures does not
become a flood of PropertiesChanged.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from dbus_fast import BusType, NameFlag, RequestNameReply
from dbus_fast.aio import MessageBus

from journalban.agent.api import AgentControl
from journalban.bus import contract
from journalban.bus.authority import Authority
from journalban.bus.bannedmany import send_bans
from journalban.bus.dispatch import CallDispatcher
from journalban.bus.interfaces import JailInterface, ManagerInterface
from journalban.bus.paging import BanPages
from journalban.bus.writer import gather_writes
from journalban.events import Ban

_log = logging.getLogger(__name__)


@dataclass
class _Session:
    """One live connection and what is exported on it."""

    bus: MessageBus
    manager: ManagerInterface
    jails: dict[str, JailInterface] = field(default_factory=dict)  # path -> object
    announced: dict[str, dict[str, Any]] = field(default_factory=dict)  # path -> values


class BusService:
    """Runs ``org.jailban`` for one agent; also the agent's listener for signals."""

    def __init__(
        self,
        control: AgentControl,
        *,
        address: str | None = None,
        retry_interval: float = 1.0,
        coalesce_interval: float = 0.25,
        table_built: asyncio.Event | None = None,
    ) -> None:
        """``table_built``: set once the agent's ban table is built (its start); the
        connection is made before, the objects are exported and the name owned after."""
        self._control = control
        self._table_built = table_built
        self._address = address
        self._retry_interval = retry_interval
        self._coalesce_interval = coalesce_interval
        self._session: _Session | None = None
        self.pages = BanPages(control)  # outlives a session: the generation never goes back
        self._jail_paths: dict[str, str] = {}  # path -> jail name, read by the dispatcher
        self._dirty = False
        self.connected = asyncio.Event()
        # Set once the first attempt to serve ended, serving or not (agent.readiness).
        self.tried = asyncio.Event()
        self._said_unreachable = False
        self._said_not_owner = False

    async def run(self) -> None:
        """Serve until cancelled, reconnecting whenever the bus goes away."""
        unsubscribe = self._control.subscribe(self)
        try:
            while True:
                try:
                    await self._serve_once()
                except (OSError, EOFError) as exc:
                    # Once, not at every retry: the agent runs on without its API.
                    if not self._said_unreachable:
                        _log.warning(
                            "the system bus is not reachable (%s): no D-Bus API (journalban "
                            "status, ban, reload) until it is; the agent runs on and keeps "
                            "trying (bus: false turns this off)",
                            exc,
                        )
                        self._said_unreachable = True
                except Exception:
                    _log.exception("D-Bus connection failed")
                self.tried.set()
                self.connected.clear()
                await asyncio.sleep(self._retry_interval)
        finally:
            unsubscribe()
            self._drop_session()

    async def _serve_once(self) -> None:
        bus = await MessageBus(bus_address=self._address, bus_type=BusType.SYSTEM).connect()
        if not gather_writes(bus):
            tolerate_full_socket(bus)
        try:
            session = _Session(bus, ManagerInterface(self._control, self.pages))
            self._session = session
            authority = Authority(bus)
            await authority.follow_polkit()  # before the first call can come
            dispatcher = CallDispatcher(bus, self._control, authority, self._jail_paths, self.pages)
            if self._table_built is not None:  # no call answered from a table half built
                await self._table_built.wait()
            bus.add_message_handler(dispatcher.handle)
            bus.export(contract.MANAGER_PATH, session.manager)
            session.announced[contract.MANAGER_PATH] = session.manager.property_values()
            self._export_jails(session)
            reply = await bus.request_name(contract.BUS_NAME, NameFlag.DO_NOT_QUEUE)
            if reply not in (RequestNameReply.PRIMARY_OWNER, RequestNameReply.ALREADY_OWNER):
                if not self._said_not_owner:  # once, not at every retry
                    _log.error("cannot own %s (%s): another journalban serves it; this one runs "
                               "without a D-Bus API and keeps trying", contract.BUS_NAME,
                               reply.name)  # fmt: skip
                    self._said_not_owner = True
                self.tried.set()
                return
            _log.info("serving %s on the system bus", contract.BUS_NAME)
            self._said_unreachable = self._said_not_owner = False
            self.connected.set()
            self.tried.set()
            flusher = asyncio.create_task(self._flush_changes(session))
            try:
                await bus.wait_for_disconnect()  # type: ignore[no-untyped-call]
            finally:
                flusher.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await flusher
            _log.warning("lost the system bus; reconnecting")
        finally:
            self._drop_session()
            bus.disconnect()

    def _drop_session(self) -> None:
        self._session = None
        self._jail_paths.clear()

    def _export_jails(self, session: _Session) -> None:
        """Make the exported jail objects match the configured jails."""
        wanted = {contract.jail_path(info.name): info.name for info in self._control.jails()}
        for path in [p for p in session.jails if p not in wanted]:
            session.bus.unexport(path)
            del session.jails[path]
            session.announced.pop(path, None)
            self._jail_paths.pop(path, None)
        for path, name in wanted.items():
            if path not in session.jails:
                jail = JailInterface(self._control, name)
                session.bus.export(path, jail)
                session.jails[path] = jail
                session.announced[path] = jail.property_values()
            self._jail_paths[path] = name

    async def _flush_changes(self, session: _Session) -> None:
        # Announce at most one PropertiesChanged per object per interval.
        while True:
            await asyncio.sleep(self._coalesce_interval)
            if self._dirty:
                self._dirty = False
                self._announce(session)

    def _announce(self, session: _Session) -> None:
        objects: list[tuple[str, ManagerInterface | JailInterface]] = [
            (contract.MANAGER_PATH, session.manager),
            *session.jails.items(),
        ]
        for path, obj in objects:
            values = obj.property_values()
            before = session.announced.get(path, {})
            changed = {k: v for k, v in values.items() if before.get(k) != v}
            if changed:
                session.announced[path] = values
                obj.emit_properties_changed(changed)

    def _changed(self) -> None:
        """Something a property shows changed: announce it, and build the values again."""
        self._dirty = True
        if self._session is not None:
            for jail in self._session.jails.values():
                jail.end_turn()

    # AgentListener

    def banned(self, ban: Ban) -> None:
        """Announce a new or extended ban (details never hold the matched lines)."""
        self.banned_all((ban,))

    def banned_all(self, bans: Sequence[Ban]) -> None:
        """Announce a run of bans: BannedMany signals for a step's many, a Banned each for
        its few (``bannedmany``), the properties changed once."""
        self._changed()
        self.pages.banned_all(bans)
        if self._session is not None:
            send_bans(self._session.bus, bans)

    def unbanned(self, ban: Ban, reason: str) -> None:
        """Announce a lifted ban; ``reason`` is expired, manual or flush."""
        self._changed()
        self.pages.unbanned(ban)
        if self._session is not None:
            self._session.manager.Unbanned(ban.address, ban.jail, reason)

    def reloaded(self) -> None:
        """Re-export the jails of the new configuration and announce the reload."""
        self._changed()
        self.pages.changed()
        if self._session is not None:
            self._export_jails(self._session)
            self._session.manager.Reloaded()

    def status_changed(self, jails: Sequence[str]) -> None:
        """Counters changed; announced by the next flush."""
        self._changed()


class _FullSocketWaits:
    """A socket whose ``send`` reports a full buffer as nothing sent instead of raising.

    dbus-fast's writer (5.2, as python-dbus-next before it, issue #153) takes the
    ``BlockingIOError`` of a full socket buffer for a broken connection and
    disconnects: a burst of Banned signals while dbus-daemon is busy then drops
    the agent off the bus. Told "0 bytes sent", the writer keeps the message
    and waits until the socket is writable, which is what it does after a
    partial send.
    """

    def __init__(self, sock: socket.socket) -> None:
        self._sock = sock

    def send(self, data: bytes | bytearray | memoryview) -> int:
        try:
            return self._sock.send(data)
        except BlockingIOError:
            return 0

    def sendmsg(self, buffers: Iterable[memoryview], ancdata: Iterable[Any] = ()) -> int:
        try:
            return self._sock.sendmsg(buffers, ancdata)
        except BlockingIOError:
            return 0

    def __getattr__(self, name: str) -> Any:
        return getattr(self._sock, name)


def tolerate_full_socket(bus: MessageBus) -> None:
    """Make ``bus`` wait for a full socket buffer to drain instead of disconnecting."""
    writer = getattr(bus, "_writer", None)
    if writer is not None and not isinstance(writer.sock, _FullSocketWaits):
        writer.sock = _FullSocketWaits(writer.sock)


async def run_bus_service(control: AgentControl, *, address: str | None = None) -> None:
    """Serve ``org.jailban`` for ``control`` until cancelled.

    ``address`` None means the system bus (``DBUS_SYSTEM_BUS_ADDRESS`` if set).
    Never waits for the bus before returning control to the event loop: run it
    as one task of the agent.
    """
    await BusService(control, address=address).run()
