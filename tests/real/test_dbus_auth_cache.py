"""Kept polkit answers (bus/authcache.py) against the real polkitd on a private bus.

The service keeps polkit's yes to read-only calls per connection for a few
seconds. A rule written into polkitd's rules directory must still take effect
at the very next call: polkitd reloads its rules, says ``Changed``, and the
service forgets what it kept. The caller is ``nobody`` (polkit allows root
everything, whatever the rules), one connection kept open in a child process.
"""

from __future__ import annotations

import asyncio
import json
import subprocess
import time
from collections.abc import Iterator

import pytest
from dbus_fast import Message, MessageType
from dbus_fast.aio import MessageBus

from journalban.bus.authcache import TTL
from support.bus import PYTHON, PrivateBus, ServiceProcess, add_match, as_user

pytestmark = pytest.mark.real

DENIED = "org.freedesktop.DBus.Error.AccessDenied"
DENY_NOBODY_INFO = """
polkit.addRule(function (action, subject) {
    if (action.id == "org.jailban.info" && subject.user == "nobody") {
        return polkit.Result.NO;
    }
});
"""

# One connection as the caller; each line "N" on stdin fires N GetStatus at
# once and prints their outcomes as a JSON list.
CLIENT = """
import asyncio, json, sys
from dbus_fast import Message, MessageType
from dbus_fast.aio import MessageBus

async def main():
    bus = await MessageBus(bus_address=sys.argv[1]).connect()
    loop = asyncio.get_running_loop()
    while line := await loop.run_in_executor(None, sys.stdin.readline):
        msgs = [Message(destination="org.jailban", path="/org/jailban",
                        interface="org.jailban.Manager1", member="GetStatus")
                for _ in range(int(line))]
        replies = await asyncio.gather(*(bus.call(m) for m in msgs))
        print(json.dumps([r.error_name if r.message_type == MessageType.ERROR else "ok"
                          for r in replies]), flush=True)

asyncio.run(main())
"""


class Caller:
    """A client process as ``user`` holding one bus connection."""

    def __init__(self, bus: PrivateBus, user: str) -> None:
        argv = as_user(user, [PYTHON, "-I", "-c", CLIENT, bus.address])
        self.proc = subprocess.Popen(
            argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, env=bus.env()
        )

    def calls(self, count: int = 1) -> list[str]:
        assert self.proc.stdin is not None
        assert self.proc.stdout is not None
        self.proc.stdin.write(f"{count}\n")
        self.proc.stdin.flush()
        line = self.proc.stdout.readline()
        assert line, "the caller process ended"
        outcomes: list[str] = json.loads(line)
        return outcomes

    def close(self) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.close()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        if self.proc.stdout is not None:
            self.proc.stdout.close()


@pytest.fixture(scope="module")
def bus() -> Iterator[PrivateBus]:
    with PrivateBus() as private:
        service = ServiceProcess(private, "journalban")
        try:
            yield private
        finally:
            service.stop()
        assert "Traceback" not in service.stderr_path.read_text()


@pytest.fixture
def caller(bus: PrivateBus) -> Iterator[Caller]:
    client = Caller(bus, "nobody")
    try:
        yield client
    finally:
        client.close()


SETTLE = 0.5  # seconds without another Changed: polkitd is done with a change


class PolkitWatch:
    """polkitd's Changed signal, seen from a connection of the test's own."""

    def __init__(self, address: str) -> None:
        self.loop = asyncio.new_event_loop()
        self.changed = asyncio.Event()
        self.client = self.loop.run_until_complete(self._connect(address))

    async def _connect(self, address: str) -> MessageBus:
        client = await MessageBus(bus_address=address).connect()
        rule = (
            "type='signal',sender='org.freedesktop.PolicyKit1',"
            "interface='org.freedesktop.PolicyKit1.Authority',member='Changed'"
        )
        await add_match(client, rule)

        def on_message(msg: Message) -> None:
            if msg.message_type == MessageType.SIGNAL and msg.member == "Changed":
                self.changed.set()

        client.add_message_handler(on_message)
        return client

    def change(self, act: object) -> None:
        """Run ``act`` (a rules file written or removed) and wait for polkitd's Changed,
        then until none has come for ``SETTLE`` seconds: polkitd may signal one change
        more than once (a file created, then written), and a late Changed of this
        change must not pass for the next one's (a CI run saw the call after a rule's
        removal refused: the unlink's wait had taken the write's second Changed; a
        write gives one or two here). One still unread from before is read first."""
        self.loop.run_until_complete(asyncio.sleep(0.1))  # a Changed still unread: read now
        self.changed.clear()
        assert callable(act)
        act()
        self.loop.run_until_complete(asyncio.wait_for(self.changed.wait(), 20))
        while True:
            self.changed.clear()
            try:
                self.loop.run_until_complete(asyncio.wait_for(self.changed.wait(), SETTLE))
            except TimeoutError:
                return

    def close(self) -> None:
        self.client.disconnect()
        self.loop.run_until_complete(self.client.wait_for_disconnect())  # type: ignore[no-untyped-call]
        self.loop.close()


@pytest.fixture
def polkit(bus: PrivateBus) -> Iterator[PolkitWatch]:
    watch = PolkitWatch(bus.address)
    try:
        yield watch
    finally:
        watch.close()


def test_new_polkit_rule_applies_to_the_next_call(
    bus: PrivateBus, caller: Caller, polkit: PolkitWatch
) -> None:
    assert caller.calls() == ["ok"]  # the yes is kept from here on
    kept_since = time.monotonic()
    rule = bus.polkit_rules / "10-deny-nobody-info.rules"
    try:
        polkit.change(lambda: rule.write_text(DENY_NOBODY_INFO))
        # The service saw Changed before this call (one sender, one order).
        assert caller.calls() == [DENIED]
        # Within the time a yes is kept: refused because it was forgotten, not because it aged.
        assert time.monotonic() - kept_since < TTL
        assert caller.calls(20) == [DENIED] * 20  # a no is never kept nor shared wrongly
    finally:
        polkit.change(rule.unlink)
    assert caller.calls() == ["ok"]


def test_burst_of_reads_from_one_connection_is_answered(caller: Caller) -> None:
    assert caller.calls(100) == ["ok"] * 100
    assert caller.calls(100) == ["ok"] * 100
