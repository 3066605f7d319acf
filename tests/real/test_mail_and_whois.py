"""Mail through a real SMTP server on loopback (aiosmtpd), whois from a server on loopback."""

from __future__ import annotations

import email
import email.policy
import ipaddress
import socket
import socketserver
import sys
import threading
from collections.abc import Iterator
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller

from journalban.actions.mail import MailAction, MailSettings
from journalban.actions.whois import lookup, query
from journalban.clock import FakeClock
from journalban.errors import ActionError
from journalban.events import Ban

pytestmark = pytest.mark.real

BAN = Ban(
    "sshd",
    ipaddress.ip_network("192.0.2.7/32"),
    1_700_000_000.0,
    1_700_000_600.0,
    failures=5,
    lines=("sshd[1]: Failed password for root from 192.0.2.7", "evil\r\nBcc: victim@example.org"),
)


class Inbox:
    """An aiosmtpd handler that keeps what it receives."""

    def __init__(self) -> None:
        self.messages: list[tuple[str, list[str], EmailMessage]] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        parsed = email.message_from_bytes(envelope.content, policy=email.policy.default)
        assert isinstance(parsed, EmailMessage)
        self.messages.append((envelope.mail_from, list(envelope.rcpt_tos), parsed))
        return "250 OK"


@pytest.fixture
def smtp() -> Iterator[tuple[Inbox, int]]:
    inbox = Inbox()
    # aiosmtpd's start() connects to the port it was given, so port 0 will not do.
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    controller = Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield inbox, port
    finally:
        controller.stop()


class WhoisServer(socketserver.ThreadingTCPServer):
    allow_reuse_address = True
    daemon_threads = True

    def __init__(self, answer: bytes) -> None:
        self.answer = answer
        self.queries: list[bytes] = []
        super().__init__(("127.0.0.1", 0), WhoisHandler)

    @property
    def port(self) -> int:
        return int(self.server_address[1])


class WhoisHandler(socketserver.StreamRequestHandler):
    server: WhoisServer

    def handle(self) -> None:
        self.server.queries.append(self.rfile.readline())
        self.wfile.write(self.server.answer)


@pytest.fixture
def whois_servers() -> Iterator[list[WhoisServer]]:
    started: list[WhoisServer] = []
    yield started
    for server in started:
        server.shutdown()
        server.server_close()


def serve(servers: list[WhoisServer], answer: bytes) -> WhoisServer:
    server = WhoisServer(answer)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    servers.append(server)
    return server


def settings(port: int, **extra: Any) -> MailSettings:
    return MailSettings(
        "journalban@example.org", ("admin@example.org",), "127.0.0.1", port, **extra
    )


def test_one_mail_per_ban_reaches_the_smtp_server(smtp: tuple[Inbox, int]) -> None:
    inbox, port = smtp
    MailAction(settings(port), clock=FakeClock(), hostname="web1").ban(BAN)
    [(sender, rcpts, msg)] = inbox.messages
    assert (sender, rcpts) == ("journalban@example.org", ["admin@example.org"])
    assert msg["Subject"] == "[journalban] sshd: banned 192.0.2.7 on web1"
    body = msg.get_content()
    assert "Failed password for root from 192.0.2.7" in body
    assert "Failures: 5" in body


def test_log_data_cannot_inject_headers(smtp: tuple[Inbox, int]) -> None:
    inbox, port = smtp
    MailAction(settings(port), clock=FakeClock(), hostname="web1\r\nBcc: x@example.org").ban(BAN)
    [(_, rcpts, msg)] = inbox.messages
    assert rcpts == ["admin@example.org"]
    assert msg["Bcc"] is None
    assert "  evil Bcc: victim@example.org\r\n" in msg.get_content()
    assert msg["Subject"] == "[journalban] sshd: banned 192.0.2.7 on web1 Bcc: x@example.org"


