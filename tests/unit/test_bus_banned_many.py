"""bannedmany: a step's many bans as one BannedMany signal, dbus-fast's bytes exactly.

``many_wire`` (the C module's ``pack_banned_many``, and the pure-Python path) is
compared with ``Message._marshall`` of ``many_signal`` with the same serial, over
generated and crafted bans: unicode and empty strings at every padding, IPv6
addresses and prefixes, permanent expiries, runs of every length up to 40. Then
``send_bans`` through a real ``GatheringWriter`` on a socketpair: the threshold (a
run of fewer than ``MANY_FROM`` is a Banned each), the cap per signal (bans and
bytes), the order of bans kept, and a ban the wire cannot carry sent as its own
``Banned`` between the signals of the bans around it. Every test runs twice: through
the C module (skipped where it is not built) and the pure-Python path.
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

from journalban import announcec
from journalban.bus import bannedmany
from journalban.bus.bannedmany import MANY_CAP, MANY_FROM, many_signal, many_wire, send_bans
from journalban.bus.bannedwire import banned_signal
from journalban.bus.writer import GatheringWriter
from journalban.events import Ban


@pytest.fixture(autouse=True, params=["native", "python"])
def _path(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> None:
    """The C module's path, then the pure-Python one."""
    if request.param == "python":
        monkeypatch.setattr(announcec, "NATIVE", None)
    elif announcec.NATIVE is None or not hasattr(announcec.NATIVE, "pack_banned_many"):
        pytest.skip("journalban._announce (with pack_banned_many) is not built")


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


def _ban(rng: random.Random) -> Ban:
    """A ban whose values the wire carries as they are (no counter past ``u``)."""
    return Ban(
        _text(rng), _network(rng), rng.choice([0.0, 1e-7, 1_700_000_000.25, rng.uniform(0, 4e9)]),
        rng.choice([None, 0.0, -3.5, 1_700_003_600.5, rng.uniform(0, 4e9)]),
        rng.randrange(2**32), _text(rng), rng.randrange(2**32), _text(rng),
        lines=("Failed password for hunter2",),
    )  # fmt: skip


def _marshalled(bans: list[Ban], serial: int) -> bytes:
    message = many_signal(bans)
    message.serial = serial
    return bytes(message._marshall(False))


def _single(ban: Ban, serial: int) -> bytes:
    message = banned_signal(ban)
    message.serial = serial
    return bytes(message._marshall(False))


def test_generated_runs_pack_to_dbus_fasts_bytes() -> None:
    rng = random.Random(21)
    for _ in range(300):
        bans = [_ban(rng) for _ in range(rng.randrange(1, 41))]
        serial = rng.randrange(1, 2**32)
        data, stop, refused = many_wire(bans, 0, serial)
        assert (stop, refused) == (len(bans), False)
        assert data == _marshalled(bans, serial)
        start = rng.randrange(len(bans))
        assert many_wire(bans, start, 7)[0] == _marshalled(bans[start:], 7)


@pytest.mark.parametrize("length", range(9))
def test_every_padding_between_the_structs(length: int) -> None:
    """Each string at every length mod 8 in each place of a run, so each struct starts
    after every amount of padding, with one- to four-byte characters."""
    for char in ("x", "é", "日", "😀"):
        text = char * length
        places = [(text, "", ""), ("", text, ""), ("", "", text), (text, text, text)]
        networks = ("192.0.2.1", "2001:db8::1", "10.0.0.0/8", "2001:db8:1:2::/64")
        bans = [
            Ban(jail, ipaddress.ip_network(network), 1.5, 2.5, 3, reason, 4, source)
            for jail, source, reason in places
            for network in networks
        ]
        assert many_wire(bans, 0, length + 1)[0] == _marshalled(bans, length + 1)


def test_no_matched_line_on_the_wire() -> None:
    ban = Ban("sshd", ipaddress.ip_network("192.0.2.1"), 1.0, 2.0, lines=("hunter2",))
    assert b"hunter2" not in many_wire([ban] * 10, 0, 1)[0]


@pytest.mark.parametrize(
    "bad",
    [
        Ban("bad\0jail", ipaddress.ip_network("192.0.2.1"), 1.0, 2.0),
        Ban("lone \udc80 surrogate", ipaddress.ip_network("192.0.2.1"), 1.0, 2.0),
        Ban("sshd", ipaddress.ip_network("192.0.2.1"), 1.0, 2.0, failures=2**32),
        Ban("sshd", ipaddress.ip_network("192.0.2.1"), 1.0, 1e20),
    ],
)
def test_a_ban_the_wire_cannot_carry_stops_the_signal_before_it(bad: Ban) -> None:
    good = [Ban("sshd", ipaddress.ip_network(f"192.0.2.{n}"), 1.0, 2.0) for n in range(10, 15)]
    data, stop, refused = many_wire([*good, bad, *good], 0, 9)
    assert (stop, refused) == (5, True)
    assert data == _marshalled(good, 9)
    assert many_wire([bad, *good], 0, 9) == (b"", 0, True)


