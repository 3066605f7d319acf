"""bannedwire: a ban's Banned signal packed by hand is dbus-fast's, byte for byte.

The bytes ``banned_wire`` packs are compared with ``Message._marshall`` of the
``Message`` the service sent before (``banned_signal``) with the same serial, over
generated and crafted values: unicode and empty strings, every length mod 8 (each
padding case), IPv6 addresses and prefixes, permanent and past expiries, counters
past ``u`` (which ``banned_wire`` leaves to the ``Message``). Sending goes through a real ``GatheringWriter`` on a socketpair; the
real bus test is tests/real/test_bus_banned_burst.py. Every test runs twice: through the
C module (``announcec``; skipped where it is not built) and the pure-Python path.
"""

from __future__ import annotations

import asyncio
import ipaddress
import random
import socket
from types import SimpleNamespace
from typing import Any

import pytest
from dbus_fast import Message
from dbus_fast.errors import InvalidMessageError

from journalban import announcec
from journalban.bus.bannedwire import banned_signal, banned_wire, send_banned
from journalban.bus.convert import USEC
from journalban.bus.writer import GatheringWriter
from journalban.events import Ban


@pytest.fixture(autouse=True, params=["native", "python"])
def _path(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> None:
    """The C module's path, then the pure-Python one."""
    if request.param == "python":
        monkeypatch.setattr(announcec, "NATIVE", None)
    elif announcec.NATIVE is None:
        pytest.skip("journalban._announce is not built")


_TEXT = ["a", "Z", "0", "-", "_", ".", " ", "é", "ß", "日本", "😀", "\u202e", "\t", "\\"]


def _text(rng: random.Random, longest: int = 24) -> str:
    return "".join(rng.choice(_TEXT) for _ in range(rng.randrange(longest + 1)))


def _network(rng: random.Random) -> Any:
    kind = rng.randrange(4)
    if kind == 0:
        return ipaddress.ip_network(rng.getrandbits(32))
    if kind == 1:
        return ipaddress.ip_network(rng.getrandbits(128))
    if kind == 2:
        return ipaddress.ip_network((rng.getrandbits(64) << 64, 64))
    return ipaddress.ip_network((rng.getrandbits(32), rng.randrange(33)), strict=False)


def _number(rng: random.Random) -> int:
    return rng.choice([0, 1, -1, 7, 2**32 - 1, 2**32, 2**40, rng.randrange(-(2**33), 2**70)])


def _time(rng: random.Random) -> float | None:
    return rng.choice([None, 0.0, -3.5, 1e-7, 1_700_000_000.25, rng.uniform(0, 4e9), 1e20])


def _ban(rng: random.Random) -> Ban:
    return Ban(
        _text(rng), _network(rng), _time(rng) or 0.0, _time(rng), _number(rng), _text(rng),
        _number(rng), _text(rng), lines=("Failed password for hunter2",),
    )  # fmt: skip


def _marshalled(ban: Ban, serial: int) -> bytes:
    message = banned_signal(ban)
    message.serial = serial
    return bytes(message._marshall(False))


def _fits(ban: Ban) -> bool:
    """Whether ``convert`` leaves the ban's counters and times as they are."""
    times = [t * USEC for t in (ban.banned_at, ban.expires_at) if t is not None and t > 0]
    return all(0 <= n < 2**32 for n in (ban.failures, ban.ban_count)) and all(
        round(t) < 2**64 for t in times
    )


def test_generated_bans_pack_to_dbus_fasts_bytes() -> None:
    """The same bytes, or (only for a value ``convert`` clamps) a refusal: send_banned
    then sends the Message, which clamps it."""
    rng = random.Random(19)
    packed = 0
    for _ in range(5000):
        ban = _ban(rng)
        serial = rng.randrange(1, 2**32)
        if not _fits(ban):
            with pytest.raises(ValueError, match="cannot pack"):
                banned_wire(ban, serial)
            continue
        assert banned_wire(ban, serial) == _marshalled(ban, serial), ban
        packed += 1
    assert packed > 500


@pytest.mark.parametrize("length", range(17))
def test_every_padding_of_each_string(length: int) -> None:
    """Each string (address, jail, source, reason) at every length mod 8, one at a time
    and all together, with one- to four-byte characters."""
    for char in ("x", "é", "日", "😀"):
        text = char * length
        for jail, source, reason in [(text, "", ""), ("", text, ""), ("", "", text),
                                     (text, text, text)]:  # fmt: skip
            for network in ("192.0.2.1", "2001:db8::1", "10.0.0.0/8", "2001:db8:1:2::/64"):
                ban = Ban(jail, ipaddress.ip_network(network), 1.5, 2.5, 3, reason, 4, source)
                assert banned_wire(ban, length + 1) == _marshalled(ban, length + 1)


def test_long_strings_and_the_largest_serial() -> None:
    ban = Ban("j" * 70_000, ipaddress.ip_network("2001:db8::/32"), 1.0, None, 2**31, "r" * 999,
              2**32 - 1, "é" * 5001)  # fmt: skip
    assert banned_wire(ban, 2**32 - 1) == _marshalled(ban, 2**32 - 1)


def test_no_matched_line_on_the_wire() -> None:
    ban = Ban("sshd", ipaddress.ip_network("192.0.2.1"), 1.0, 2.0, lines=("hunter2",))
    assert b"hunter2" not in banned_wire(ban, 1)


@pytest.mark.parametrize("jail", ["bad\0jail", "lone \udc80 surrogate"])
def test_what_the_wire_cannot_carry_is_refused(jail: str) -> None:
    ban = Ban(jail, ipaddress.ip_network("192.0.2.1"), 1.0, 2.0)
    with pytest.raises(ValueError, match=r"NUL|surrogate"):
        banned_wire(ban, 1)
    with pytest.raises((InvalidMessageError, UnicodeEncodeError)):  # as dbus-fast does
        _marshalled(ban, 1)


def _bus_on(sock: socket.socket) -> Any:
    """What ``send_banned`` reads of a bus: its writer, its serials and ``send``."""
    serials = iter(range(1, 1_000_000))
    bus = SimpleNamespace(
        _sock=sock, _fd=sock.fileno(), _loop=asyncio.get_running_loop(),
        _finalize=print, _user_disconnect=False, next_serial=lambda: next(serials),
    )  # fmt: skip
    bus._writer = GatheringWriter(bus)
    bus.send = lambda message: bus._writer.schedule_write(message, None)
    return bus


def test_send_banned_queues_the_packed_bytes_in_order() -> None:
    """Through the writer, the bytes on the socket are each ban's signal with serials
    1, 2, 3..., those with a counter past ``u`` (sent as their Message) among them."""
    rng = random.Random(7)
    bans = [_ban(rng) for _ in range(300)]
    assert 10 < sum(not _fits(ban) for ban in bans) < 290

    async def scenario() -> tuple[bytes, bytes]:
        ours, theirs = socket.socketpair()
        ours.setblocking(False)
        with ours, theirs:
            bus = _bus_on(ours)
            send_banned(bus, bans)
            expected = b"".join(_marshalled(ban, i + 1) for i, ban in enumerate(bans))
            await asyncio.sleep(0)
            got = bytearray()
            while len(got) < len(expected):
                got += theirs.recv(1 << 20)
            return bytes(got), expected

    got, expected = asyncio.run(scenario())
    assert got == expected


def test_a_ban_the_wire_cannot_carry_goes_as_its_message() -> None:
    bad = Ban("bad\0jail", ipaddress.ip_network("192.0.2.1"), 1.0, 2.0)
    good = Ban("sshd", ipaddress.ip_network("192.0.2.2"), 1.0, 2.0)

    async def scenario() -> list[Any]:
        ours, theirs = socket.socketpair()
        with ours, theirs:
            bus = _bus_on(ours)
            sent: list[Message] = []
            schedule = bus._writer.schedule_write

            def send(message: Message) -> None:
                sent.append(message)
                schedule(message, None)

            bus.send = send
            with pytest.raises(Exception, match="NUL"):
                send_banned(bus, [good, bad, good])
            return [bus._writer._queued, sent]

    queued, sent = asyncio.run(scenario())
    assert queued == [_marshalled(good, 1)]  # and the Message of the bad one was refused
    assert [(m.serial, m.body[1]) for m in sent] == [(2, "bad\0jail")]


def test_without_the_gathering_writer_it_sends_messages() -> None:
    sent: list[Message] = []
    bus: Any = SimpleNamespace(send=sent.append, _writer=object())
    ban = Ban("sshd", ipaddress.ip_network("192.0.2.1"), 1.0, 2.0)
    send_banned(bus, [ban, ban])
    assert [m.body for m in sent] == [banned_signal(ban).body] * 2


def test_a_shape_kept_packs_each_ban_of_it_as_dbus_fast_and_the_memo_is_bounded() -> None:
    """A flood's bans share a shape (address length, jail, source, reason): the shape's
    pack, kept, gives each its own bytes; a shape dropped when the memo is full is made
    again the same."""
    from journalban.bus import bannedwire

    rng = random.Random(5)
    flood = [
        Ban("sshd", ipaddress.ip_network(f"10.0.{rng.randrange(256)}.{rng.randrange(256)}"),
            1_700_000_000.0 + i, 1_700_172_800.0 + i, 1, "account", 1 + i % 3, "journal",
            account="root")
        for i in range(300)
    ]  # fmt: skip
    first = [banned_wire(ban, 100 + i) for i, ban in enumerate(flood)]
    assert first == [_marshalled(ban, 100 + i) for i, ban in enumerate(flood)]
    assert len(bannedwire._shapes) <= bannedwire._KEPT
    for i in range(2 * bannedwire._KEPT):  # other jails' shapes fill the memo
        other = Ban(f"jail{i}", ipaddress.ip_network("192.0.2.1"), 1.0, 2.0)
        assert banned_wire(other, 7) == _marshalled(other, 7)
        assert len(bannedwire._shapes) <= bannedwire._KEPT
    assert [banned_wire(ban, 100 + i) for i, ban in enumerate(flood)] == first
