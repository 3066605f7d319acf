"""D-Bus under load: 100 concurrent calls to org.jailban while the agent is busy.

    .venv/bin/python tests/benchmarks/bench_dbus.py [--rounds 5] [--address ADDR]

Without --address it starts a private bus with polkitd and the service over
FakeControl in ``--busy`` mode (its loop matches synthetic lines in batches
and bans all the time, emitting signals and PropertiesChanged). With
--address it measures whatever agent owns org.jailban on that bus (the real
agent under a streaming journal). Each round fires 100 calls at once (a mix of
GetStatus, ListBans, QueryBan, Properties.Get and Ban, all through polkit)
and checks that every one is answered. Prints p50/p99/max in milliseconds.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import time
from pathlib import Path
from typing import Any

from dbus_fast import Message, MessageType, Variant
from dbus_fast.aio import MessageBus

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from support.bus import PrivateBus, ServiceProcess

DEST = "org.jailban"
CONCURRENT = 100


def call(
    path: str, interface: str, member: str, signature: str = "", body: list[Any] | None = None
) -> Message:
    return Message(
        destination=DEST,
        path=path,
        interface=interface,
        member=member,
        signature=signature,
        body=body or [],
    )


def request(i: int) -> Message:
    """The i-th call of a round: mostly reads, one in five a ban."""
    kind = i % 5
    if kind == 0:
        return call("/org/jailban", "org.jailban.Manager1", "GetStatus")
    if kind == 1:
        return call("/org/jailban", "org.jailban.Manager1", "ListBans", "s", [""])
    if kind == 2:
        return call("/org/jailban", "org.jailban.Manager1", "QueryBan", "s", ["198.51.100.7"])
    if kind == 3:
        return call(
            "/org/jailban/jail/sshd",
            "org.freedesktop.DBus.Properties",
            "Get",
            "ss",
            ["org.jailban.Jail1", "CurrentlyFailed"],
        )
    address = f"203.0.{113 + i % 2}.{i % 250 + 1}"
    empty: dict[str, Variant] = {}
    return call(
        "/org/jailban", "org.jailban.Manager1", "Ban", "ssta{sv}", ["sshd", address, 0, empty]
    )


async def one_call(bus: MessageBus, msg: Message) -> float:
    start = time.perf_counter()
    reply = await bus.call(msg)
    elapsed = time.perf_counter() - start
    if reply is None or reply.message_type == MessageType.ERROR:
        body: Any = reply.body if reply is not None else None
        raise RuntimeError(f"{msg.member} failed: {reply and reply.error_name} {body}")
    return elapsed


async def measure(address: str, rounds: int) -> list[float]:
    bus = await MessageBus(bus_address=address).connect()
    latencies: list[float] = []
    try:
        for _ in range(rounds):
            latencies += await asyncio.gather(
                *(one_call(bus, request(i)) for i in range(CONCURRENT))
            )
            await asyncio.sleep(0.2)
    finally:
        bus.disconnect()
    return latencies


def report(latencies: list[float], label: str) -> None:
    ms = sorted(x * 1000 for x in latencies)
    p99 = ms[min(len(ms) - 1, round(0.99 * len(ms)) - 1)]
    print(
        f"{label}: {len(ms)} calls answered ({CONCURRENT} concurrent), "
        f"p50 {statistics.median(ms):.1f} ms, p99 {p99:.1f} ms, max {ms[-1]:.1f} ms"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--address", help="measure the agent already on this bus")
    args = parser.parse_args()
    if args.address:
        report(asyncio.run(measure(args.address, args.rounds)), "agent on " + args.address)
        return
    with PrivateBus() as bus:
        for busy in (False, True):
            service = ServiceProcess(bus, busy=busy)
            try:
                label = "fake agent, busy loop" if busy else "fake agent, idle"
                report(asyncio.run(measure(bus.address, args.rounds)), label)
            finally:
                service.stop()


if __name__ == "__main__":
    main()
