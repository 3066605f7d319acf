"""Which answers to polkit's CheckAuthorization mean "there is no polkit"."""

from __future__ import annotations

import asyncio

import pytest
from dbus_fast import Message

from journalban.bus.authority import Authority, polkit_is_absent


@pytest.mark.parametrize(
    "error",
    [
        "org.freedesktop.DBus.Error.ServiceUnknown",  # not installed, not activatable
        "org.freedesktop.DBus.Error.NameHasNoOwner",
        "org.freedesktop.DBus.Error.Spawn.ChildExited",  # activation failed
        "org.freedesktop.DBus.Error.Spawn.ServiceNotFound",
    ],
)
def test_absent_or_not_startable_polkit_is_no_polkit(error: str) -> None:
    assert polkit_is_absent(error)


@pytest.mark.parametrize(
    "error",
    [
        None,
        "org.freedesktop.DBus.Error.NoReply",  # polkitd is there but slow: refuse, never fall back
        "org.freedesktop.DBus.Error.AccessDenied",
        "org.freedesktop.PolicyKit1.Error.Failed",
        "org.freedesktop.DBus.Error.SpawnFake",
    ],
)
def test_a_polkit_that_answered_badly_is_not_absent(error: str | None) -> None:
    assert not polkit_is_absent(error)


class _UidBus:
    """A bus daemon that answers GetConnectionUnixUser, counting the questions."""

    def __init__(self) -> None:
        self.asked: list[str] = []

    async def call(self, msg: Message) -> Message:
        msg.serial = len(self.asked) + 1  # as the connection would number it
        self.asked.append(msg.body[0])
        if msg.body[0] == ":1.gone":
            return Message.new_error(msg, "org.freedesktop.DBus.Error.NameHasNoOwner", "gone")
        return Message.new_method_return(msg, "u", [1000])


def test_a_callers_uid_is_asked_of_the_bus_once_per_unique_name() -> None:
    bus = _UidBus()
    authority = Authority(bus, own_uid=0)  # type: ignore[arg-type]

    async def scenario() -> list[int | None]:
        names = [":1.7", ":1.7", "org.example.Name", "org.example.Name", ":1.gone", ":1.gone"]
        return [await authority.caller_uid(name) for name in names]

    assert asyncio.run(scenario()) == [1000, 1000, 1000, 1000, None, None]
    # A well-known name may change owner, and an unknown one may not be there yet: asked again.
    assert bus.asked == [":1.7", "org.example.Name", "org.example.Name", ":1.gone", ":1.gone"]
