"""Dovecot's authentication policy server (``auth_policy_server_url``).

Dovecot POSTs a JSON object of its ``auth_policy_request_attributes``
(by default ``login``, ``pwhash``, ``remote``, ``device_id``, ``protocol``,
``session_id``) to ``URL?command=allow`` before it checks a password, and to
``URL?command=report`` after, with ``success`` and ``policy_reject`` added.
An ``allow`` for a ``remote`` banned in the configured jails is answered
``{"status":-1,"msg":<fixed text>}`` (refused before authentication), any
other ``{"status":0,"msg":""}``.

A report is the reports jail's failure source, with no log parsing: a
failure counts unless journalban refused it itself (``policy_reject``) or
Dovecot says it was its own (``fail_type`` other than ``credentials`` or
``account``, as Dovecot 2.4 sends: ``internal`` is a backend error); a
success feeds the known-good pairs. Dovecot 2.3 sends no ``fail_type``: a
backend error there looks like a failed password, told apart only when the
password that failed is one that login succeeded with (``GoodPasswords``;
see docs/enforcement.md).

Every request must carry the shared secret in ``api_header`` (Dovecot's
``auth_policy_server_api_header``); without it: 401, nothing counted.
"""

from __future__ import annotations

import asyncio
import hmac
import logging
import os
import stat
from collections.abc import Callable
from typing import Any

from journalban.config.enforcement import DovecotPoint
from journalban.enforce.bantable import BanTable, parse_address
from journalban.enforce.framing import Bounds, Complaints, Refusal, RequestServer
from journalban.enforce.goodpasswords import GoodPasswords
from journalban.enforce.http import MAX_HEAD, HttpError, Request, response, take_request
from journalban.enforce.reports import FailureSink, ReportQueue, safe_text

log = logging.getLogger("journalban.enforce")
MAX_BODY = 16 * 1024
COUNTED_FAIL_TYPES = ("credentials", "account")
SOURCE = "dovecot-policy"
ALLOWED: dict[str, Any] = {"status": 0, "msg": ""}


def read_secret(path: str) -> str:
    """The shared secret: the file's first line.

    Raises:
        OSError: unreadable; ValueError: empty.
    """
    info = os.stat(path)
    if info.st_mode & (stat.S_IROTH | stat.S_IWOTH):
        log.warning("%s is readable by every user: any local program could post reports", path)
    with open(path, encoding="utf-8") as f:
        secret = f.readline().strip()
    if not secret:
        raise ValueError(f"{path} holds no secret")
    return secret


class DovecotPolicyServer:
    """Answers ``allow``, takes ``report``, from a ``BanTable``."""

    def __init__(
        self, point: DovecotPoint, table: BanTable, now: Callable[[], float], sink: FailureSink
    ) -> None:
        self.point, self.table, self.now = point, table, now
        self.jails = frozenset(point.jails)
        self.header = point.api_header.lower()
        self.complain = Complaints(f"dovecot policy server {point.listen}")
        self.reports = (
            ReportQueue(point.reports, SOURCE, sink, now) if point.reports is not None else None
        )
        self.secret = b""
        self.refusal: dict[str, Any] = {"status": -1, "msg": point.message}
        self.refused = 0
        self.counted = 0
        self.backend_errors = 0
        self.good = GoodPasswords()
        bounds = Bounds(
            limit=point.max_connections, max_request=MAX_BODY + MAX_HEAD, idle_timeout=60.0
        )
        self.server = RequestServer(point.listen, self.take, self.complain, bounds)
        self._flusher: asyncio.Task[None] | None = None

    async def start(self) -> None:
        """Raises: OSError, ValueError (the secret file), OSError (the port)."""
        self.secret = (await asyncio.to_thread(read_secret, self.point.secret_file)).encode()
        await self.server.start()
        if self.reports is not None:
            self._flusher = asyncio.create_task(self.reports.run())

    async def close(self) -> None:
        await self.server.close()
        if self._flusher is not None:
            self._flusher.cancel()

    def take(self, buffer: bytearray) -> tuple[bytes, bool] | None:
        """Answer the request at the front of ``buffer``. Raises: Refusal."""
        try:
            request = take_request(buffer, MAX_BODY)
            if request is None:
                return None
            status, body = self.answer(request)
        except HttpError as exc:
            answer = response(exc.status, {"error": str(exc)}, keep_alive=False)
            raise Refusal(f"{exc} (answered {exc.status})", answer) from None
        return response(status, body, request.keep_alive), request.keep_alive

    def answer(self, request: Request) -> tuple[int, dict[str, Any]]:
        """Status and JSON body for one request. Raises: HttpError."""
        if request.method != "POST":
            raise HttpError(405, f"method {request.method[:10]!r}: Dovecot POSTs")
        given = request.headers.get(self.header, "").encode()
        if not hmac.compare_digest(given, self.secret):
            raise HttpError(401, f"a request without the right {self.point.api_header} secret")
        command = request.query.get("command", [""])[0]
        if command not in ("allow", "report"):
            raise HttpError(404, f"unknown command {command[:20]!r}")
        attrs = request.json_object()
        address = _address(attrs.get("remote"))
        if command == "allow":
            if address is not None and self.table.banned_text(address, self.jails, self.now()):
                self.refused += 1
                return 200, self.refusal
            return 200, ALLOWED
        if address is not None and self.reports is not None:
            self._report(self.reports, address, attrs)
        return 200, {"status": 0, "msg": ""}

    def _report(self, reports: ReportQueue, address: str, attrs: dict[str, Any]) -> None:
        user = _text(attrs.get("login"))
        pwhash = _text(attrs.get("pwhash"))
        what = f"protocol={safe_text(attrs.get('protocol'), 16)}"
        if attrs.get("success") is True:
            self.good.accepted(user, pwhash)
            reports.success(address, user, what)
        elif attrs.get("success") is False and attrs.get("policy_reject") is not True:
            if attrs.get("fail_type") not in (None, "", *COUNTED_FAIL_TYPES):
                return  # Dovecot 2.4 says it was its own (internal, expired, disabled)
            if self.good.known(user, pwhash):
                self.backend_errors += 1  # the right password failed: Dovecot's backend
                return
            self.counted += 1
            reports.failure(address, user, what)


def _text(value: object) -> str:
    return value[:256] if isinstance(value, str) else ""


def _address(value: object) -> str | None:
    """The client address Dovecot reported, or None (none, or not an address)."""
    if not isinstance(value, str) or not value or len(value) > 64:
        return None
    return value if parse_address(value) is not None else None
