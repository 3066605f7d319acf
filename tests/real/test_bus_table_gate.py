"""The service started before the agent's ban table is built owns ``org.jailban`` only after.

At start the agent's bus service connects while the kernel takes the bans and the table is
built (agent.readiness); it exports its objects and owns the name once the table is built
(``BusService(table_built=)``): a client finds no ``org.jailban`` before, never a table half
built. Real parts: a private dbus-daemon, the service over a FakeControl in this process.
"""

from __future__ import annotations

import asyncio
import contextlib

from dbus_fast import Message, MessageType
from dbus_fast.aio import MessageBus

from journalban.bus import contract
from journalban.bus.service import BusService
from support.bus import PrivateBus
from support.fake_control import FakeControl


async def _owner(client: MessageBus) -> str:
    """``org.jailban``'s owner on the bus, "" when none."""
    reply = await client.call(Message(
        destination="org.freedesktop.DBus", path="/org/freedesktop/DBus",
        interface="org.freedesktop.DBus", member="NameHasOwner", signature="s",
        body=[contract.BUS_NAME],
    ))  # fmt: skip
    assert reply is not None
    assert reply.message_type == MessageType.METHOD_RETURN
    return "owned" if reply.body[0] else ""


async def _scenario(address: str) -> tuple[str, bool, bool, str, bool]:
    built = asyncio.Event()
    service = BusService(FakeControl(), address=address, table_built=built)
    running = asyncio.create_task(service.run())
    client = await MessageBus(bus_address=address).connect()
    try:
        await asyncio.sleep(0.5)  # connected, Hello said, polkit followed: then it waits
        before = await _owner(client)
        tried_before, connected_before = service.tried.is_set(), service.connected.is_set()
        built.set()
        await asyncio.wait_for(service.tried.wait(), 10)
        return (
            before,
            tried_before,
            connected_before,
            await _owner(client),
            service.connected.is_set(),
        )
    finally:
        client.disconnect()
        running.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await running


def test_org_jailban_is_owned_only_once_the_table_is_built() -> None:
    with PrivateBus(polkit=False) as bus:
        before, tried_before, connected_before, after, connected = asyncio.run(
            _scenario(bus.address)
        )
    # Before: no name, and READY (which waits for ``tried``) is not told either.
    assert (before, tried_before, connected_before) == ("", False, False)
    assert (after, connected) == ("owned", True)
