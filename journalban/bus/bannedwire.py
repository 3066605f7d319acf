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
A signal is one ``struct`` pack, its format made once per shape (the address's
length in bytes, the jail, source and reason) and kept.

``Message._marshall`` of ``banned_signal`` with the same serial gives
the same bytes (tests/unit/test_bus_banned_wire.py). For a value packing leaves
alone (a lone surrogate or a NUL, which dbus-fast refuses; a counter past ``u`` or
a time past ``t``, which ``convert`` clamps) ``banned_wire`` raises ``ValueError``
and ``send_banned`` sends the ``Message`` instead, as before. The bytes of a run
of bans go to the writer joined, as one item of its queue. Where the C module is built
(``announcec``) a run is packed there in one call, by the same rules (its own
writes, not these formats), a ban it does not take left to ``_pack_run``; the tests
compare both with dbus-fast.
"""

from __future__ import annotations

import struct
from collections.abc import Callable, Iterable, Iterator

from dbus_fast import Message
from dbus_fast.aio import MessageBus

from journalban import announcec
from journalban.addresses import format_network
from journalban.bus import contract, convert
from journalban.bus.writer import GatheringWriter
from journalban.events import Ban

SIGNATURE = "ssta{sv}"

_u32 = struct.Struct("<I").pack
_PADS = tuple(b"\0" * n for n in range(8))
# A string's NUL and the padding to 4 after it, by its length mod 4.
_ENDS = tuple(b"\0" * (1 + -(n + 1) % 4) for n in range(4))


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


def _template() -> tuple[int, bytes]:
    """The first 4 bytes (as a ``u``) and the header fields (padded) of every Banned signal."""
    wire = bytes(
        Message.new_signal(
            contract.MANAGER_PATH, contract.MANAGER_INTERFACE, "Banned", SIGNATURE,
            ["", "", 0, {}],
        )._marshall(False)
    )  # fmt: skip
    (body_length,) = struct.unpack_from("<I", wire, 4)
    return int.from_bytes(wire[:4], "little"), wire[12 : len(wire) - body_length]


_START, _FIELDS = _template()
# The details array's fixed parts around the source: expires (``Q``), the array's length
# (``I``), failures' entry and value (40 bytes), ban_count's and banned_at_usec's (56).
_ARRAY_FIXED = 24 + 24 + 32  # the array's bytes in those two parts
_AROUND_SOURCE = 40 + 56  # the bytes of those two parts
_USEC = convert.USEC

# The strings of small sets (jails, sources, reasons), packed with their padding; a
# jail by where it starts (after an address padded to 4: 0 or 4 past a multiple of 8).
# An address is packed each time (a flood's are all new).
_jails: tuple[dict[str, bytes], dict[str, bytes]] = ({}, {})
_sources: dict[str, bytes] = {}
_reasons: dict[str, bytes] = {}
_KEPT = 256


def _packed(text: str) -> bytes:
    """``text`` as ``s``: its length, its UTF-8 and a NUL."""
    data = text.encode()
    if 0 in data:
        raise ValueError("a string holds a NUL byte")
    return _u32(len(data)) + data + b"\0"


def _segment(kept: dict[str, bytes], text: str, prefix: bytes, offset: int, last: bool) -> bytes:
    """``prefix`` then ``text`` as ``s``, starting ``offset`` bytes past a multiple of 8,
    padded to the next multiple of 8 unless it ends the body; kept in ``kept``."""
    segment = prefix + _PADS[-(offset + len(prefix)) % 4] + _packed(text)
    if not last:
        segment += _PADS[-(offset + len(segment)) % 8]
    if len(kept) >= _KEPT:
        kept.clear()
    kept[text] = segment
    return segment


# A signal's shape (its address's length in bytes, its jail, source and reason) -> the
# pack of the whole signal and what it packs the same for every ban of that shape: the
# body's length, the details array's length and the three strings' segments. A flood's
# bans are a few shapes (one jail, source and reason; an IPv4 address is 7-15 bytes).
Shape = tuple[Callable[..., bytes], int, int, bytes, bytes, bytes]
_shapes: dict[tuple[int, str, str, str], Shape] = {}


def _shape(size: int, jail: str, source: str, reason: str) -> Shape:
    """The ``Shape`` of a signal whose address is ``size`` bytes, kept in ``_shapes``."""
    end = len(_ENDS[size % 4])  # (the address's NUL and its padding to 4)
    offset = (4 + size + end) % 8
    jail_segment = _jails[offset >> 2].get(jail) or _segment(
        _jails[offset >> 2], jail, b"", offset, False
    )
    source_segment = _sources.get(source) or _segment(_sources, source, _SOURCE, 0, False)
    reason_segment = _reasons.get(reason) or _segment(_reasons, reason, _REASON, 0, True)
    length = len(source_segment) + len(reason_segment)
    # the head, the address (length, bytes, padding), the jail, expires, the array's
    # length and failures (``_before_source``), the source, ban_count and banned_at_usec
    # (``_after_source``), the reason
    pack = struct.Struct(
        f"<III{len(_FIELDS)}sI{size}s{end}x{len(jail_segment)}sQI4x16sI4x"
        f"{len(source_segment)}s20sI24sQ{len(reason_segment)}s"
    ).pack
    body = 4 + size + end + len(jail_segment) + _AROUND_SOURCE + length
    if len(_shapes) >= _KEPT:
        _shapes.clear()
    found = _shapes[(size, jail, source, reason)] = (
        pack,
        body,
        _ARRAY_FIXED + length,
        jail_segment,
        source_segment,
        reason_segment,
    )
    return found


def banned_wire(ban: Ban, serial: int) -> bytes:
    """The whole ``Banned`` signal of ``ban`` as sent with ``serial``.

    Raises:
        ValueError: a value the wire cannot carry, or one ``convert`` would change (a
            counter past ``u``, a time past ``t``): the caller sends the ``Message``,
            which converts it, or refuses it as dbus-fast does.
    """
    native = announcec.NATIVE
    if native is not None:
        data, stop, _ = native.pack_banned(
            [ban], 0, lambda: serial, format_network, _START.to_bytes(4, "little"), _FIELDS
        )
        if stop:
            return data
    out: list[bytes] = []
    refused = _pack_run(iter((ban,)), lambda: serial, out)
    if refused is not None:
        raise refused[2]
    return out[0]


# A ban ``_pack_run`` could not pack: the ban, the serial it took and why.
Refused = tuple[Ban, int, ValueError]


def _pack_run(
    bans: Iterator[Ban], next_serial: Callable[[], int], out: list[bytes]
) -> Refused | None:
    """Pack each ban ``bans`` yields, with a serial each from ``next_serial``, onto
    ``out``, until one cannot be packed: that one is returned (``bans`` then resumes
    after it), None when ``bans`` is exhausted.

    One loop for a run of bans, not a call of Python per ban (a flood's thousands):
    its lookups made once, the shape looked up again only when it changes."""
    add = out.append
    shapes = _shapes
    usec = _USEC
    start, fields, failures_key = _START, _FIELDS, _FAILURES
    count_key, banned_at_key = _BAN_COUNT, _BANNED_AT
    for ban in bans:
        serial = next_serial()
        try:
            # (``ban.address`` without its property's call: one frame of Python less a ban)
            data = format_network(ban.network).encode()
            if 0 in data:
                raise ValueError("a string holds a NUL byte")
            size, jail, source, reason = len(data), ban.jail, ban.source, ban.reason
            pack, body, array, jail_segment, source_segment, reason_segment = shapes.get(
                (size, jail, source, reason)
            ) or _shape(size, jail, source, reason)
            # convert.usec's rounding; a value it would clamp fails to pack (struct.error),
            # and so does a counter convert.u32 would clamp.
            expires = ban.expires_at
            expires_usec = 0 if expires is None or expires <= 0 else round(expires * usec)
            banned_at = ban.banned_at
            banned_usec = 0 if banned_at <= 0 else round(banned_at * usec)
            add(
                pack(
                    start, body, serial, fields, size, data, jail_segment, expires_usec,
                    array, failures_key, ban.failures, source_segment, count_key,
                    ban.ban_count, banned_at_key, banned_usec, reason_segment,
                )
            )  # fmt: skip
        except (UnicodeError, struct.error, AttributeError, TypeError) as exc:
            refused = ValueError(f"cannot pack a Banned signal: {exc}")
            refused.__cause__ = exc
            return ban, serial, refused
        except ValueError as exc:  # (a NUL: as it was raised)
            return ban, serial, exc
    return None


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
    native = announcec.NATIVE
    if native is not None:
        _send_natively(native.pack_banned, bus, writer, bans)
        return
    packed: list[bytes] = []
    left = iter(bans)
    while (refused := _pack_run(left, next_serial, packed)) is not None:
        ban, serial, _ = refused
        if packed:  # first what came before it, in order
            writer.queue_wire(b"".join(packed))
            packed.clear()
        message = banned_signal(ban)
        message.serial = serial
        bus.send(message)
    if packed:
        writer.queue_wire(b"".join(packed))


def _send_natively(
    pack: Callable[..., tuple[bytes, int, int | None]],
    bus: MessageBus,
    writer: GatheringWriter,
    bans: Iterable[Ban],
) -> None:
    """``send_banned`` through the C module: the run's signals packed in one call (their
    bytes one item of the writer's queue), up to a ban it leaves to ``_pack_run``, which
    packs or refuses that one as it would have (with the serial C took for it, if any)."""
    run = bans if isinstance(bans, list) else list(bans)
    next_serial = bus.next_serial
    head = _START.to_bytes(4, "little")
    start = 0
    while start < len(run):
        data, stop, taken = pack(run, start, next_serial, format_network, head, _FIELDS)
        if data:
            writer.queue_wire(data)
        if stop >= len(run):
            return
        packed: list[bytes] = []
        serials = next_serial if taken is None else iter((taken,)).__next__
        refused = _pack_run(iter((run[stop],)), serials, packed)
        if refused is None:
            writer.queue_wire(packed[0])
        else:
            message = banned_signal(refused[0])
            message.serial = refused[1]
            bus.send(message)
        start = stop + 1
