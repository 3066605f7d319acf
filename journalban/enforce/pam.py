"""The PAM check's server: yes or no for one login, asked by ``journalban pam-check``.

A unix socket (``enforcement.pam.listen``, 0600) where each connection
carries one request line from ``journalban.pamcheck`` and gets ``yes`` or
``no`` back (``error: WHY`` for a request it cannot read), then is closed.
Only callers running as root are answered (the socket's peer credentials,
``SO_PEERCRED``): PAM modules run in root's login services, and anything
else asking would learn which accounts are under attack. The answer is
about the request in hand only, and says nothing of why.

No, when:
- ``rhost`` is banned in one of the point's jails (any PAM step), or
- the step is ``auth`` (a password is being checked), the account is under
  attack in one of the jails (the ``account`` detector) and ``rhost`` is not
  a network known-good for it there: this stops a botnet using each address
  once, which no per-address ban can.
A request without ``rhost`` (a local login) is always yes.

Bounds: ``MAX_REQUEST`` bytes, ``REQUEST_TIMEOUT`` seconds from connect to
answer, ``max_connections`` at once (more are closed at once: a flood).
"""

from __future__ import annotations

import asyncio
import ipaddress
import json
import logging
import os
import socket
import struct
from collections.abc import Callable, Collection
from dataclasses import dataclass
from pathlib import Path

from journalban.config.enforcement import PamPoint
from journalban.decisions.detectionview import DetectionView
from journalban.enforce.bantable import BanTable
from journalban.enforce.framing import Complaints, remove_socket
from journalban.pamcheck import MAX_REQUEST, PROTOCOL

REQUEST_TIMEOUT = 2.0
_CRED = struct.Struct("3i")  # struct ucred: pid, uid, gid

log = logging.getLogger("journalban.enforce")


class BadRequest(ValueError):
    """A request line that is not one ``journalban pam-check`` sends."""


@dataclass(frozen=True, slots=True)
class PamRequest:
    type: str  # PAM_TYPE: auth, account, open_session, ...
    service: str
    user: str
    rhost: str  # an address as text (IPv4-mapped IPv6 unmapped), or the text sent


def parse(line: bytes) -> PamRequest:
    """One request line (without its newline).

    Raises:
        BadRequest: not JSON, not an object of the protocol's strings.
    """
    try:
        data = json.loads(line)
    except (UnicodeDecodeError, json.JSONDecodeError):
        raise BadRequest("not a JSON line") from None
    if not isinstance(data, dict) or data.get("v") != PROTOCOL:
        raise BadRequest(f"not a version {PROTOCOL} request object")
    fields = {}
    for name in ("type", "service", "user", "rhost"):
        value = data.get(name, "")
        if not isinstance(value, str):
            raise BadRequest(f"{name} must be a string")
        fields[name] = value
    fields["rhost"] = _address_text(fields["rhost"])
    return PamRequest(**fields)


def _address_text(text: str) -> str:
    text = text.strip()
    try:
        address = ipaddress.ip_address(text.removeprefix("[").removesuffix("]"))
    except ValueError:
        return text  # a host name (UseDNS): never banned, never known-good
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    return str(address)


def decide(
    req: PamRequest,
    table: BanTable,
    view: DetectionView | None,
    jails: Collection[str],
    now: float,
) -> str | None:
    """Why ``req`` is refused, or None when it may go on."""
    if not req.rhost:
        return None  # a local login
    jail = table.banned_text(req.rhost, jails, now)
    if jail is not None:
        return f"banned in {jail}"
    if req.type != "auth" or not req.user or view is None:
        return None
    for jail in jails:
        if view.account_under_attack(jail, req.user) is None:
            continue
        if not view.known_good(jail, req.user, req.rhost):
            return f"account under attack in {jail}, network not known-good for it"
    return None


def peer_uid(sock: socket.socket) -> int:
    """The uid of the process at the other end of a unix socket."""
    _pid, uid, _gid = _CRED.unpack(
        sock.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, _CRED.size)
    )
    return int(uid)