def test_buffered_mails_go_out_per_count_and_when_due(smtp: tuple[Inbox, int]) -> None:
    inbox, port = smtp
    clock = FakeClock()
    action = MailAction(
        settings(port, buffer_count=3, buffer_interval=300), clock=clock, hostname="web1"
    )
    for _ in range(4):
        action.ban(BAN)
    assert len(inbox.messages) == 1
    assert inbox.messages[0][2]["Subject"].startswith("[journalban] 3 bans on web1")

    assert not action.due(clock.now() + 299)
    assert action.due(clock.now() + 300)
    action.flush()
    assert len(inbox.messages) == 2
    assert not action.due(clock.now() + 1000)
    action.flush()
    assert len(inbox.messages) == 2


def test_a_refused_digest_keeps_its_bans_for_the_next_try(smtp: tuple[Inbox, int]) -> None:
    inbox, port = smtp
    action = MailAction(settings(1, buffer_count=10), clock=FakeClock(), hostname="h")
    action.ban(BAN)
    with pytest.raises(ActionError, match=r"mail via 127\.0\.0\.1:1"):
        action.flush()
    action.settings = settings(port, buffer_count=10)
    action.flush()
    assert "1 bans" in inbox.messages[0][2]["Subject"]


def test_sendmail_gets_the_message_on_stdin(tmp_path: Path) -> None:
    stored = tmp_path / "stdin.eml"
    args = tmp_path / "argv"
    script = tmp_path / "sendmail"
    script.write_text(
        f"#!{sys.executable}\nimport sys\n"
        f"open({str(args)!r}, 'w').write(' '.join(sys.argv[1:]))\n"
        f"open({str(stored)!r}, 'wb').write(sys.stdin.buffer.read())\n"
    )
    script.chmod(0o755)
    action = MailAction(settings(25, sendmail=str(script)), clock=FakeClock(), hostname="web1")
    action.start()
    action.ban(BAN)
    assert args.read_text() == "-t -oi"
    msg = email.message_from_bytes(stored.read_bytes(), policy=email.policy.default)
    assert msg["To"] == "admin@example.org"
    assert b"\r\n" not in stored.read_bytes()


def test_whois_follows_one_referral(whois_servers: list[WhoisServer]) -> None:
    registry = serve(whois_servers, b"NetRange: 192.0.2.0 - 192.0.2.255\r\nOrgName: Example\r\n")
    iana = serve(whois_servers, f"refer: 127.0.0.1:{registry.port}\r\n".encode())
    answer = lookup("192.0.2.7", server="127.0.0.1", port=iana.port)
    assert iana.queries == [b"192.0.2.7\r\n"]
    assert registry.queries == [b"192.0.2.7\r\n"]
    assert answer.text == "NetRange: 192.0.2.0 - 192.0.2.255\nOrgName: Example\n"


def test_whois_answers_are_capped_and_cleaned(whois_servers: list[WhoisServer]) -> None:
    server = serve(whois_servers, b"a\x1b[31mb\x00" + b"x" * 5000)
    answer = query("127.0.0.1", "192.0.2.7", port=server.port, max_bytes=1000)
    assert answer.truncated
    assert answer.text.startswith("a[31mb")
    assert len(answer.text) <= 1000


def test_whois_refuses_questions_that_are_not_addresses() -> None:
    with pytest.raises(ActionError, match="only asked about IP addresses"):
        lookup("example.org\r\nfoo", server="127.0.0.1", port=1)


def test_a_mail_carries_whois_or_says_why_not(
    smtp: tuple[Inbox, int], whois_servers: list[WhoisServer]
) -> None:
    inbox, port = smtp
    server = serve(whois_servers, b"OrgName: Example Net\n")
    action = MailAction(
        settings(port, whois=True),
        clock=FakeClock(),
        hostname="web1",
        whois=lambda address: lookup(address, server="127.0.0.1", port=server.port),
    )
    action.ban(BAN)
    assert "OrgName: Example Net" in inbox.messages[0][2].get_content()

    broken = MailAction(
        settings(port, whois=True),
        clock=FakeClock(),
        hostname="web1",
        whois=lambda address: lookup(address, server="127.0.0.1", port=1, timeout=2),
    )
    broken.ban(BAN)
    assert "Whois: lookup failed" in inbox.messages[1][2].get_content()
