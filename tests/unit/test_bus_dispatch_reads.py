"""CallDispatcher: a read polkit's kept yes covers is answered inside ``handle``.

Over the in-memory control, a fake bus connection and a fake polkitd; the real
bus, polkitd and agent are in tests/real/test_agent_dbus.py,
test_dbus_auth_cache.py and test_dbus_call_trace.py.
"""

from __future__ import annotations

import asyncio
import ipaddress
from typing import Any

from dbus_fast import Message, MessageFlag, MessageType

from journalban.bus import contract
from journalban.bus.authority import POLKIT_NAME, Authority
from journalban.bus.dispatch import CallDispatcher
from journalban.bus.paging import BanPages
from support.fake_control import FakeControl

CLIENT = ":1.42"


class FakeBus:
    """The agent's connection: replies are recorded, polkit's checks answered yes."""

    connected = True

    def __init__(self) -> None:
        self.sent: list[Message] = []
        self.checks: list[str] = []  # the actions polkit was asked about

    def send(self, msg: Message) -> asyncio.Future[None]:
        self.sent.append(msg)
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        future.set_result(None)
        return future

    async def call(self, msg: Message) -> Message:
        msg.serial = 1000 + len(self.checks)  # as the connection would number it
        if msg.destination == POLKIT_NAME:
            self.checks.append(msg.body[1])
            await asyncio.sleep(0)  # a round trip
            return Message.new_method_return(msg, "(bba{ss})", [[True, False, {}]])
        return Message.new_method_return(msg, "u", [0])  # GetConnectionUnixUser: root


def _call(member: str, signature: str = "", body: list[Any] | None = None, **kw: Any) -> Message:
    _call.serial += 1  # type: ignore[attr-defined]
    return Message(
        destination=contract.BUS_NAME, path=contract.MANAGER_PATH,
        interface=contract.MANAGER_INTERFACE, member=member, signature=signature,
        body=body or [], sender=CLIENT, serial=_call.serial, **kw,  # type: ignore[attr-defined]
    )  # fmt: skip


_call.serial = 0  # type: ignore[attr-defined]


def _dispatcher(control: FakeControl | None = None) -> tuple[CallDispatcher, FakeBus, BanPages]:
    bus = FakeBus()
    control = control or FakeControl()
    pages = BanPages(control)
    authority = Authority(bus, own_uid=12345)  # type: ignore[arg-type]
    return CallDispatcher(bus, control, authority, {}, pages), bus, pages  # type: ignore[arg-type]


async def _settle() -> None:
    for _ in range(20):
        await asyncio.sleep(0)


def test_a_read_with_a_kept_yes_is_answered_at_once_without_a_task() -> None:
    async def scenario() -> tuple[list[str], int, int, int]:
        dispatcher, bus, _ = _dispatcher()
        assert dispatcher.handle(_call("GetStatus"))  # no yes kept yet: polkit is asked
        await _settle()
        before = len(bus.sent)
        assert dispatcher.handle(_call("GetStatus"))
        at_once = len(bus.sent) - before  # answered before handle returned
        tasks = len(dispatcher._tasks)
        await _settle()
        return bus.checks, before, at_once, tasks

    checks, before, at_once, tasks = asyncio.run(scenario())
    assert checks == [contract.ACTION_INFO]  # asked once, for the first call
    assert before == 1
    assert at_once == 1
    assert tasks == 0


def test_the_answer_given_at_once_is_the_one_a_task_gives() -> None:
    async def scenario() -> list[Message]:
        control = FakeControl()
        await control.ban("sshd", ipaddress.ip_network("203.0.113.9"), 600.0)
        dispatcher, bus, _ = _dispatcher(control)
        for _ in range(2):  # the first through polkit in a task, the second at once
            dispatcher.handle(_call("QueryBan", "s", ["203.0.113.9"]))
            await _settle()
        return bus.sent

    first, second = asyncio.run(scenario())
    assert first.message_type == second.message_type == MessageType.METHOD_RETURN
    assert first.body == second.body
    assert [ban[0] for ban in second.body[0]] == ["203.0.113.9"]


def test_a_bad_read_gets_its_error_at_once() -> None:
    async def scenario() -> list[Message]:
        dispatcher, bus, _ = _dispatcher()
        dispatcher.handle(_call("GetStatus"))
        await _settle()
        dispatcher.handle(_call("QueryBan", "s", ["not an address"]))
        dispatcher.handle(_call("QueryBan", "u", [7]))
        return bus.sent[1:]

    errors = asyncio.run(scenario())
    assert [m.message_type for m in errors] == [MessageType.ERROR, MessageType.ERROR]
    assert errors[1].error_name == contract.INVALID_ARGS


def test_bans_interactive_reads_and_the_first_page_still_wait() -> None:
    async def scenario() -> tuple[list[int], list[str]]:
        dispatcher, bus, pages = _dispatcher()
        dispatcher.handle(_call("GetStatus"))
        await _settle()
        waiting = []
        for msg in (
            _call("Ban", "ssta{sv}", ["sshd", "203.0.113.5", 60_000_000, {}]),
            _call("GetStatus", flags=MessageFlag.ALLOW_INTERACTIVE_AUTHORIZATION),
            _call("GetBans", "suu", ["", 0, 10]),  # the order is not built yet
        ):
            before = len(bus.sent)
            dispatcher.handle(msg)
            waiting.append(len(bus.sent) - before)
        await _settle()
        assert pages.is_ready
        return waiting, bus.checks

    waiting, checks = asyncio.run(scenario())
    assert waiting == [0, 0, 0]  # none answered inside handle
    assert contract.ACTION_BAN in checks  # a ban is asked about every time
    assert checks.count(contract.ACTION_INFO) == 2  # the interactive read asked itself
