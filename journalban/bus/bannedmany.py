"""A step's many bans as one ``BannedMany`` signal, a step's few as a ``Banned`` each.

A flood's step (a run of bans announced together, up to ``ANNOUNCE_SLICE``) sent a
``Banned`` signal per ban: on the sshd-flood corpus 55,398 messages, each routed by
dbus-daemon to every connection with a matching rule (0.37 s of its CPU on 2 cores,
plus the agent's writes). On a real host that is an amplification: each failing line
an attacker sends could become a message on the system bus that wakes every client
with a broad match rule. A run of ``MANY_FROM`` or more bans is sent instead as
``BannedMany(a(ssta{sv}) bans)``, each element exactly a ``Banned`` signal's arguments,
at most ``MANY_CAP`` bans (and about ``MANY_BYTES`` of array) a signal, more signals for
more, in order. A run of fewer still sends ``Banned`` each: a host's ordinary steps
(a commit of one journal batch) hold one or two bans, so a script that watches
``Banned`` sees every ban at normal rates.

The wire: the body is the array's length (``u``), padding to 8, then each struct at a
multiple of 8 from the message's start. A struct ``(ssta{sv})`` at a multiple of 8 is
laid out exactly as a ``Banned`` signal's body, which also starts at a multiple of 8
(the header is padded to 8): so the pure-Python path packs each ban's ``Banned``
signal with ``bannedwire._pack_run`` and keeps its body. The C module
(``announcec``'s ``pack_banned_many``) writes the whole signal in one call, by the same
rules. Both are compared with dbus-fast's ``Message._marshall`` of ``many_signal``
(tests/unit/test_bus_banned_many.py). A ban neither path packs (a value the wire
cannot carry, or one ``convert`` would clamp) is sent as its own ``Banned`` through
``bannedwire``, which sends the ``Message`` as before, between the signals of the bans
before and after it.
"""

from __future__ import annotations

import struct
from collections.abc import Callable, Sequence
from typing import Final

from dbus_fast import Message
from dbus_fast.aio import MessageBus

from journalban import announcec
from journalban.addresses import format_network
from journalban.bus import bannedwire, contract, convert
from journalban.bus.writer import GatheringWriter
from journalban.events import Ban

MEMBER: Final = "BannedMany"
SIGNATURE: Final = "a(ssta{sv})"
MANY_FROM: Final = 8
"""The fewest bans of a run sent as one ``BannedMany``: fewer are a ``Banned`` each.
From 8 bans the bus daemon's saving is most of its cost (one message routed, not 8);
below it a step is one a host sees in normal operation, which keeps ``Banned`` for it."""
MANY_CAP: Final = 1000
"""The most bans in one ``BannedMany`` (a client's reader takes each signal whole)."""
MANY_BYTES: Final = 1 << 20
"""No ban is added to a ``BannedMany`` once its array holds this many bytes (far under
the system bus's message limit, whatever the jails' and reasons' lengths)."""

_u32 = struct.Struct("<I").pack
_HEADER = 12 + len(bannedwire._FIELDS)  # a Banned signal's bytes before its body


def _template() -> tuple[bytes, bytes]:
    """The first 4 bytes and the header fields (padded to 8) of every BannedMany signal."""
    wire = bytes(
        Message.new_signal(
            contract.MANAGER_PATH, contract.MANAGER_INTERFACE, MEMBER, SIGNATURE, [[]]
        )._marshall(False)
    )
    (body_length,) = struct.unpack_from("<I", wire, 4)
    return wire[:4], wire[12 : len(wire) - body_length]


_HEAD, _FIELDS = _template()


def many_signal(bans: Sequence[Ban]) -> Message:
    """The manager's ``BannedMany`` signal of ``bans`` as dbus-fast builds it (what the
    packers are compared with; ``ManagerInterface.BannedMany`` declares it)."""
    return Message.new_signal(
        contract.MANAGER_PATH, contract.MANAGER_INTERFACE, MEMBER, SIGNATURE,
        [[[ban.address, ban.jail, convert.usec(ban.expires_at), convert.banned_details(ban)]
          for ban in bans]],
    )  # fmt: skip


def _pack_many(
    bans: list[Ban], start: int, limit: int, max_bytes: int, serial: int
) -> tuple[bytes, int, bool]:
    """``pack_banned_many`` in Python: one signal of ``bans[start:stop]``, ``stop`` and
    whether ``bans[stop]`` is a ban left to ``bannedwire`` (see the C function's doc)."""
    packed: list[bytes] = []
    run = bans[start : start + limit]
    refused = bannedwire._pack_run(iter(run), lambda: 1, packed) is not None
    parts: list[bytes] = []
    size = 0
    count = 0
    for wire in packed:
        if size >= max_bytes:
            refused = False  # (stopped by the size, before the refused ban)
            break
        gap = -size % 8
        if gap:
            parts.append(bannedwire._PADS[gap])
        body = wire[_HEADER:]
        parts.append(body)
        size += gap + len(body)
        count += 1
    stop = start + count
    if not count:
        return b"", stop, refused
    head = _HEAD + _u32(8 + size) + _u32(serial) + _FIELDS + _u32(size) + bytes(4)
    return head + b"".join(parts), stop, refused


def _packer() -> Callable[..., tuple[bytes, int, bool]]:
    """The C module's ``pack_banned_many`` (None for a build older than it), else
    ``_pack_many`` with the same arguments."""
    native = getattr(announcec.NATIVE, "pack_banned_many", None)
    if native is None:
        return lambda bans, start, limit, max_bytes, serial, *_: _pack_many(
            bans, start, limit, max_bytes, serial
        )
    return native  # type: ignore[no-any-return]


def many_wire(bans: list[Ban], start: int, serial: int) -> tuple[bytes, int, bool]:
    """One ``BannedMany`` of ``bans`` from ``start`` with ``serial``: its bytes (empty when
    ``bans[start]`` is refused), the index after its last ban and whether the ban there
    was refused (``bannedwire`` sends it)."""
    pack = _packer()
    return pack(bans, start, MANY_CAP, MANY_BYTES, serial, format_network, _HEAD, _FIELDS)


def send_bans(bus: MessageBus, bans: Sequence[Ban]) -> None:
    """Announce a run of bans on ``bus``, in order: ``BannedMany`` signals for a run of
    ``MANY_FROM`` or more, else ``Banned`` each (``bannedwire.send_banned``).

    Without the service's ``GatheringWriter`` (a dbus-fast whose internals changed)
    every ban is a ``Banned``, sent as a ``Message``, as before."""
    writer = getattr(bus, "_writer", None)
    if len(bans) < MANY_FROM or not isinstance(writer, GatheringWriter):
        bannedwire.send_banned(bus, bans)
        return
    run = bans if isinstance(bans, list) else list(bans)
    pack = _packer()
    start = 0
    while start < len(run):
        data, stop, refused = pack(
            run, start, MANY_CAP, MANY_BYTES, bus.next_serial(), format_network, _HEAD, _FIELDS
        )
        if data:
            writer.queue_wire(data)
        if refused:
            bannedwire.send_banned(bus, run[stop : stop + 1])
            stop += 1
        start = max(stop, start + 1)
