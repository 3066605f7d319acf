"""The service on a real dbus-daemon keeps no order of the bans until a client asks.

GetBans's newest-first order costs each ban its sort key, list entries, an index
entry and a binary search. A connected service (``BusService.run``, over a
FakeControl, on a private bus) announces every ban as a ``Banned`` signal a
listener receives, and builds that order only at the first GetBans; from then
on it keeps it, and the pages hold every ban.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress

from dbus_fast import Message, MessageType
from dbus_fast.aio import MessageBus

from journalban.bus import contract
from journalban.bus.service import BusService
from support.bus import PrivateBus, add_match
from support.fake_control import FakeControl


async def _scenario(address: str) -> tuple[bool, int, bool, int, list[str]]:
    control = FakeControl()
    service = BusService(control, address=address, retry_interval=0.2)
    running = asyncio.create_task(service.run())
    listener = await MessageBus(bus_address=address).connect()
    heard: list[str] = []
    try:
        await asyncio.wait_for(service.connected.wait(), 10)
        listener.add_message_handler(
            lambda m: (
                heard.append(m.body[0])
                if m.message_type == MessageType.SIGNAL and m.member == "Banned"
                else None
            )
        )
        await add_match(listener, f"type='signal',interface='{contract.MANAGER_INTERFACE}'")
        for n in range(1, 4):
            await control.ban("sshd", ipaddress.ip_network(f"198.51.100.{n}"), 60.0)
        for _ in range(50):  # the signals through the daemon
            if len(heard) == 3:
                break
            await asyncio.sleep(0.02)
        ready_before, kept_before = service.pages.is_ready, len(service.pages._keys)
        reply = await listener.call(
            Message(
                destination=contract.BUS_NAME, path=contract.MANAGER_PATH,
                interface=contract.MANAGER_INTERFACE, member="GetBans", signature="suu",
                body=["", 0, 10],
            )
        )  # fmt: skip
        assert reply is not None
        await control.ban("sshd", ipaddress.ip_network("198.51.100.4"), 60.0)
        total, _generation, page = service.pages.page("", 0, 10)
        return (
            ready_before, kept_before, service.pages.is_ready, total,
            [*sorted(str(b[0]) for b in page), f"reply:{reply.message_type.name}", *heard],
        )  # fmt: skip
    finally:
        listener.disconnect()
        running.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await running


def test_the_order_of_the_bans_is_built_at_the_first_page_asked() -> None:
    with PrivateBus(polkit=False) as bus:
        ready_before, kept_before, ready_after, total, seen = asyncio.run(_scenario(bus.address))
    assert (ready_before, kept_before) == (False, 0), "no order before a client asks"
    assert ready_after
    assert total == 4
    addresses = [f"198.51.100.{n}" for n in range(1, 5)]
    assert seen[:4] == addresses
    assert seen[5:] == addresses[:3], "each ban still announced"
