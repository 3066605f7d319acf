"""A ban's ``Banned`` signal packed straight into D-Bus wire bytes.

A flood's tens of thousands of bans each send one: built as a dbus-fast
``Message`` (5 ``Variant`` objects, the message, its header fields, the
marshaller's walk of ``ssta{sv}``, a future from ``bus.send``) that cost about
6 µs a ban. Every part of the signal but the serial, the body's length and the
body is the same for every ban: the fixed header (path, interface, member,
signature) is taken once from dbus-fast's own marshalling of a template signal,
and only the body is packed here, by the wire format's rules (little-endian;
each value aligned to its size from the start of the message, which the header
leaves at a multiple of 8; strings as a ``u`` length, UTF-8 and a NUL; an
array's length counts from its first element, after the padding to 8 of a dict
entry). The details are ``convert.banned_details``'s five keys, in its order.

``Message._marshall`` of ``banned_signal`` with the same serial gives
the same bytes (tests/unit/test_bus_banned_wire.py). A value packing cannot
take (a lone surrogate, a NUL, a counter out of range) raises ``ValueError``, and the
caller sends the ``Message`` instead, which refuses it the way it always has.
"""

from __future__ import annotations

import struct
from collections.abc import Iterable

from dbus_fast import Message
from dbus_fast.aio import MessageBus

from journalban.bus import contract, convert
from journalban.bus.writer import GatheringWriter
from journalban.events import Ban

SIGNATURE = "ssta{sv}"

_u32 = struct.Struct("<I").pack
_u64 = struct.Struct("<Q").pack
_length_serial = struct.Struct("<II").pack
_PADS = tuple(b"\0" * n for n in range(8))


def _entry(key: str, signature: str, alignment: int) -> bytes:
    """A dict entry's key and variant signature, padded to where its value starts.

    The entry itself starts at a multiple of 8, so this padding never varies."""
    head = _u32(len(key)) + key.encode() + b"\0" + bytes([len(signature)])
    head += signature.encode() + b"\0"
    return head + _PADS[-len(head) % alignment]


_FAILURES = _entry("failures", "u", 4)
_SOURCE = _entry("source", "s", 4)
_BAN_COUNT = _entry("ban_count", "u", 4)
_BANNED_AT = _entry("banned_at_usec", "t", 8)
_REASON = _entry("reason", "s", 4)


def _template() -> tuple[bytes, bytes]:
    """The first 4 bytes and the header fields (padded) of every Banned signal."""
    wire = bytes(
        Message.new_signal(
            contract.MANAGER_PATH, contract.MANAGER_INTERFACE, "Banned", SIGNATURE,
            ["", "", 0, {}],
        )._marshall(False)
    )  # fmt: skip
    (body_length,) = struct.unpack_from("<I", wire, 4)
    return wire[:4], wire[12 : len(wire) - body_length]


_START, _FIELDS = _template()


_before_source = struct.Struct("<QI4x16sI4x").pack  # expires, the array's length, failures
_after_source = struct.Struct("<20sI24sQ").pack  # ban_count, banned_at_usec
_ARRAY_FIXED = 24 + 24 + 32  # the array's bytes in those two packs
# The strings of a small set (jails, sources, reasons) with their padding, by text and
# by where they start (mod 8); a packed address is not kept (a flood's are all new).
_segments: dict[tuple[str, bytes, int, bool], bytes] = {}


def _string(text: str) -> bytes:
    """``text`` as ``s``: its length, its UTF-8 and a NUL."""
    data = text.encode()
    if 0 in data:
        raise ValueError("a string holds a NUL byte")
    return _u32(len(data)) + data + b"\0"


def _segment(text: str, prefix: bytes, offset: int, last: bool = False) -> bytes:
    """``prefix`` then ``text`` as ``s``, starting ``offset`` (mod 8) past a multiple of 8,
    padded to the next multiple of 8 unless it ends the body."""
    key = (text, prefix, offset, last)
    segment = _segments.get(key)
    if segment is None:
        segment = prefix + _PADS[-(offset + len(prefix)) % 4] + _string(text)
        if not last:
            segment += _PADS[-(offset + len(segment)) % 8]
        if len(_segments) >= 256:
            _segments.clear()
        _segments[key] = segment
    return segment


def banned_wire(ban: Ban, serial: int) -> bytes:
    """The whole ``Banned`` signal of ``ban`` as sent with ``serial``.

    Raises:
        ValueError: a value the wire cannot carry (the caller falls back to the
            ``Message``, which reports it as dbus-fast does).
    """
    try:
        address = _string(ban.address)
        address += _PADS[-len(address) % 4]
        jail = _segment(ban.jail, b"", len(address) % 8)
        source = _segment(ban.source, _SOURCE, 0)
        reason = _segment(ban.reason, _REASON, 0, last=True)
        length = _ARRAY_FIXED + len(source) + len(reason)
        body = b"".join((
            address,
            jail,
            _before_source(convert.usec(ban.expires_at), length, _FAILURES,
                           convert.u32(ban.failures)),
            source,
            _after_source(_BAN_COUNT, convert.u32(ban.ban_count), _BANNED_AT,
                          convert.usec(ban.banned_at)),
            reason,
        ))  # fmt: skip
        return b"".join((_START, _length_serial(len(body), serial), _FIELDS, body))
    except (UnicodeError, struct.error, AttributeError, TypeError) as exc:
        raise ValueError(f"cannot pack a Banned signal: {exc}") from exc


def banned_signal(ban: Ban) -> Message:
    """The manager's ``Banned`` signal of ``ban``, as ``ManagerInterface.Banned`` sends it.

    Built here, not through dbus-fast's signal decorator: that checks the body against
    the signature in Python before it marshals it; the body's types are this function's
    own, and marshalling still refuses a value of the wrong type. What ``banned_wire``
    packs, and what is sent when it cannot."""
    return Message.new_signal(
        contract.MANAGER_PATH, contract.MANAGER_INTERFACE, "Banned", SIGNATURE,
        [ban.address, ban.jail, convert.usec(ban.expires_at), convert.banned_details(ban)],
    )  # fmt: skip


def send_banned(bus: MessageBus, bans: Iterable[Ban]) -> None:
    """Send the ``Banned`` signal of each of ``bans`` on ``bus``, in order.

    Packed by ``banned_wire`` and queued as bytes when the bus has the service's
    ``GatheringWriter``; otherwise (and for a value ``banned_wire`` cannot pack) sent
    as a ``Message`` through ``bus.send``."""
    writer = getattr(bus, "_writer", None)
    if not isinstance(writer, GatheringWriter):
        for ban in bans:
            bus.send(banned_signal(ban))
        return
    next_serial = bus.next_serial
    queue = writer.queue_wire
    for ban in bans:
        serial = next_serial()
        try:
            queue(banned_wire(ban, serial))
        except ValueError:
            message = banned_signal(ban)
            message.serial = serial
            bus.send(message)
