"""Netlink for nf_tables, packed with ``struct``: attributes, batches, dumps.

pyroute2's nftables layer encodes every element through its generic message
classes (about 20k elements/s here), lacks interval sets and most rule
expressions, and its "get" calls fail; so the few message shapes journalban
needs are packed and parsed here directly. Integers inside nf_tables
attributes are big-endian; netlink headers are in host order.
"""

from __future__ import annotations

import contextlib
import errno as errno_codes
import os
import socket
import struct
import threading
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Final, Union

from journalban.errors import BackendError
from journalban.netlinkdump import NLM_F_DUMP_INTR, NLMSG_ERROR, dump_end, retried

NETLINK_NETFILTER: Final = 12
NFNL_SUBSYS_NFTABLES: Final = 10
NFNL_MSG_BATCH_BEGIN: Final = 0x10
NFNL_MSG_BATCH_END: Final = 0x11
NLM_F_REQUEST: Final = 0x1
NLM_F_MULTI: Final = 0x2
NLM_F_ACK: Final = 0x4
NLM_F_DUMP: Final = 0x300
NLM_F_CREATE: Final = 0x400
NLA_F_NESTED: Final = 0x8000
NFPROTO_UNSPEC: Final = 0
NFPROTO_INET: Final = 1
SOL_NETLINK: Final = 270
NETLINK_CAP_ACK: Final = 10
SO_SNDBUFFORCE: Final = 32
SO_RCVBUFFORCE: Final = 33

_NLMSGHDR: Final = struct.Struct("=IHHII")
_NFGENMSG: Final = struct.Struct("=BBH")
_NLA: Final = struct.Struct("=HH")
_ERRNO: Final = struct.Struct("=i")
_HEADERS: Final = _NLMSGHDR.size + _NFGENMSG.size
# One nf_tables message must stay well under the u16 length of its element list.
MAX_ATTR_PAYLOAD: Final = 60_000
# One transaction (sendmsg) at most; bigger work is split into several.
MAX_BATCH_BYTES: Final = 4 << 20

Attr = tuple[int, Union[bytes, "list[Attr]"]]


def be32(value: int) -> bytes:
    return value.to_bytes(4, "big")


def be64(value: int) -> bytes:
    return value.to_bytes(8, "big")


def cstr(text: str) -> bytes:
    return text.encode() + b"\0"


def pad4(length: int) -> int:
    return (length + 3) & ~3


def attr(kind: int, value: bytes) -> bytes:
    """One attribute, padded to four bytes."""
    length = _NLA.size + len(value)
    return _NLA.pack(length, kind) + value + b"\0" * (pad4(length) - length)


def nest(kind: int, children: Iterable[bytes]) -> bytes:
    body = b"".join(children)
    return _NLA.pack(_NLA.size + len(body), kind | NLA_F_NESTED) + body


def encode(attrs: Sequence[Attr]) -> bytes:
    """Attributes from a tree: bytes are leaves, lists are nests."""
    return b"".join(
        nest(kind, [encode(value)]) if isinstance(value, list) else attr(kind, value)
        for kind, value in attrs
    )


def decode(data: bytes | memoryview, offset: int = 0, end: int | None = None) -> dict[int, bytes]:
    """The attributes in ``data[offset:end]`` by type (the last one wins; nests stay bytes)."""
    found: dict[int, bytes] = {}
    for kind, value in iter_attrs(data, offset, end):
        found[kind] = value
    return found


def iter_attrs(
    data: bytes | memoryview, offset: int = 0, end: int | None = None
) -> Iterator[tuple[int, bytes]]:
    stop = len(data) if end is None else end
    while offset + _NLA.size <= stop:
        length, kind = _NLA.unpack_from(data, offset)
        if length < _NLA.size:
            break
        yield kind & ~NLA_F_NESTED, bytes(data[offset + _NLA.size : offset + length])
        offset += pad4(length)


def text(value: bytes) -> str:
    return value.rstrip(b"\0").decode(errors="replace")


@dataclass(frozen=True, slots=True)
class Message:
    """One nf_tables request: ``kind`` is an NFT_MSG_* number, ``payload`` its attributes."""

    kind: int
    payload: bytes
    flags: int = 0
    family: int = NFPROTO_INET

    @property
    def attrs(self) -> dict[int, bytes]:
        return decode(self.payload)


def _header(msg_type: int, flags: int, seq: int, family: int, res_id: int, size: int) -> bytes:
    return _NLMSGHDR.pack(_HEADERS + size, msg_type, flags, seq, 0) + _NFGENMSG.pack(
        family, 0, socket.htons(res_id)
    )


def split_batches(messages: Sequence[Message]) -> list[list[Message]]:
    """Messages grouped into transactions of at most ``MAX_BATCH_BYTES``."""
    batches: list[list[Message]] = [[]]
    size = 0
    for message in messages:
        cost = _HEADERS + len(message.payload)
        if batches[-1] and size + cost > MAX_BATCH_BYTES:
            batches.append([])
            size = 0
        batches[-1].append(message)
        size += cost
    return [b for b in batches if b]


