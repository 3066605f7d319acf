"""The agent's bus writer on a real dbus-daemon: installed, and every message delivered.

A connection with ``gather_writes`` (what the agent's service does) sends a
burst of calls' replies and signals through the real bus daemon to another
connection: all arrive, in order, and the writer wrapped dbus-fast's reader.
"""

from __future__ import annotations

import asyncio

from dbus_fast import Message, MessageType
from dbus_fast.aio import MessageBus

from journalban.bus.writer import GatheringWriter, gather_writes
from support.bus import PrivateBus, add_match


async def _exchange(address: str, count: int) -> tuple[bool, bool, list[int], list[str]]:
    server = await MessageBus(bus_address=address).connect()
    client = await MessageBus(bus_address=address).connect()
    try:
        await server.request_name("org.jailban")  # what the bus policy lets callers reach
        installed = gather_writes(server)
        wrapped = "read_then_write" in repr(
            server._loop._selector.get_key(server._fd).data[0]._callback  # type: ignore[attr-defined]
        )

        def answer(msg: Message) -> Message | bool | None:
            if msg.message_type != MessageType.METHOD_CALL or msg.member != "Echo":
                return None
            server.send(Message.new_method_return(msg, "u", [msg.body[0]]))
            return True

        server.add_message_handler(answer)
        signals: list[str] = []

        def heard(msg: Message) -> None:
            if msg.message_type == MessageType.SIGNAL and msg.member == "Banned":
                signals.append(msg.body[0])

        client.add_message_handler(heard)
        await add_match(client, f"type='signal',sender='{server.unique_name}'")

        def echo(i: int) -> Message:
            return Message(destination="org.jailban", path="/org/jailban",
                           interface="org.jailban.Manager1", member="Echo", signature="u",
                           body=[i])  # fmt: skip

        calls = [client.call(echo(i)) for i in range(count)]
        replies = await asyncio.wait_for(asyncio.gather(*calls), 20)
        for i in range(count):  # a commit's worth of signals in one turn
            server.send(Message.new_signal("/org/jailban", "org.jailban.Manager1", "Banned", "s",
                                           [f"198.51.100.{i % 250}"]))  # fmt: skip
        for _ in range(200):
            if len(signals) == count:
                break
            await asyncio.sleep(0.05)
        answered = [r.body[0] for r in replies if r is not None]
        return installed and isinstance(server._writer, GatheringWriter), wrapped, answered, signals
    finally:
        client.disconnect()
        server.disconnect()


def test_a_burst_through_the_real_bus_arrives_whole_and_in_order() -> None:
    with PrivateBus(polkit=False) as bus:
        installed, wrapped, answered, signals = asyncio.run(_exchange(bus.address, 100))
    assert installed
    assert wrapped
    assert answered == list(range(100))
    assert signals == [f"198.51.100.{i % 250}" for i in range(100)]
