"""Banned signals packed by ``bannedwire`` through a real dbus-daemon: all arrive, right.

A connection set up as the service's (``gather_writes``) sends a burst of
thousands of bans' signals with ``send_banned``, in turns of a commit's run, with
unicode jail names, IPv6 prefixes and long reasons among them; a second
connection subscribed to the sender's signals receives every one, in order, with
the path, interface, member, signature and body of the dbus-fast ``Message``
the service sent before (``banned_signal``), and serials that only increase. Both
ways of packing: the C module's (``announcec``) and the pure-Python one; and the C
module's signals as ``gdbus monitor`` (GLib's parser, not dbus-fast's) prints them.
"""

from __future__ import annotations

import asyncio
import ipaddress

import pytest
from dbus_fast import Message, MessageType
from dbus_fast.aio import MessageBus

from journalban import announcec
from journalban.bus.bannedwire import banned_signal, send_banned
from journalban.bus.writer import GatheringWriter, gather_writes
from journalban.events import Ban
from support.bus import PrivateBus, SignalMonitor, add_match

COUNT = 5000
TURN = 100


def _bans() -> list[Ban]:
    jails = ["sshd", "pöstfix", "日本-jail", "j" * 301, "x"]
    reasons = ["attack_mode", "", "r" * 1001, "répété"]
    bans = []
    for i in range(COUNT):
        network = (
            ipaddress.IPv6Network(((0x20010DB8 << 96) + (i << 64), 64))
            if i % 3 == 0
            else ipaddress.ip_network(0xC6336400 + i)
        )
        bans.append(Ban(jails[i % len(jails)], network, 1_700_000_000.0 + i / 7,
                        None if i % 11 == 0 else 1_700_003_600.5 + i, i % 9 + 1,
                        reasons[i % len(reasons)], i * 3, "journal" if i % 2 else "file",
                        lines=(f"Failed password for secret{i}",)))  # fmt: skip
    return bans


async def _burst(address: str, bans: list[Ban]) -> tuple[bool, list[Message]]:
    server = await MessageBus(bus_address=address).connect()
    client = await MessageBus(bus_address=address).connect()
    try:
        installed = gather_writes(server) and isinstance(server._writer, GatheringWriter)
        heard: list[Message] = []

        def hear(msg: Message) -> None:
            if msg.message_type == MessageType.SIGNAL and msg.sender == server.unique_name:
                heard.append(msg)

        client.add_message_handler(hear)
        await add_match(client, f"type='signal',sender='{server.unique_name}'")
        for i in range(0, len(bans), TURN):
            send_banned(server, bans[i : i + TURN])
            await asyncio.sleep(0)
        for _ in range(400):
            if len(heard) >= len(bans):
                break
            await asyncio.sleep(0.05)
        return installed, heard
    finally:
        client.disconnect()
        server.disconnect()


@pytest.fixture(params=["native", "python"])
def packing(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """The C module's packing, then the pure-Python one."""
    if request.param == "python":
        monkeypatch.setattr(announcec, "NATIVE", None)
    elif announcec.NATIVE is None:
        pytest.skip("journalban._announce is not built")
    return str(request.param)


def test_a_burst_of_packed_banned_signals_arrives_whole_in_order_and_right(packing: str) -> None:
    bans = _bans()
    with PrivateBus(polkit=False) as bus:
        installed, heard = asyncio.run(_burst(bus.address, bans))
    assert installed
    assert len(heard) == COUNT
    for ban, msg in zip(bans, heard, strict=True):
        sent = banned_signal(ban)
        assert (msg.path, msg.interface, msg.member, msg.signature) == (
            sent.path, sent.interface, sent.member, sent.signature,
        )  # fmt: skip
        assert msg.body == sent.body
    serials = [msg.serial for msg in heard]
    assert serials == sorted(set(serials))
    assert all("secret" not in repr(msg.body) for msg in heard)


async def _to_gdbus(bus: PrivateBus, bans: list[Ban]) -> list[str]:
    """``bans``' signals sent by the owner of org.jailban, as ``gdbus monitor`` prints them."""
    server = await MessageBus(bus_address=bus.address).connect()
    try:
        assert gather_writes(server)
        await server.request_name("org.jailban")  # what gdbus monitor follows
        monitor = await asyncio.to_thread(SignalMonitor, bus)
        try:
            for i in range(0, len(bans), TURN):
                send_banned(server, bans[i : i + TURN])
                await asyncio.sleep(0)
            last = f"Banned ('{bans[-1].address}', '{bans[-1].jail}'"
            await asyncio.to_thread(monitor.wait_for, last, 30.0)
            return [line for line in monitor.lines if ".Banned (" in line]
        finally:
            monitor.close()
    finally:
        server.disconnect()


def test_gdbus_reads_a_run_of_signals_packed_in_c() -> None:
    """GLib's reader takes each signal the C module packs: every ban in order, its
    address, jail, expiry and details as sent (no matched line among them)."""
    if announcec.NATIVE is None:
        pytest.skip("journalban._announce is not built")
    bans = [
        Ban("sshd" if i % 2 else "web-ä", ipaddress.ip_network(0xC6336400 + i) if i % 3
            else ipaddress.IPv6Network(((0x20010DB8 << 96) + (i << 64), 64)),
            1_700_000_000.5 + i, None if i % 7 == 0 else 1_700_003_600.25 + i, i % 4 + 1,
            "attack_mode" if i % 5 else "", 3 + i, "journal" if i % 2 else "",
            lines=(f"Failed password for secret{i}",))
        for i in range(600)
    ]  # fmt: skip
    with PrivateBus(polkit=False) as bus:
        lines = asyncio.run(_to_gdbus(bus, bans))
    assert len(lines) == len(bans)
    for ban, line in zip(bans, lines, strict=True):
        expires = 0 if ban.expires_at is None else round(ban.expires_at * 1_000_000)
        assert f".Banned ('{ban.address}', '{ban.jail}', uint64 {expires}, {{" in line, line
        assert f"'failures': <uint32 {ban.failures}>" in line
        assert f"'source': <'{ban.source}'>" in line
        assert f"'ban_count': <uint32 {ban.ban_count}>" in line
        assert f"'banned_at_usec': <uint64 {round(ban.banned_at * 1_000_000)}>" in line
        assert f"'reason': <'{ban.reason}'>" in line
        assert "secret" not in line