class NftSocket:
    """A NETLINK_NETFILTER socket in the calling thread's network namespace."""

    def __init__(self) -> None:
        self._sock = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, NETLINK_NETFILTER)
        self._sock.bind((0, 0))
        for option, size in ((SO_SNDBUFFORCE, MAX_BATCH_BYTES * 2), (SO_RCVBUFFORCE, 8 << 20)):
            # Without CAP_NET_ADMIN the kernel refuses the batches anyway.
            with contextlib.suppress(PermissionError):
                self._sock.setsockopt(socket.SOL_SOCKET, option, size)
        self._sock.setsockopt(SOL_NETLINK, NETLINK_CAP_ACK, 1)
        self._sock.settimeout(30.0)
        self._seq = int.from_bytes(os.urandom(2), "big") << 8
        # One request and its answers at a time: the agent's integrity check and
        # its bans run in different threads, and a dump reading a batch's acks
        # (and dropping them as not its own) left the batch waiting 30 s.
        self._lock = threading.RLock()

    def close(self) -> None:
        self._sock.close()

    def _next_seq(self) -> int:
        self._seq = (self._seq + 1) & 0x7FFFFFFF
        return self._seq

    def transact(self, messages: Sequence[Message]) -> None:
        """Send ``messages`` as one or more atomic batches and wait for the kernel's answer.

        Raises:
            BackendError: the kernel refused a message; that batch changed nothing.
        """
        with self._lock:
            for batch in split_batches(messages):
                self._transact_one(batch)

    def _transact_one(self, batch: Sequence[Message]) -> None:
        parts = [
            _header(
                NFNL_MSG_BATCH_BEGIN, NLM_F_REQUEST, self._next_seq(), 0, NFNL_SUBSYS_NFTABLES, 0
            )
        ]
        first = self._seq + 1
        for message in batch:
            msg_type = (NFNL_SUBSYS_NFTABLES << 8) | message.kind
            flags = NLM_F_REQUEST | NLM_F_ACK | message.flags
            parts.append(
                _header(msg_type, flags, self._next_seq(), message.family, 0, len(message.payload))
            )
            parts.append(message.payload)
        last = self._seq
        parts.append(
            _header(NFNL_MSG_BATCH_END, NLM_F_REQUEST, self._next_seq(), 0, NFNL_SUBSYS_NFTABLES, 0)
        )
        self._sock.sendall(b"".join(parts))
        # nfnetlink handles the whole batch inside sendmsg, so every answer is queued now.
        failure: tuple[int, int] | None = None
        waiting = set(range(first, last + 1))
        while waiting:
            for msg_type, _flags, seq, body in self._receive():
                if msg_type != NLMSG_ERROR:
                    continue
                code = -_ERRNO.unpack_from(body)[0]
                if seq not in waiting and code:
                    # An error about the batch itself (EPERM, ENOMEM): no acks follow.
                    raise BackendError(f"nf_tables refused the batch: {os.strerror(code)}", code)
                waiting.discard(seq)
                if code and failure is None:
                    failure = (code, seq - first)
        if failure is not None:
            code, index = failure
            kind = batch[index].kind if 0 <= index < len(batch) else -1
            raise BackendError(
                f"nf_tables refused message {index} (type {kind}): {os.strerror(code)}", code
            )

    def dump(self, kind: int, payload: bytes = b"", family: int = NFPROTO_INET) -> list[bytes]:
        """The bodies (after nfgenmsg) of every message a GET dump returns.

        A dump the kernel marks interrupted (NLM_F_DUMP_INTR: the ruleset changed
        while it was read) is asked for again (``netlinkdump.retried``).

        Raises:
            BackendError: the kernel answered with an error (ENOENT: no such table/set).
            DumpInterrupted: every attempt was interrupted.
        """
        with self._lock:
            return retried(
                lambda: self.dump_once(kind, payload, family),
                f"nf_tables dump (message type {kind})",
            )

    def dump_once(
        self, kind: int, payload: bytes = b"", family: int = NFPROTO_INET
    ) -> tuple[list[bytes], bool]:
        """One dump read to its NLMSG_DONE: its bodies, and whether it was interrupted."""
        with self._lock:
            return self._dump_once(kind, payload, family)

    def _dump_once(self, kind: int, payload: bytes, family: int) -> tuple[list[bytes], bool]:
        seq = self._next_seq()
        msg_type = (NFNL_SUBSYS_NFTABLES << 8) | kind
        self._sock.sendall(
            _header(msg_type, NLM_F_REQUEST | NLM_F_DUMP, seq, family, 0, len(payload)) + payload
        )
        bodies: list[bytes] = []
        interrupted = False
        while True:
            for msg_type, flags, got_seq, body in self._receive():
                if got_seq != seq:
                    continue
                interrupted |= bool(flags & NLM_F_DUMP_INTR)
                code = dump_end(msg_type, body)
                if code is not None:
                    if code:
                        raise BackendError(
                            f"nf_tables dump {kind} failed: {os.strerror(code)}", code
                        )
                    return bodies, interrupted
                bodies.append(body[_NFGENMSG.size :])

    def _receive(self) -> Iterator[tuple[int, int, int, bytes]]:
        try:
            data = self._sock.recv(1 << 20)
        except OSError as exc:
            raise BackendError(f"netlink receive failed: {exc}", exc.errno) from exc
        offset = 0
        while offset + _NLMSGHDR.size <= len(data):
            length, msg_type, flags, seq, _pid = _NLMSGHDR.unpack_from(data, offset)
            if length < _NLMSGHDR.size:
                break
            yield msg_type, flags, seq, data[offset + _NLMSGHDR.size : offset + length]
            offset += pad4(length)


def is_missing(exc: BackendError) -> bool:
    """True when the kernel said the table, chain, set or element does not exist."""
    return exc.errno == errno_codes.ENOENT
