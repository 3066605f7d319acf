"""BannedMany through a real dbus-daemon: a flood step is one signal, a single ban a Banned.

A connection set up as the service's (``gather_writes``) owns org.jailban and announces
runs with ``bannedmany.send_bans``: a step of 600 bans (unicode jails, IPv6 prefixes,
permanent bans among them), a single ban, then 2,500 bans. ``gdbus monitor`` (GLib's
parser, not dbus-fast's) prints one ``BannedMany`` for the 600 with every ban in order,
a ``Banned`` for the single one, and three ``BannedMany`` (1,000, 1,000 and 500) for the
2,500; a dbus-fast client receives the same signals with the bodies of ``many_signal``.
``journalban watch`` (its ``watch`` coroutine) prints a ban event for each ban of a
``BannedMany``, as for a ``Banned``. Both ways of packing: the C module's and the
pure-Python one.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import re
from typing import Any

import pytest
from dbus_fast import Message, MessageType
from dbus_fast.aio import MessageBus

from journalban import announcec
from journalban.bus.bannedmany import MANY_CAP, many_signal, send_bans
from journalban.bus.bannedwire import banned_signal
from journalban.bus.writer import gather_writes
from journalban.cli.watch import watch
from journalban.cli.watchevents import iso
from journalban.events import Ban
from support.bus import PrivateBus, SignalMonitor, add_match


@pytest.fixture(params=["native", "python"])
def packing(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    if request.param == "python":
        monkeypatch.setattr(announcec, "NATIVE", None)
    elif announcec.NATIVE is None or not hasattr(announcec.NATIVE, "pack_banned_many"):
        pytest.skip("journalban._announce (with pack_banned_many) is not built")
    return str(request.param)


def _bans(count: int, first: int) -> list[Ban]:
    return [
        Ban("sshd" if i % 2 else "web-ä", ipaddress.ip_network(0xC6336400 + i) if i % 3
            else ipaddress.IPv6Network(((0x20010DB8 << 96) + (i << 64), 64)),
            1_700_000_000.5 + i, None if i % 7 == 0 else 1_700_003_600.25 + i, i % 4 + 1,
            "attack_mode" if i % 5 else "", 3 + i, "journal" if i % 2 else "",
            lines=(f"Failed password for secret{i}",))
        for i in range(first, first + count)
    ]  # fmt: skip


async def _announce(bus: PrivateBus, runs: list[list[Ban]]) -> tuple[list[str], list[Message]]:
    server = await MessageBus(bus_address=bus.address).connect()
    client = await MessageBus(bus_address=bus.address).connect()
    try:
        assert gather_writes(server)
        await server.request_name("org.jailban")
        heard: list[Message] = []

        def hear(msg: Message) -> None:
            if msg.message_type == MessageType.SIGNAL and msg.sender == server.unique_name:
                heard.append(msg)

        client.add_message_handler(hear)
        await add_match(client, f"type='signal',sender='{server.unique_name}'")
        monitor = await asyncio.to_thread(SignalMonitor, bus)
        try:
            for run in runs:
                send_bans(server, run)
                await asyncio.sleep(0)
            last = runs[-1][-1]
            await asyncio.to_thread(monitor.wait_for, f"('{last.address}', '{last.jail}'", 30.0)
            for _ in range(200):
                if len(heard) >= 5:
                    break
                await asyncio.sleep(0.05)
            return [line for line in monitor.lines if "org.jailban.Manager1." in line], heard
        finally:
            monitor.close()
    finally:
        client.disconnect()
        server.disconnect()


def _plain(msg: Message) -> tuple[str | None, str, list[object]]:
    """A signal's member, signature and body, its structs as lists (read back as tuples)."""
    body = msg.body
    if msg.member == "BannedMany":
        body = [[list(ban) for ban in body[0]]]
    return msg.member, msg.signature, body


def test_a_flood_step_is_one_banned_many_and_a_single_ban_a_banned(packing: str) -> None:
    step, single, long_run = _bans(600, 0), _bans(1, 1000), _bans(2500, 2000)
    with PrivateBus(polkit=False) as bus:
        lines, heard = asyncio.run(_announce(bus, [step, single, long_run]))
    members = [re.search(r"org\.jailban\.Manager1\.(\w+)", line)[1] for line in lines]  # type: ignore[index]
    assert members == ["BannedMany", "Banned", "BannedMany", "BannedMany", "BannedMany"]
    # gdbus prints each element as its Banned's arguments, in order
    shown = re.findall(r"\('([^']*)', '([^']*)', (?:uint64 )?(\d+), \{", lines[0])
    assert shown == [
        (ban.address, ban.jail,
         str(0 if ban.expires_at is None else round(ban.expires_at * 1_000_000)))
        for ban in step
    ]  # fmt: skip
    assert f"Banned ('{single[0].address}', '{single[0].jail}'" in lines[1]
    assert [len(re.findall(r"\('[^']*', '[^']*', (?:uint64 )?\d+, \{", line)) for line in lines[2:]] == [
        MANY_CAP, MANY_CAP, 500,
    ]  # fmt: skip
    assert all("secret" not in line for line in lines)
    # dbus-fast's reader: the bodies of many_signal and banned_signal, serials increasing
    expected = [
        many_signal(step), banned_signal(single[0]), many_signal(long_run[:MANY_CAP]),
        many_signal(long_run[MANY_CAP : 2 * MANY_CAP]), many_signal(long_run[2 * MANY_CAP :]),
    ]  # fmt: skip
    assert [_plain(m) for m in heard] == [_plain(m) for m in expected]
    serials = [m.serial for m in heard]
    assert serials == sorted(set(serials))


async def _watched(bus: PrivateBus, runs: list[list[Ban]], count: int) -> list[dict[str, Any]]:
    """What ``journalban watch`` (its ``watch`` coroutine) emits while ``runs`` are sent."""
    server = await MessageBus(bus_address=bus.address).connect()
    events: list[dict[str, Any]] = []
    watching = asyncio.ensure_future(watch(events.append, address=bus.address))
    try:
        assert gather_writes(server)
        await server.request_name("org.jailban")
        for _ in range(100):  # its match rules in place: it said the (unanswered) state
            if events:
                break
            await asyncio.sleep(0.05)
        await asyncio.sleep(0.2)
        for run in runs:
            send_bans(server, run)
            await asyncio.sleep(0)
        for _ in range(200):
            if sum(e["event"] == "ban" for e in events) >= count:
                break
            await asyncio.sleep(0.05)
        return [e for e in events if e["event"] == "ban"]
    finally:
        watching.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await watching
        server.disconnect()


def test_journalban_watch_prints_each_ban_of_a_banned_many_as_of_a_banned(packing: str) -> None:
    step, single = _bans(30, 0), _bans(1, 1000)
    with PrivateBus(polkit=False) as bus:
        events = asyncio.run(_watched(bus, [step, single], 31))
    assert [(e["address"], e["jail"]) for e in events] == [
        (ban.address, ban.jail) for ban in [*step, *single]
    ]
    for ban, event in zip(step, events, strict=False):
        assert event["until"] == (None if ban.expires_at is None else iso(ban.expires_at))
        assert event["origin"] == (ban.source or None)
        assert event["reason"] == (ban.reason or None)
