"""The CPU a ban's ``Banned`` signal costs the sending process, on a real dbus-daemon.

    .venv/bin/python tests/benchmarks/bench_banned_signal.py [--signals 20000] [--runs 3]

Starts a private bus (as root), connects as the service does (``gather_writes``),
and sends ``--signals`` Banned signals of distinct bans in turns of 100 (a
commit's run), each turn written at once (``write_now``); timed are the sends
and that write, not the waits for dbus-daemon to read a full socket: ``message`` builds each as a
dbus-fast ``Message`` and calls ``bus.send`` (57303b5), ``wire`` is
``bannedwire.send_banned``. The two alternate, ``--runs`` times each; printed is
the sending process's CPU (``time.process_time``) per signal in µs. Nobody
listens: dbus-daemon only routes the signals, in its own process.
"""

from __future__ import annotations

import argparse
import asyncio
import ipaddress
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path

from dbus_fast.aio import MessageBus

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from journalban.bus.bannedwire import banned_signal, send_banned
from journalban.bus.writer import GatheringWriter, gather_writes
from journalban.events import Ban
from support.bus import PrivateBus

TURN = 100


def make_bans(count: int) -> list[Ban]:
    base = int(ipaddress.ip_address("10.0.0.0"))
    bans = [
        Ban("sshd", ipaddress.ip_network(base + i), 1_700_000_000.0 + i, 1_700_003_600.0 + i, 1,
            "attack_mode", 5, "journal")
        for i in range(count)
    ]  # fmt: skip
    for ban in bans:
        ban.address  # noqa: B018 (formatted once, as the agent's log of the ban does)
    return bans


def by_message(bus: MessageBus, bans: Sequence[Ban]) -> None:
    send = bus.send
    for ban in bans:
        send(banned_signal(ban))


async def run(address: str, signals: int, runs: int) -> dict[str, list[float]]:
    bus = await MessageBus(bus_address=address).connect()
    assert gather_writes(bus)
    writer = bus._writer
    assert isinstance(writer, GatheringWriter)
    bans = make_bans(signals)
    modes: dict[str, Callable[[MessageBus, Sequence[Ban]], None]] = {
        "message": by_message,
        "wire": send_banned,
    }
    results: dict[str, list[float]] = {name: [] for name in modes}
    try:
        for _ in range(runs):
            for name, emit in modes.items():
                await asyncio.sleep(0.2)  # the previous run's bytes are out
                spent = 0.0
                for i in range(0, signals, TURN):
                    start = time.process_time()
                    emit(bus, bans[i : i + TURN])
                    writer.write_now()
                    spent += time.process_time() - start
                    while writer.pending:  # noqa: ASYNC110 (the socket full: wait, not counted)
                        await asyncio.sleep(0.001)
                results[name].append(spent / signals * 1e6)
    finally:
        bus.disconnect()
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--signals", type=int, default=20_000)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    with PrivateBus(polkit=False) as bus:
        results = asyncio.run(run(bus.address, args.signals, args.runs))
    for name, figures in results.items():
        print(f"{name:8} µs a signal: " + " ".join(f"{f:.2f}" for f in figures))


if __name__ == "__main__":
    main()