def test_the_cap_of_bans_and_of_bytes_a_signal() -> None:
    bans = [Ban("sshd", ipaddress.ip_network(0xC0000200 + n), 1.0, 2.0) for n in range(2500)]
    data, stop, refused = many_wire(bans, 0, 1)
    assert (stop, refused) == (MANY_CAP, False)
    assert data == _marshalled(bans[:MANY_CAP], 1)
    assert many_wire(bans, 2000, 2)[1] == 2500
    wide = [Ban("sshd", ipaddress.ip_network(0xC0000200 + n), 1.0, 2.0, reason="r" * 100_000)
            for n in range(30)]  # fmt: skip
    data, stop, refused = many_wire(wide, 0, 1)
    assert not refused
    assert stop == -(-bannedmany.MANY_BYTES // 100_100)  # (each struct: its reason and more)
    assert data == _marshalled(wide[:stop], 1)


def _bus_on(sock: socket.socket) -> Any:
    """What ``send_bans`` reads of a bus: its writer, its serials and ``send``."""
    serials = iter(range(1, 1_000_000))
    bus = SimpleNamespace(
        _sock=sock, _fd=sock.fileno(), _loop=asyncio.get_running_loop(),
        _finalize=print, _user_disconnect=False, next_serial=lambda: next(serials),
    )  # fmt: skip
    bus._writer = GatheringWriter(bus)
    bus.send = lambda message: bus._writer.schedule_write(message, None)
    return bus


def _sent(runs: list[list[Ban]], expected: bytes) -> bytes:
    """The bytes on the socket after ``send_bans`` of each of ``runs``."""

    async def scenario() -> bytes:
        ours, theirs = socket.socketpair()
        ours.setblocking(False)
        with ours, theirs:
            bus = _bus_on(ours)
            for run in runs:
                send_bans(bus, run)
            theirs.setblocking(False)
            got = bytearray()
            for _ in range(10_000):  # (the writer waits for room on the socket)
                if len(got) >= len(expected):
                    break
                await asyncio.sleep(0.001)
                try:
                    got += theirs.recv(1 << 20)
                except BlockingIOError:
                    continue
            return bytes(got)

    return asyncio.run(scenario())


def _bans(count: int, first: int = 0) -> list[Ban]:
    return [
        Ban("sshd", ipaddress.ip_network(0xC6336400 + first + n), 1.0 + n, 2.0 + n, 5, "failures",
            1, "journal")
        for n in range(count)
    ]  # fmt: skip


def test_a_run_of_fewer_than_the_threshold_is_a_banned_each() -> None:
    few = _bans(MANY_FROM - 1)
    expected = b"".join(_single(ban, i + 1) for i, ban in enumerate(few))
    assert _sent([few], expected) == expected


def test_a_run_from_the_threshold_is_one_banned_many_and_order_is_kept() -> None:
    runs = [_bans(MANY_FROM, 0), _bans(1, 100), _bans(MANY_FROM + 5, 200)]
    expected = _marshalled(runs[0], 1) + _single(runs[1][0], 2) + _marshalled(runs[2], 3)
    assert _sent(runs, expected) == expected


def test_a_long_run_is_cut_at_the_cap_in_order() -> None:
    run = _bans(2 * MANY_CAP + 17)
    expected = (
        _marshalled(run[:MANY_CAP], 1)
        + _marshalled(run[MANY_CAP : 2 * MANY_CAP], 2)
        + _marshalled(run[2 * MANY_CAP :], 3)
    )
    assert _sent([run], expected) == expected


def test_a_ban_the_wire_cannot_carry_goes_as_its_banned_message_between() -> None:
    """A counter past ``u``: its own Banned, the Message clamping it, between the
    BannedMany of the bans before it and that of the bans after it."""
    before, after = _bans(10), _bans(10, 50)
    odd = Ban("sshd", ipaddress.ip_network("192.0.2.99"), 1.0, 2.0, failures=2**40)
    expected = _marshalled(before, 1) + _single(odd, 2) + _marshalled(after, 3)
    assert _sent([[*before, odd, *after]], expected) == expected


def test_without_the_gathering_writer_each_ban_is_a_banned_message() -> None:
    sent: list[Message] = []
    bus: Any = SimpleNamespace(send=sent.append, _writer=object())
    bans = _bans(MANY_FROM + 2)
    send_bans(bus, bans)
    assert [m.body for m in sent] == [banned_signal(ban).body for ban in bans]
