"""`journalban watch [--json]`: bans, unbans, reloads and state changes as they happen.

It listens to the agent's signals (``Banned``, ``BannedMany`` -- a line for each of
its bans, as for a ``Banned`` --, ``Unbanned``, ``Reloaded``, and
``PropertiesChanged`` of ``State``) and to the bus's ``NameOwnerChanged`` for
``org.jailban``: when the agent leaves the bus it prints a ``stopped`` state,
and when it comes back its state, and keeps following it. Should the bus itself
go away, it connects again. It never activates the agent: watching a stopped
agent waits for it. Signals carry no matched lines nor user names, so any
local user may watch.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import sys
from collections.abc import Callable
from typing import Any

from dbus_fast import BusType, Message, MessageFlag, MessageType
from dbus_fast.aio import MessageBus

from journalban.bus import contract
from journalban.cli import watchevents
from journalban.clock import Clock, SystemClock

Emit = Callable[[dict[str, Any]], None]

_DBUS = "org.freedesktop.DBus"
_MATCHES = (
    f"type='signal',sender='{contract.BUS_NAME}',interface='{contract.MANAGER_INTERFACE}'",
    f"type='signal',sender='{contract.BUS_NAME}',path='{contract.MANAGER_PATH}',"
    "interface='org.freedesktop.DBus.Properties',member='PropertiesChanged'",
    f"type='signal',sender='{_DBUS}',interface='{_DBUS}',member='NameOwnerChanged',"
    f"arg0='{contract.BUS_NAME}'",
)
RETRY_SECONDS = 1.0
_NO_OWNER = {
    "org.freedesktop.DBus.Error.ServiceUnknown",
    "org.freedesktop.DBus.Error.NameHasNoOwner",
}


def register(sub: Any) -> None:
    help_text = "follow bans, unbans, reloads and state changes as they happen"
    parser = sub.add_parser("watch", help=help_text, description=help_text)
    parser.add_argument(
        "--json", action="store_true", help="one JSON object a line (null where not applicable)"
    )
    parser.set_defaults(func=_main)


def _main(args: argparse.Namespace) -> int:
    def emit(event: dict[str, Any]) -> None:
        line = json.dumps(event, sort_keys=True) if args.json else watchevents.event_text(event)
        sys.stdout.write(line + "\n")
        sys.stdout.flush()  # a pipe to a script or a notifier: each event at once

    asyncio.run(watch(emit))
    return 0


async def watch(emit: Emit, *, address: str | None = None, clock: Clock | None = None) -> None:
    """Follow the agent until cancelled, connecting again whenever the bus goes away."""
    clock = clock or SystemClock()
    said_waiting = False
    while True:
        try:
            bus = await MessageBus(bus_address=address, bus_type=BusType.SYSTEM).connect()
        except (OSError, EOFError) as exc:
            if not said_waiting:
                where = address or os.environ.get("DBUS_SYSTEM_BUS_ADDRESS") or "the system bus"
                print(f"journalban watch: cannot connect to {where}: {exc}; retrying",
                      file=sys.stderr)  # fmt: skip
                said_waiting = True
            await asyncio.sleep(RETRY_SECONDS)
            continue
        said_waiting = False
        try:
            await _follow(bus, emit, clock)
        finally:
            bus.disconnect()
        await asyncio.sleep(RETRY_SECONDS)


async def _follow(bus: MessageBus, emit: Emit, clock: Clock) -> None:
    """Print the agent's signals on one connection until it is lost."""
    pending: set[asyncio.Future[None]] = set()

    def on_message(message: Message) -> None:
        if message.message_type != MessageType.SIGNAL:
            return
        now = clock.now()
        if message.member == "NameOwnerChanged":
            new_owner = str(message.body[2]) if len(message.body) == 3 else ""
            if not new_owner:
                emit(watchevents.state_event("stopped", now))
            else:
                # Its State once it is on the bus (the property may change before we ask).
                task = asyncio.ensure_future(_say_state(bus, emit, clock))
                pending.add(task)
                task.add_done_callback(pending.discard)
            return
        if message.interface == contract.MANAGER_INTERFACE:
            for event in watchevents.signal_events(message.member or "", message.body, now):
                emit(event)
        elif message.member == "PropertiesChanged" and message.path == contract.MANAGER_PATH:
            state = watchevents.state_from_properties(message.body)
            if state is not None:
                emit(watchevents.state_event(state, now))

    bus.add_message_handler(on_message)
    for rule in _MATCHES:
        await _bus_call(bus, "AddMatch", "s", [rule])
    await _say_state(bus, emit, clock)
    # How the connection ended does not matter: the caller connects again.
    with contextlib.suppress(Exception):
        await bus.wait_for_disconnect()  # type: ignore[no-untyped-call]


async def _say_state(bus: MessageBus, emit: Emit, clock: Clock) -> None:
    """The agent's current state, "stopped" when it has no owner (never activating it)."""
    try:
        reply = await bus.call(
            Message(
                destination=contract.BUS_NAME,
                path=contract.MANAGER_PATH,
                interface="org.freedesktop.DBus.Properties",
                member="Get",
                signature="ss",
                body=[contract.MANAGER_INTERFACE, "State"],
                flags=MessageFlag.NO_AUTOSTART,
            )
        )
    except (OSError, EOFError):
        return  # the bus went away; the caller connects again
    if reply is None:
        return
    if reply.message_type == MessageType.ERROR:
        if reply.error_name in _NO_OWNER:
            emit(watchevents.state_event("stopped", clock.now()))
        # Any other error (refused, the agent busy starting): the signals still come.
    else:
        emit(watchevents.state_event(str(reply.body[0].value), clock.now()))


async def _bus_call(bus: MessageBus, member: str, signature: str, body: list[Any]) -> None:
    reply = await bus.call(
        Message(
            destination=_DBUS,
            path="/org/freedesktop/DBus",
            interface=_DBUS,
            member=member,
            signature=signature,
            body=body,
        )
    )
    if reply is not None and reply.message_type == MessageType.ERROR:
        raise RuntimeError(f"{member} refused: {reply.error_name} {reply.body}")
