"""Banned signals packed by ``bannedwire`` through a real dbus-daemon: all arrive, right.

A connection set up as the service's (``gather_writes``) sends a burst of
thousands of bans' signals with ``send_banned``, in turns of a commit's run, with
unicode jail names, IPv6 prefixes and long reasons among them; a second
connection subscribed to the sender's signals receives every one, in order, with
the path, interface, member, signature and body of the dbus-fast ``Message``
the service sent before (``banned_signal``), and serials that only increase.
"""

from __future__ import annotations

import asyncio
import ipaddress

from dbus_fast import Message, MessageType
from dbus_fast.aio import MessageBus

from journalban.bus.bannedwire import banned_signal, send_banned
from journalban.bus.writer import GatheringWriter, gather_writes
from journalban.events import Ban
from support.bus import PrivateBus, add_match

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


def test_a_burst_of_packed_banned_signals_arrives_whole_in_order_and_right() -> None:
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
