"""Run the org.jailban service over a FakeControl, as its own process.

    PYTHONPATH=tests python -m support.bus_service --address ADDR [--busy] [--bans N]

The D-Bus tests start it under the uid they test (root or ``journalban``)
with setpriv. It prints ``READY`` once it owns the name. ``--bans N`` starts with N
active bans. ``--busy`` keeps the
event loop loaded the way an agent matching a stream of lines would be, with
failures counted and bans made all the time (signals, PropertiesChanged).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import ipaddress
import logging
import re
import signal
import sys

from journalban.agent.api import JailInfo
from journalban.bus.service import BusService
from support.fake_control import FakeControl, sample_jails

RELOADED_JAIL = JailInfo(
    name="postfix-sasl",
    enabled=True,
    filter="postfix-sasl",
    sources=("_SYSTEMD_UNIT=postfix.service",),
    ports=("smtp", "submission"),
    protocols=("tcp",),
    maxretry=3,
    findtime=600.0,
    bantime=7200.0,
)
_LINE = "Failed password for invalid user admin from 198.51.100.{} port 22 ssh2"
_PATTERN = re.compile(r"Failed password for (?:invalid user )?(?P<user>\S+) from (?P<host>\S+)")


async def keep_busy(control: FakeControl, lines_per_batch: int = 2000) -> None:
    """Match synthetic lines in batches between yields, as the agent's pipeline does."""
    count = 0
    while True:
        matched = 0
        for i in range(lines_per_batch):
            if _PATTERN.search(_LINE.format(i % 250)):
                matched += 1
        count += lines_per_batch
        control.record_failure("sshd", matched // 100)
        if count % 100_000 == 0:
            host = ipaddress.ip_network(f"198.51.100.{(count // 100_000) % 250 + 1}")
            await control.ban("sshd", host, 60.0)
        await asyncio.sleep(0)


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--address", required=True)
    parser.add_argument("--busy", action="store_true")
    parser.add_argument("--bans", type=int, default=0, help="active bans to start with")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, stream=sys.stderr)
    control = FakeControl()
    # A Reload brings in one more jail, so tests see jail objects re-exported.
    control.next_config = [*sample_jails(), RELOADED_JAIL]
    first = int(ipaddress.ip_address("100.64.0.0"))
    for i in range(args.bans):  # before the service listens: no signals for these
        await control.ban("sshd", ipaddress.ip_network(first + i), 3600.0)
    service = BusService(control, address=args.address, retry_interval=0.2)
    tasks = [asyncio.create_task(service.run())]
    if args.busy:
        tasks.append(asyncio.create_task(keep_busy(control)))
    await service.connected.wait()
    print("READY", flush=True)
    stop = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
    await stop.wait()
    for task in tasks:
        task.cancel()
    for task in tasks:
        with contextlib.suppress(asyncio.CancelledError):
            await task


if __name__ == "__main__":
    asyncio.run(main())
