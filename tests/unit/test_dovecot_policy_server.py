"""The Dovecot auth policy server's answers and what its reports count, over real sockets."""

from __future__ import annotations

import asyncio
import ipaddress
import json
from pathlib import Path

import pytest

from journalban.config.enforcement import DovecotPoint, Listen
from journalban.enforce.bantable import BanTable
from journalban.enforce.dovecot import DovecotPolicyServer
from journalban.enforce.http import HttpError, Request
from journalban.events import FAILURE, SUCCESS, LineBatch
from journalban.firewall.base import BanEntry

NOW = 1_000_000.0


def server(tmp_path: Path, batches: list[tuple[str, LineBatch]]) -> DovecotPolicyServer:
    secret = tmp_path / "secret"
    secret.write_text("k3y\n")
    secret.chmod(0o600)
    point = DovecotPoint(Listen(None, "127.0.0.1", 0), str(secret), ("dovecot",), "dovecot")
    table = BanTable()
    table.apply([BanEntry("dovecot", ipaddress.ip_network("192.0.2.66/32"), None)], ())

    async def sink(jail: str, batch: LineBatch) -> None:
        batches.append((jail, batch))

    return DovecotPolicyServer(point, table, lambda: NOW, sink)


def post(command: str, body: object, key: str = "k3y") -> Request:
    return Request(
        "POST", "/", {"command": [command]}, {"x-api-key": key}, json.dumps(body).encode()
    )


def test_allow_refuses_banned_remote_with_the_fixed_text_only(tmp_path: Path) -> None:
    s = server(tmp_path, [])
    s.secret = b"k3y"
    assert s.answer(post("allow", {"login": "root", "remote": "192.0.2.66"})) == (
        200, {"status": -1, "msg": "Access denied"})  # fmt: skip
    assert s.answer(post("allow", {"login": "root", "remote": "192.0.2.67"})) == (
        200, {"status": 0, "msg": ""})  # fmt: skip


@pytest.mark.parametrize(
    ("request_", "status"),
    [(post("allow", {}, key="nope"), 401), (post("frobnicate", {}), 404),
     (Request("GET", "/", {}, {"x-api-key": "k3y"}, b""), 405),
     (Request("POST", "/", {"command": ["allow"]}, {"x-api-key": "k3y"}, b"[1]"), 400),
     (Request("POST", "/", {"command": ["allow"]}, {"x-api-key": "k3y"}, b"{"), 400)],
)  # fmt: skip
def test_bad_requests_are_refused_with_their_status(
    tmp_path: Path, request_: Request, status: int
) -> None:
    s = server(tmp_path, [])
    s.secret = b"k3y"
    with pytest.raises(HttpError) as caught:
        s.answer(request_)
    assert caught.value.status == status


def test_reports_count_failures_but_not_policy_refusals_nor_backend_errors(tmp_path: Path) -> None:
    batches: list[tuple[str, LineBatch]] = []

    async def main() -> None:
        s = server(tmp_path, batches)
        await s.start()
        port = s.server.port
        bodies = [
            {"login": "al<ice>\n", "remote": "198.51.100.1", "success": False, "policy_reject": False},
            {"login": "bob", "remote": "198.51.100.2", "success": False, "policy_reject": True},
            {"login": "bob", "remote": "198.51.100.3", "success": False, "policy_reject": False,
             "fail_type": "internal"},
            {"login": "carol", "remote": "198.51.100.4", "success": True, "policy_reject": False},
            {"login": "dan", "remote": "not-an-address", "success": False},
        ]  # fmt: skip
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        for body in bodies:  # one keep-alive connection, as Dovecot's client does
            data = json.dumps(body).encode()
            writer.write(b"POST /?command=report HTTP/1.1\r\nHost: x\r\nX-API-Key: k3y\r\n"
                         b"Content-Length: %d\r\n\r\n%s" % (len(data), data))  # fmt: skip
            await writer.drain()
            head = await reader.readuntil(b"\r\n\r\n")
            assert head.startswith(b"HTTP/1.1 200")
            length = int(head.split(b"Content-Length: ")[1].split(b"\r\n")[0])
            await reader.readexactly(length)
        writer.close()
        await asyncio.sleep(0.5)
        await s.close()

    asyncio.run(main())
    hits = [h for _, batch in batches for h in batch.hits or ()]
    assert {jail for jail, _ in batches} == {"dovecot"}
    assert [(h[1], h[3], h[4]) for h in hits] == [
        ("198.51.100.1", "al?ice??", FAILURE), ("198.51.100.4", "carol", SUCCESS)]  # fmt: skip
    assert "\n" not in hits[0][0]


def test_a_missing_secret_file_keeps_the_point_off(tmp_path: Path) -> None:
    s = server(tmp_path, [])
    (tmp_path / "secret").unlink()
    with pytest.raises(FileNotFoundError):
        asyncio.run(s.start())


def test_malformed_and_oversized_http_is_answered_and_closed(tmp_path: Path) -> None:
    async def main() -> list[bytes]:
        s = server(tmp_path, [])
        await s.start()
        port = s.server.port
        replies = []
        for data in (b"HELLO\r\n\r\n", b"POST / HTTP/1.1\r\nContent-Length: 999999\r\n\r\n",
                     b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n",
                     b"POST / HTTP/1.1\r\n" + b"X: y\r\n" * 60 + b"\r\n"):  # fmt: skip
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
            writer.write(data)
            await writer.drain()
            replies.append(await asyncio.wait_for(reader.read(), 5))
            writer.close()
        await s.close()
        return replies

    statuses = [r.split(b" ")[1] for r in asyncio.run(main())]
    assert statuses == [b"400", b"413", b"501", b"431"]


def test_a_report_flood_is_bounded(tmp_path: Path) -> None:
    from journalban.enforce.reports import ReportQueue

    async def sink(jail: str, batch: LineBatch) -> None:
        pass

    queue = ReportQueue("dovecot", "dovecot-policy", sink, lambda: NOW, limit=100)
    for n in range(1000):
        queue.failure(f"198.51.100.{n % 250}", "x", "")
    assert len(queue._pending) == 100
    assert queue.dropped == 900


def test_the_right_password_failing_is_a_backend_error_not_counted(tmp_path: Path) -> None:
    s = server(tmp_path, [])
    s.secret = b"k3y"
    assert s.reports is not None

    def report(pwhash: str, success: bool, remote: str = "198.51.100.1") -> None:
        body = {"login": "alice", "pwhash": pwhash, "remote": remote, "success": success,
                "policy_reject": False}  # fmt: skip
        s.answer(post("report", body))

    report("0821", False)  # never seen to succeed: counted
    report("0821", True, "198.51.100.2")
    report("0821", False, "198.51.100.3")  # Dovecot 2.3's backend error: the right password
    report("0575", False, "198.51.100.3")  # a wrong one: counted
    marks = [(h[1], h[4]) for h in s.reports._pending]
    assert marks == [("198.51.100.1", FAILURE), ("198.51.100.2", SUCCESS),
                     ("198.51.100.3", FAILURE)]  # fmt: skip
    assert s.backend_errors == 1