def write_fail_mode(path: str, fail: str) -> None:
    """``PATH.fail``, read by pam-check when the agent cannot answer (it outlives the agent)."""
    tmp = Path(f"{path}.fail.tmp")
    tmp.write_text(fail + "\n")
    tmp.chmod(0o644)
    tmp.replace(f"{path}.fail")


class _Connection(asyncio.Protocol):
    def __init__(self, server: PamPolicyServer) -> None:
        self.server = server
        self.buffer = bytearray()
        self.transport: asyncio.Transport | None = None
        self.timer: asyncio.TimerHandle | None = None
        self.counted = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        if not isinstance(transport, asyncio.Transport):
            transport.close()
            return
        self.transport = transport
        server = self.server
        sock = transport.get_extra_info("socket")
        try:
            uid = peer_uid(sock)
        except OSError as exc:
            server.complain(f"no peer credentials ({exc}); connection closed")
            transport.abort()
            return
        if uid != 0:
            server.complain(f"a caller running as uid {uid}, not root: closed unanswered")
            transport.abort()
            return
        if server.open >= server.point.max_connections:
            server.complain(f"{server.point.max_connections} connections already open: "
                            "refused one more")  # fmt: skip
            transport.abort()
            return
        server.open += 1
        self.counted = True
        loop = asyncio.get_running_loop()
        self.timer = loop.call_later(REQUEST_TIMEOUT, self._timed_out)

    def data_received(self, data: bytes) -> None:
        if self.transport is None or self.transport.is_closing():
            return
        self.buffer += data
        end = self.buffer.find(b"\n")
        if end < 0:
            if len(self.buffer) > MAX_REQUEST:
                self._refuse(f"a request over {MAX_REQUEST} bytes")
            return
        if end > MAX_REQUEST:
            self._refuse(f"a request over {MAX_REQUEST} bytes")
            return
        try:
            req = parse(bytes(self.buffer[:end]))
        except BadRequest as exc:
            self._refuse(str(exc))
            return
        self.transport.write(self.server.answer(req))
        self.transport.close()

    def _refuse(self, why: str) -> None:
        self.server.complain(f"bad request: {why}")
        if self.transport is not None:
            self.transport.write(f"error: {why}\n".encode())
            self.transport.close()

    def _timed_out(self) -> None:
        self.server.complain("a caller sent no whole request in time; connection closed")
        if self.transport is not None:
            self.transport.abort()

    def connection_lost(self, exc: Exception | None) -> None:
        if self.timer is not None:
            self.timer.cancel()
        if self.counted:
            self.server.open -= 1
            self.counted = False
        self.buffer = bytearray()


class PamPolicyServer:
    """Answers ``journalban pam-check`` from a ``BanTable`` and the detectors' view."""

    def __init__(
        self,
        point: PamPoint,
        table: BanTable,
        now: Callable[[], float],
        view: Callable[[], DetectionView | None],
    ) -> None:
        self.point, self.table, self.now, self.view = point, table, now, view
        self.jails = frozenset(point.jails)
        self.complain = Complaints(f"pam check {point.listen}")
        self.open = 0
        self.answered = 0
        self.refused = 0
        self._server: asyncio.AbstractServer | None = None

    def answer(self, req: PamRequest) -> bytes:
        why = decide(req, self.table, self.view(), self.jails, self.now())
        self.answered += 1
        if why is None:
            return b"yes\n"
        self.refused += 1
        log.info("pam check: %s %s from %r refused: %s",
                 req.service[:40], req.type[:20], req.rhost[:60], why)  # fmt: skip
        return b"no\n"

    async def start(self) -> None:
        """Listen, and write the fail mode beside the socket for pam-check.

        Raises:
            OSError: the socket cannot be made (no directory, in use).
        """
        path = self.point.listen.path
        if path is None:
            raise ValueError("the pam check listens on a unix socket only")
        remove_socket(self.point.listen)
        loop = asyncio.get_running_loop()
        self._server = await loop.create_unix_server(
            lambda: _Connection(self), path, backlog=self.point.max_connections
        )
        os.chmod(path, 0o600)
        write_fail_mode(path, self.point.fail)

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
            self._server = None
        remove_socket(self.point.listen)
