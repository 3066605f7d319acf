"""The host's own interface addresses, read with one rtnetlink dump (RTM_GETADDR).

The agent reads them once at start (and at a reload) to protect its own
addresses and on-link networks. pyroute2 did it, but importing pyroute2 costs
about 60 ms of CPU at every start, a twentieth of restoring 100,000 bans; the
dump is a request and a walk over ``ifaddrmsg`` records.
"""

from __future__ import annotations

import errno
import os
import socket
import struct
from typing import Final, Protocol

from journalban.errors import DumpInterrupted
from journalban.netlinkdump import NLM_F_DUMP_INTR, NLMSG_DONE, dump_end, retried

NETLINK_ROUTE: Final = 0
RTM_NEWADDR: Final = 20
RTM_GETADDR: Final = 22
NLM_F_REQUEST: Final = 0x1
NLM_F_DUMP: Final = 0x300
IFA_ADDRESS: Final = 1
IFA_LOCAL: Final = 2
NLA_TYPE_MASK: Final = 0x3FFF

_NLMSGHDR: Final = struct.Struct("=IHHII")
_IFADDRMSG: Final = struct.Struct("=BBBBI")
_NLA: Final = struct.Struct("=HH")


class DumpSocket(Protocol):
    """What one address dump needs of a netlink socket."""

    def sendto(self, data: bytes, address: tuple[int, int], /) -> int: ...

    def recv(self, size: int, /) -> bytes: ...


def interface_addresses() -> list[tuple[str, int]]:
    """(address, prefix length) of every IPv4 and IPv6 address of every interface,
    the local address of a point-to-point link rather than its peer's.

    A dump the kernel marks interrupted (an address came or went while it was
    read) is read again (``netlinkdump.retried``).

    Raises:
        OSError: the kernel refused the dump (or no netlink here).
        AddressDumpInterrupted: every attempt was interrupted (``seen``: what they read).
    """
    with socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, NETLINK_ROUTE) as sock:
        sock.bind((0, 0))
        sock.settimeout(5.0)
        return dump_addresses(sock)


class AddressDumpInterrupted(DumpInterrupted):
    """Every address dump was interrupted; ``seen`` holds every address any of them read.

    The agent protects its own addresses: an address an interrupted dump
    showed is one the host had a moment ago, so protecting all of them errs
    on the safe side (never banning an own address), where no list at all
    would protect none.
    """

    def __init__(self, message: str, errno: int | None, seen: list[tuple[str, int]]) -> None:
        super().__init__(message, errno)
        self.seen = seen


def dump_addresses(sock: DumpSocket) -> list[tuple[str, int]]:
    """The addresses of one RTM_GETADDR dump on ``sock``, asked again while interrupted.

    Raises:
        AddressDumpInterrupted: every attempt was interrupted (with what they read).
    """
    seqs = iter(range(1, 1 << 31))
    seen: dict[tuple[str, int], None] = {}

    def once() -> tuple[list[tuple[str, int]], bool]:
        found, interrupted = dump_once(sock, next(seqs))
        if interrupted:
            seen.update(dict.fromkeys(found))
        return found, interrupted

    try:
        return retried(once, "the host's address dump")
    except DumpInterrupted as exc:
        raise AddressDumpInterrupted(str(exc), exc.errno, list(seen)) from None


def dump_once(sock: DumpSocket, seq: int) -> tuple[list[tuple[str, int]], bool]:
    """One dump read to its NLMSG_DONE: its addresses, and whether it was interrupted."""
    body = _IFADDRMSG.pack(socket.AF_UNSPEC, 0, 0, 0, 0)
    header = _NLMSGHDR.pack(
        _NLMSGHDR.size + len(body), RTM_GETADDR, NLM_F_REQUEST | NLM_F_DUMP, seq, 0
    )
    sock.sendto(header + body, (0, 0))
    found: list[tuple[str, int]] = []
    state = [False]  # interrupted
    while True:
        data = sock.recv(1 << 16)
        if not data:
            raise OSError(errno.EIO, "address dump ended without NLMSG_DONE")
        if _parse(data, seq, found, state):
            return found, state[0]


def _parse(data: bytes, seq: int, found: list[tuple[str, int]], state: list[bool]) -> bool:
    """Append the addresses in one datagram; True at the end of the dump.

    ``state[0]`` becomes True when a message of the dump carries NLM_F_DUMP_INTR.
    """
    offset = 0
    while offset + _NLMSGHDR.size <= len(data):
        length, kind, flags, got_seq, _pid = _NLMSGHDR.unpack_from(data, offset)
        if length < _NLMSGHDR.size:
            raise OSError(errno.EPROTO, "address dump: a malformed netlink message")
        if got_seq == seq:
            if flags & NLM_F_DUMP_INTR:
                state[0] = True
            code = dump_end(kind, data[offset + _NLMSGHDR.size : offset + length])
            if code is not None:
                if code:
                    done = "failed" if kind == NLMSG_DONE else "refused"
                    raise OSError(code, f"address dump {done}: {os.strerror(code)}")
                return True
            if kind == RTM_NEWADDR:
                _address(data, offset + _NLMSGHDR.size, offset + length, found)
        offset += (length + 3) & ~3
    return False


def _address(data: bytes, start: int, end: int, found: list[tuple[str, int]]) -> None:
    family, prefixlen, _flags, _scope, _index = _IFADDRMSG.unpack_from(data, start)
    if family not in (socket.AF_INET, socket.AF_INET6):
        return
    attrs: dict[int, bytes] = {}
    pos = start + _IFADDRMSG.size
    while pos + _NLA.size <= end:
        length, kind = _NLA.unpack_from(data, pos)
        if length < _NLA.size:
            break
        attrs[kind & NLA_TYPE_MASK] = data[pos + _NLA.size : pos + length]
        pos += (length + 3) & ~3
    raw = attrs.get(IFA_LOCAL) or attrs.get(IFA_ADDRESS)
    if raw and len(raw) == (4 if family == socket.AF_INET else 16):
        found.append((socket.inet_ntop(family, raw), prefixlen))
