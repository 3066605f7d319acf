"""journalban._announce: a run of bans' signals, log lines and firewall entries in C are the
pure-Python path's (and so is the dry-run firewall's batch), and the C functions hold no
references they should not.

Each C function against its Python reference (``announcec.NATIVE`` set to None) on the
same crafted runs: IPv4 and IPv6 addresses and prefixes, networks with and without their
remembered text, non-ASCII and long strings, permanent bans, values of unusual types
(which C hands back to Python), a serial past ``u``. The signals are also compared with
dbus-fast's own marshalling (tests/unit/test_bus_banned_wire.py runs its tests on both
paths too).
"""

from __future__ import annotations

import asyncio
import gc
import ipaddress
import random
import socket
import sys
import tracemalloc
from collections.abc import Callable, Iterator
from types import SimpleNamespace
from typing import Any

import pytest

from journalban import announcec
from journalban.addresses import format_network, stored_network_text
from journalban.agent import banlines
from journalban.agent.banlines import ban_message, ban_messages
from journalban.agent.deciding import AgentDeciding
from journalban.bus import bannedwire
from journalban.bus.bannedwire import banned_signal, send_banned
from journalban.bus.writer import GatheringWriter
from journalban.events import Ban
from journalban.firewall.base import BanEntry
from journalban.firewall.dryrun import DryRunBackend

if announcec.NATIVE is None:
    pytest.skip("journalban._announce is not built", allow_module_level=True)
native: announcec.Native = announcec.NATIVE

_HEAD = bannedwire._START.to_bytes(4, "little")
_CHARS = ["a", "Z", "0", "-", ".", " ", "é", "ß", "日本", "😀", "\u202e", "\t", "'", '"']


def _text(rng: random.Random, longest: int = 20) -> str:
    return "".join(rng.choice(_CHARS) for _ in range(rng.randrange(longest + 1)))


def _network(rng: random.Random) -> Any:
    kind = rng.randrange(6)
    if kind == 0:  # as the deciding makes them: the /32 with its text remembered
        return stored_network_text(f"{ipaddress.IPv4Address(rng.getrandbits(32))}/32")[0]
    if kind == 1:
        return ipaddress.ip_network(rng.getrandbits(32))  # no text remembered
    if kind == 2:
        return ipaddress.ip_network(rng.getrandbits(128))
    if kind == 3:
        return ipaddress.ip_network((rng.getrandbits(64) << 64, 64))
    if kind == 4:
        net = ipaddress.ip_network((rng.getrandbits(128), 32), strict=False)  # v6 .../32
        net._text = str(net)  # type: ignore[union-attr]
        return net
    return ipaddress.ip_network((rng.getrandbits(32), rng.randrange(33)), strict=False)


def _time(rng: random.Random) -> Any:
    return rng.choice(
        [None, 0.0, -3.5, 1e-7, 0.5e-6, 1.5e-6, 2.5e-6, 1_700_000_000.25, rng.uniform(0, 4e9),
         1e20, float("nan"), float("inf"), 1_700_000_000]  # (an int: Python's own way)
    )  # fmt: skip


def _number(rng: random.Random) -> Any:
    return rng.choice([0, 1, 5, 2**32 - 1, 2**32, -1, 2**70, True])


def _ban(rng: random.Random) -> Ban:
    banned_at = rng.choice([1_700_000_000.0, rng.uniform(1, 2e9), 0.0, 1_700_000_000])
    return Ban(
        _text(rng), _network(rng), banned_at, _time(rng), _number(rng), _text(rng),
        _number(rng), _text(rng, 300), ("Failed password for hunter2",), _text(rng),
    )  # fmt: skip


def _bans(seed: int, count: int) -> list[Ban]:
    rng = random.Random(seed)
    return [_ban(rng) for _ in range(count)]


def _finite(ban: Ban) -> bool:
    """Whether its times are finite: an infinite or NaN one raises on both paths (in
    ``round``), before any byte or line is made."""
    return all(t is None or abs(t) < 1e300 for t in (ban.expires_at, ban.banned_at))


def _marshalled(ban: Ban, serial: int) -> bytes:
    message = banned_signal(ban)
    message.serial = serial
    return bytes(message._marshall(False))


