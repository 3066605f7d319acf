"""A stand-in for systemd's StartUnit on a private bus, for the Cockpit page's start button.

    PYTHONPATH=tests python -m support.systemd_standin --address ADDR

The private test bus has no systemd. This process owns
``org.freedesktop.systemd1`` and answers ``Manager.StartUnit(s name, s mode)``
with a job path, printing ``START <name> <mode> uid=<caller's uid>`` for the
test, which then starts the agent as systemd would. It prints ``READY`` once
it owns the name. It asks no polkit (systemd's own actions are not installed
on the private polkitd): it stands in for the call's path, not for systemd's
checks.
"""

from __future__ import annotations

import argparse
import asyncio
import signal

from dbus_fast import BusType, Message, MessageType
from dbus_fast.aio import MessageBus

NAME = "org.freedesktop.systemd1"
PATH = "/org/freedesktop/systemd1"
MANAGER = "org.freedesktop.systemd1.Manager"
# Clients such as cockpit-bridge introspect a method to learn its argument types.
INTROSPECTION = f"""<node>
 <interface name="{MANAGER}">
  <method name="StartUnit">
   <arg type="s" name="name" direction="in"/>
   <arg type="s" name="mode" direction="in"/>
   <arg type="o" name="job" direction="out"/>
  </method>
 </interface>
</node>"""


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--address", required=True)
    args = parser.parse_args()
    bus = await MessageBus(bus_address=args.address, bus_type=BusType.SYSTEM).connect()
    jobs = 0

    async def start_unit(msg: Message) -> None:
        nonlocal jobs
        uid_reply = await bus.call(
            Message(destination="org.freedesktop.DBus", path="/org/freedesktop/DBus",
                    interface="org.freedesktop.DBus", member="GetConnectionUnixUser",
                    signature="s", body=[msg.sender])
        )  # fmt: skip
        uid = uid_reply.body[0] if uid_reply and uid_reply.message_type != MessageType.ERROR else -1
        name, mode = msg.body
        jobs += 1
        print(f"START {name} {mode} uid={uid}", flush=True)
        bus.send(Message.new_method_return(msg, "o", [f"{PATH}/job/{jobs}"]))

    def handle(msg: Message) -> bool | None:
        if msg.message_type != MessageType.METHOD_CALL or not (msg.path or "").startswith(PATH):
            return None
        if (msg.interface, msg.member, msg.signature) == (MANAGER, "StartUnit", "ss"):
            asyncio.get_running_loop().create_task(start_unit(msg))
            return True
        if msg.member == "Introspect":
            bus.send(Message.new_method_return(msg, "s", [INTROSPECTION]))
            return True
        bus.send(Message.new_error(msg, "org.freedesktop.DBus.Error.UnknownMethod", "stand-in"))
        return True

    bus.add_message_handler(handle)
    await bus.request_name(NAME)
    print("READY", flush=True)
    stop = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
    await stop.wait()
    bus.disconnect()


if __name__ == "__main__":
    asyncio.run(main())
