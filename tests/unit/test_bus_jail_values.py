"""A jail's property values are built once per turn of the event loop, and again after a change."""

from __future__ import annotations

import asyncio
import ipaddress
from types import SimpleNamespace
from typing import Any

from dbus_fast import Message

from journalban.bus.interfaces import JailInterface, ManagerInterface
from journalban.bus.service import BusService, _Session
from support.fake_control import FakeControl


class CountingControl(FakeControl):
    def __init__(self) -> None:
        super().__init__()
        self.status_reads = 0

    def jail_status(self, jail: str) -> Any:
        self.status_reads += 1
        return super().jail_status(jail)


def test_values_are_built_once_a_turn_and_again_after_a_ban() -> None:
    control = CountingControl()
    jail = JailInterface(control, "sshd")

    async def scenario() -> list[int]:
        seen = []
        for _ in range(15):  # a GetAll reads every property in one turn
            jail.property_values()
        seen.append(control.status_reads)
        await asyncio.sleep(0)  # the next turn builds them again
        jail.property_values()
        seen.append(control.status_reads)
        before = jail.property_values()["CurrentlyBanned"]
        await control.ban("sshd", ipaddress.ip_network("198.51.100.8"), 60.0)
        jail.end_turn()  # what BusService does when the agent tells it of a change
        seen.append(jail.property_values()["CurrentlyBanned"] - before)
        return seen

    assert asyncio.run(scenario()) == [1, 2, 1]


def test_the_service_forgets_the_turns_values_when_the_agent_bans() -> None:
    control = FakeControl()
    service = BusService(control)
    unsubscribe = control.subscribe(service)

    async def scenario() -> int:
        jail = JailInterface(control, "sshd")
        bus = SimpleNamespace(send=sent.append)  # (the Banned signal, built by the service)
        service._session = _Session(bus, ManagerInterface(control), {"/j": jail})  # type: ignore[arg-type]
        before = jail.property_values()["CurrentlyBanned"]
        await control.ban("sshd", ipaddress.ip_network("198.51.100.9"), 60.0)
        return int(jail.property_values()["CurrentlyBanned"] - before)

    sent: list[Message] = []

    try:
        assert asyncio.run(scenario()) == 1
    finally:
        unsubscribe()
    assert [(m.member, m.body[:2]) for m in sent] == [("Banned", ["198.51.100.9", "sshd"])]