def _python(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(announcec, "NATIVE", None)


# ---- the Banned signal


def _pack(bans: list[Ban], serials: Callable[[], int]) -> tuple[bytes, int, int | None]:
    return native.pack_banned(bans, 0, serials, format_network, _HEAD, bannedwire._FIELDS)


def test_each_ban_packed_is_dbus_fasts_bytes_and_python_has_the_rest() -> None:
    """A ban C packs is dbus-fast's bytes; one it leaves (stop 0) is one whose value is
    not of the usual type or is past its D-Bus type: the Python path's."""
    packed = 0
    for i, ban in enumerate(_bans(20, 4000)):
        data, stop, taken = _pack([ban], lambda i=i: i + 1)  # type: ignore[misc]
        assert taken is None
        if stop:
            assert data == _marshalled(ban, i + 1), ban
            packed += 1
            continue
        assert data == b""
        unusual = [ban.expires_at, ban.banned_at, ban.failures, ban.ban_count]
        assert any(
            isinstance(v, bool) or (isinstance(v, int) and not 0 <= v < 2**32)
            or (isinstance(v, float) and (v != v or v * 1e6 >= 2**64))
            or (isinstance(v, int) and v is not ban.failures and v is not ban.ban_count)
            for v in unusual
        ), ban  # fmt: skip
    assert packed > 300


@pytest.mark.parametrize("length", range(17))
def test_every_padding_of_each_string(length: int) -> None:
    for char in ("x", "é", "日", "😀"):
        text = char * length
        for jail, source, reason in [(text, "", ""), ("", text, ""), ("", "", text),
                                     (text, text, text)]:  # fmt: skip
            for network in ("192.0.2.1", "2001:db8::1", "10.0.0.0/8", "2001:db8:1:2::/64"):
                for expires in (2.5, None):
                    net = ipaddress.ip_network(network)
                    ban = Ban(jail, net, 1.5, expires, 3, reason, 4, source)
                    data, stop, _ = _pack([ban], lambda: length + 1)
                    assert stop == 1
                    assert data == _marshalled(ban, length + 1)


def test_a_run_is_the_signals_joined_with_consecutive_serials() -> None:
    bans = [
        Ban("sshd", stored_network_text(f"10.0.{i // 256}.{i % 256}/32")[0], 1.7e9 + i,
            1.7e9 + 86400 + i, 1, "maxretry", 5, "")
        for i in range(1000)
    ]  # fmt: skip
    serials = iter(range(41, 10**6)).__next__
    data, stop, taken = _pack(bans, serials)
    assert (stop, taken) == (1000, None)
    assert data == b"".join(_marshalled(ban, 41 + i) for i, ban in enumerate(bans))


def test_long_strings_and_the_largest_serial() -> None:
    ban = Ban("j" * 70_000, ipaddress.ip_network("2001:db8::/32"), 1.0, None, 2**31, "r" * 999,
              2**32 - 1, "é" * 5001)  # fmt: skip
    data, stop, _ = _pack([ban], lambda: 2**32 - 1)
    assert stop == 1
    assert data == _marshalled(ban, 2**32 - 1)


@pytest.mark.parametrize(
    "change",
    [{"jail": "bad\0jail"}, {"source": "lone \udc80"}, {"reason": "\0"}, {"failures": -1},
     {"ban_count": 2**32}, {"expires_at": float("inf")}, {"expires_at": 3}, {"failures": True},
     {"banned_at": float("nan")}, {"jail": None}],
)  # fmt: skip
def test_a_ban_c_does_not_take_stops_the_run_before_it(change: dict[str, Any]) -> None:
    good = Ban("sshd", ipaddress.ip_network("192.0.2.1"), 1.0, 2.0)
    bad = Ban(**{**{f: getattr(good, f) for f in ("jail", "network", "banned_at",
                                                  "expires_at")}, **change})  # fmt: skip
    serials = iter(range(1, 100)).__next__
    data, stop, taken = _pack([good, bad, good], serials)
    assert (stop, taken) == (1, None)  # no serial taken for the one left
    assert data == _marshalled(good, 1)
    assert serials() == 2


def test_a_serial_past_u_is_handed_back_with_its_ban() -> None:
    ban = Ban("sshd", ipaddress.ip_network("192.0.2.1"), 1.0, 2.0)
    serials = iter([7, 2**32, 9]).__next__
    data, stop, taken = _pack([ban, ban, ban], serials)
    assert (stop, taken) == (1, 2**32)
    assert data == _marshalled(ban, 7)


def test_the_arguments_are_checked() -> None:
    ban = Ban("sshd", ipaddress.ip_network("192.0.2.1"), 1.0, 2.0)
    with pytest.raises(TypeError):
        native.pack_banned((ban,), 0, lambda: 1, format_network, _HEAD, bannedwire._FIELDS)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="head and fields"):
        native.pack_banned([ban], 0, lambda: 1, format_network, b"l", bannedwire._FIELDS)
    with pytest.raises(ValueError, match="head and fields"):
        native.pack_banned([ban], 0, lambda: 1, format_network, _HEAD, b"abc")
    with pytest.raises(ZeroDivisionError):
        native.pack_banned([ban], 0, lambda: 1 // 0, format_network, _HEAD, bannedwire._FIELDS)
    assert native.pack_banned([ban], 5, lambda: 1, format_network, _HEAD, bannedwire._FIELDS)[
        :2
    ] == (b"", 1)


def _bus_on(sock: socket.socket) -> Any:
    serials = iter(range(1, 1_000_000))
    bus = SimpleNamespace(
        _sock=sock, _fd=sock.fileno(), _loop=asyncio.get_running_loop(),
        _finalize=print, _user_disconnect=False, next_serial=lambda: next(serials),
    )  # fmt: skip
    bus._writer = GatheringWriter(bus)
    bus.send = lambda message: bus._writer.schedule_write(message, None)
    return bus


def _sent(bans: list[Ban]) -> bytes:
    """The bytes ``send_banned`` puts on a socket for ``bans``, in runs of 50."""

    async def scenario() -> bytes:
        ours, theirs = socket.socketpair()
        ours.setblocking(False)
        theirs.setblocking(False)
        got = bytearray()
        with ours, theirs:
            bus = _bus_on(ours)
            for start in range(0, len(bans), 50):
                send_banned(bus, iter(bans[start : start + 50]))
                for _ in range(3):
                    await asyncio.sleep(0)
                    try:
                        while chunk := theirs.recv(1 << 20):
                            got += chunk
                    except BlockingIOError:
                        pass
        return bytes(got)

    return asyncio.run(scenario())


def test_send_banned_puts_the_same_bytes_on_the_socket_both_ways(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Crafted runs, the unusual values among them (Python's, or a Message's for what the
    wire's types clamp): byte for byte the pure-Python path's."""
    bans = [  # (a time dbus-fast refuses raises on both paths: not sent here)
        ban for ban in _bans(21, 600)
        if "\0" not in ban.jail and _finite(ban)
    ]  # fmt: skip
    ours = _sent(bans)
    _python(monkeypatch)
    assert ours == _sent(bans)
    assert len(ours) > 600 * 100


# ---- the log lines


def _line_bans() -> list[Ban]:
    rng = random.Random(22)
    jails = ["sshd", "pam-générique", "日本", "x" * 300]
    out = []
    for i in range(3000):
        jail = rng.choice(jails)
        banned_at = rng.choice([1_700_000_000.0, 1_700_000_000, 5.5])
        expires = rng.choice([None, 1_700_086_400.0, 1_700_000_000.0, 1_699_999_000.0,
                              1_700_086_400, float("nan")])  # fmt: skip
        out.append(
            Ban(jail, _network(rng), banned_at, expires, 1 + i % 3, rng.choice(["", "account"]),
                5, rng.choice(["", "fleet:host-é"]), (), rng.choice(["", "root", "ünï", "x'y"]))
        )  # fmt: skip
    return out


def test_ban_lines_are_ban_messages(monkeypatch: pytest.MonkeyPatch) -> None:
    bans = _line_bans()
    banlines._rests.clear()
    ours = ban_messages(bans)
    again = ban_messages(tuple(bans))  # the rests remembered this time
    _python(monkeypatch)
    banlines._rests.clear()
    theirs = ban_messages(bans)
    assert ours == again == theirs
    assert ours == [ban_message(ban) for ban in bans]


def test_ban_lines_with_the_memo_cleared_under_them(monkeypatch: pytest.MonkeyPatch) -> None:
    """The memo full at every few rests (``ban_message`` clears it as C reads it)."""
    monkeypatch.setattr(banlines, "REST_MEMO", 3)
    bans = _line_bans()
    ours = ban_messages(bans)
    _python(monkeypatch)
    assert ours == ban_messages(bans)


# ---- the firewall's entries


def _agent(uses: dict[str, bool], asked: list[str]) -> Any:
    agent: Any = object.__new__(AgentDeciding)

    def uses_firewall(jail: str) -> bool:
        asked.append(jail)
        return uses[jail]

    agent._uses_firewall = uses_firewall
    return agent


def test_ban_entries_are_the_dataclasss(monkeypatch: pytest.MonkeyPatch) -> None:
    rng = random.Random(23)
    uses = {"sshd": True, "web": False, "日本": True}
    bans = [
        Ban(rng.choice(list(uses)), _network(rng), 1.0, rng.choice([None, 2.5, 3]))
        for _ in range(2000)
    ]
    asked: list[str] = []
    ours = AgentDeciding._entries(_agent(uses, asked), bans)
    assert sorted(set(asked)) == sorted(asked)  # each jail asked once
    expected = [BanEntry(b.jail, b.network, b.expires_at) for b in bans if uses[b.jail]]
    assert ours == expected
    assert all(type(e) is BanEntry for e in ours)
    assert [hash(e) for e in ours] == [hash(e) for e in expected]
    assert [repr(e) for e in ours] == [repr(e) for e in expected]
    with pytest.raises(AttributeError):
        ours[0].jail = "x"  # type: ignore[misc]
    _python(monkeypatch)
    assert AgentDeciding._entries(_agent(uses, []), bans) == ours


def test_ban_entries_refuses_another_layout() -> None:
    with pytest.raises(TypeError):
        native.ban_entries([], int, {}, bool)


# ---- the dry-run firewall's batch


def _held(add: list[BanEntry], now: float) -> tuple[Any, Any, list[str]]:
    backend = DryRunBackend()
    backend._bans = {"sshd": {ipaddress.ip_network("192.0.2.1"): 5.0}}  # (one held before)
    banned: dict[str, list[Any]] = {}
    if announcec.NATIVE is None:
        backend._hold(add, now, banned)
    else:
        native.hold_entries(add, now, backend._bans, banned)
    kept = {jail: list(held.items()) for jail, held in backend._bans.items()}
    return kept, banned, [repr(v) for held in backend._bans.values() for v in held.values()]


@pytest.mark.parametrize("now", [1000.0, 1000])
def test_hold_entries_keeps_what_the_python_loop_keeps(
    now: float, monkeypatch: pytest.MonkeyPatch
) -> None:
    rng = random.Random(25)
    jails = ["sshd", "sshd", "web", "日本"]
    add = [
        BanEntry(rng.choice(jails), _network(rng), rng.choice([None, 999.0, 1000.0, 1000,
                 1000.5, 2000, 1e300, float("nan")]))
        for _ in range(3000)
    ]  # fmt: skip
    add += add[:50]  # (held again: the later expiry kept, the network listed again)
    ours = _held(add, now)
    _python(monkeypatch)
    assert ours == _held(add, now)
    assert sum(map(len, ours[1].values())) > 1000


# ---- references and memory


def _refcounts(bans: list[Ban]) -> list[int]:
    banlines._rests.clear()  # (it keeps some of the strings, and is cleared when full)
    gc.collect()
    counts = [
        sys.getrefcount(obj)
        for ban in bans
        for obj in (ban, ban.jail, ban.network, ban.source, ban.reason, ban.account)
    ]
    return [n for n in counts if n < 10**8]  # (not the interpreter's static strings)


def _rounds(work: Callable[[], Any], count: int) -> Iterator[int]:
    tracemalloc.start()
    try:
        for _ in range(count):
            work()
            gc.collect()
            yield tracemalloc.get_traced_memory()[0]
    finally:
        tracemalloc.stop()


@pytest.mark.parametrize("part", ["signals", "lines", "entries", "held"])
def test_many_runs_hold_no_references_and_do_not_grow(part: str) -> None:
    bans = [ban for ban in _bans(24, 300) if "\0" not in ban.jail and _finite(ban)] + [
        Ban("sshd", stored_network_text(f"10.1.{i // 256}.{i % 256}/32")[0], 1.7e9, 1.8e9)
        for i in range(300)
    ]
    serials = iter(range(1, 10**9)).__next__
    uses: dict[str, bool] = {}
    runs: dict[str, Callable[[], Any]] = {
        "signals": lambda: [_pack(bans[i:], serials) for i in range(0, len(bans), 40)],
        "lines": lambda: native.ban_lines(bans, banlines._rests, ban_message, format_network),
        "entries": lambda: native.ban_entries(bans, BanEntry, uses, lambda jail: True),
        "held": lambda: native.hold_entries(entries, 1.0, {}, {}),
    }
    entries = native.ban_entries(bans, BanEntry, {}, lambda jail: True)
    work = runs[part]
    work()
    before = _refcounts(bans)
    sizes = list(_rounds(work, 60))
    assert _refcounts(bans) == before
    assert max(sizes[20:]) - sizes[10] < 64 * 1024, sizes


def test_a_network_that_cannot_be_formatted_raises_as_in_python(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Never a real network: C leaves it to the Python path, which raises (the signals
    before it queued, in order)."""
    good = Ban("sshd", ipaddress.ip_network("192.0.2.1"), 1.0, 2.0)
    bad = Ban("sshd", object(), 1.0, 2.0)  # type: ignore[arg-type]
    data, stop, taken = _pack([good, bad], iter(range(1, 9)).__next__)
    assert (data, stop, taken) == (_marshalled(good, 1), 1, None)

    def outcome() -> tuple[str, list[bytes | bytearray]]:
        async def scenario() -> tuple[str, list[bytes | bytearray]]:
            ours, theirs = socket.socketpair()
            with ours, theirs:
                bus = _bus_on(ours)
                with pytest.raises(AttributeError) as raised:
                    send_banned(bus, [good, bad, good])
                with pytest.raises(AttributeError):
                    ban_messages([good, bad])
                return type(raised.value).__name__, list(bus._writer._queued)

        return asyncio.run(scenario())

    ours = outcome()
    _python(monkeypatch)
    assert ours == outcome()
    assert ours[1] == [_marshalled(good, 1)]
