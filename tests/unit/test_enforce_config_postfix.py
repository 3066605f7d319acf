"""The enforcement: section, the ban table and the Postfix policy protocol, without daemons."""

from __future__ import annotations

import asyncio
import ipaddress
from pathlib import Path

import pytest

from journalban.config.enforcement import EnforcementConfig, Listen, PostfixPoint, parse_listen
from journalban.config.loader import load_config
from journalban.enforce.bantable import BanTable
from journalban.enforce.postfix import BadRequest, PostfixPolicyServer, decide, parse_request
from journalban.errors import ConfigErrors
from journalban.firewall.base import BanEntry
from journalban.matching.library import FilterLibrary

CHECK = FilterLibrary(override_dir=None).check
NOW = 1_000_000.0


def load(tmp_path: Path, text: str) -> EnforcementConfig:
    path = tmp_path / "journalban.yaml"
    path.write_text(text)
    return load_config(path, check_filter=CHECK).enforcement


def errors(tmp_path: Path, text: str) -> list[str]:
    with pytest.raises(ConfigErrors) as caught:
        load(tmp_path, text)
    return [str(e) for e in caught.value.errors]


JAILS = """
jails:
  postfix: {enabled: true}
  dovecot: {enabled: true, source: files, files: [/var/log/mail.log]}
"""


def test_enforcement_section_is_read_into_points(tmp_path: Path) -> None:
    cfg = load(tmp_path, JAILS + """
enforcement:
  postfix: {listen: "unix:/var/spool/postfix/private/journalban", jails: [postfix], action: defer}
""")  # fmt: skip
    assert cfg.postfix == PostfixPoint(
        Listen(path="/var/spool/postfix/private/journalban"), ("postfix",), "DEFER"
    )
    assert cfg.dovecot is None
    assert cfg.web == []


def test_enforcement_errors_name_file_and_line(tmp_path: Path) -> None:
    found = errors(tmp_path, JAILS + """
enforcement:
  postfix:
    listen: inet:192.0.2.1:10031
    jails: [postfix, nosuch]
    message: "user root was banned\\nX-Header: 1"
  nginx: {jails: [postfix]}
  squid: {}
""")  # fmt: skip
    text = "\n".join(found)
    assert "journalban.yaml:8: enforcement.postfix.listen: listens on loopback only" in text
    assert "journalban.yaml:9: enforcement.postfix.jails: no such jail: 'nosuch'" in text
    assert "journalban.yaml:10: enforcement.postfix.message: must be 1-200" in text
    assert "enforcement.nginx.file is required" in text
    assert "journalban.yaml:12: enforcement.squid" in text


def test_dovecot_reports_jail_excludes_another_reading_its_log(tmp_path: Path) -> None:
    found = errors(tmp_path, JAILS + """
  dovecot-log: {enabled: true, filter: dovecot}
enforcement:
  dovecot: {listen: "127.0.0.1:10032", secret_file: /etc/s, jails: [dovecot], reports: dovecot}
""")  # fmt: skip
    assert any("jail 'dovecot-log' also reads Dovecot's log" in e for e in found)


@pytest.mark.parametrize(
    ("text", "expected"),
    [("unix:/run/x.sock", Listen(path="/run/x.sock")), ("inet:127.0.0.1:25", Listen(None, "127.0.0.1", 25)),
     ("[::1]:8", Listen(None, "::1", 8))],
)  # fmt: skip
def test_listen_forms(text: str, expected: Listen) -> None:
    assert parse_listen(text) == expected


@pytest.mark.parametrize("text", ["0.0.0.0:25", "localhost:25", "unix:rel", "127.0.0.1:0", "1"])
def test_listen_refuses_anything_but_loopback_or_a_socket_path(text: str) -> None:
    with pytest.raises(ValueError, match=r"loopback|unix|must be"):
        parse_listen(text)


def net(text: str) -> ipaddress.IPv4Network | ipaddress.IPv6Network:
    return ipaddress.ip_network(text)


def test_table_answers_addresses_prefixes_jails_and_expiry() -> None:
    table = BanTable()
    table.apply(
        [BanEntry("postfix", net("192.0.2.7/32"), NOW + 60), BanEntry("sshd", net("198.51.100.0/24"), None),
         BanEntry("postfix", net("2001:db8:1::/64"), NOW - 1)],
        (),
    )  # fmt: skip
    assert table.banned_text("192.0.2.7", {"postfix"}, NOW) == "postfix"
    assert table.banned_text("192.0.2.7", {"sshd"}, NOW) is None
    assert table.banned_text("::ffff:198.51.100.9", {"sshd", "postfix"}, NOW) == "sshd"
    assert table.banned_text("2001:db8:1::5", {"postfix"}, NOW) is None  # expired
    assert table.banned_text("unknown", {"postfix"}, NOW) is None
    table.apply((), [BanEntry("sshd", net("198.51.100.0/24"), None)])
    assert table.banned_text("198.51.100.9", {"sshd"}, NOW) is None
    assert len(table) == 2


POINT = PostfixPoint(Listen(None, "127.0.0.1", 1), ("postfix",))


def test_request_parsing_refuses_what_postfix_never_sends() -> None:
    assert parse_request([b"request=smtpd_access_policy", b"client_address=a=b"]) == {
        "request": "smtpd_access_policy", "client_address": "a=b"}  # fmt: skip
    for bad in ([b"no equals"], [b"a=1", b"a=2"], [b"\xff=1"], [b"=1"]):
        with pytest.raises(BadRequest):
            parse_request(bad)


def test_decision_is_fixed_text_for_banned_and_dunno_otherwise() -> None:
    table = BanTable()
    table.apply([BanEntry("postfix", net("192.0.2.7/32"), None)], ())
    banned = {"request": "smtpd_access_policy", "client_address": "192.0.2.7", "sasl_username": "x"}
    assert decide(banned, table, POINT, {"postfix"}, NOW) == "action=REJECT Access denied"
    assert decide({**banned, "client_address": "192.0.2.8"}, table, POINT, {"postfix"}, NOW) == (
        "action=DUNNO"
    )
    assert decide({**banned, "request": "other"}, table, POINT, {"postfix"}, NOW) == "action=DUNNO"


async def _session(server: PostfixPolicyServer, port: int, data: bytes) -> bytes:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(data)
    await writer.drain()
    out = await asyncio.wait_for(reader.read(), 5)
    writer.close()
    return out


def test_server_answers_several_requests_then_drops_a_bad_one() -> None:
    async def main() -> tuple[bytes, int]:
        table = BanTable()
        table.apply([BanEntry("postfix", net("192.0.2.7/32"), None)], ())
        point = PostfixPoint(Listen(None, "127.0.0.1", 0), ("postfix",))
        server = PostfixPolicyServer(point, table, lambda: NOW)
        await server.start()
        port = server.server.port
        req = b"request=smtpd_access_policy\nclient_address=%s\n\n"
        out = await _session(server, port, req % b"192.0.2.7" + req % b"192.0.2.9" + b"junk\n\n")
        await server.close()
        return out, server.complain.total

    out, complaints = asyncio.run(main())
    assert out == b"action=REJECT Access denied\n\naction=DUNNO\n\n"
    assert complaints == 1


def test_check_config_warns_about_points_that_would_stay_off(tmp_path: Path) -> None:
    from journalban.cli.checkconfig import check

    secret = tmp_path / "secret"
    secret.write_text("k\n")
    secret.chmod(0o644)
    path = tmp_path / "journalban.yaml"
    path.write_text(JAILS + f"""
enforcement:
  postfix: {{listen: "unix:{tmp_path}/no-such-dir/journalban", jails: [postfix]}}
  dovecot: {{listen: "127.0.0.1:10032", secret_file: {secret}, jails: [dovecot]}}
  nginx: {{file: {tmp_path}/deny.conf, jails: [postfix], reload: [/no/such/nginx, -s, reload]}}
  apache: {{file: {tmp_path}/a.conf, jails: [sshd, apache-auth]}}
""")  # fmt: skip
    found = [str(w) for w in check(path).warnings if "enforcement" in str(w) or ": " in str(w)]
    text = "\n".join(found)
    assert f"journalban.yaml:7: postfix: {tmp_path}/no-such-dir does not exist" in text
    assert "journalban.yaml:8: dovecot:" in text
    assert "is readable by every user" in text
    assert "nginx: /no/such/nginx is not an executable program here" in text
    assert "apache: jail apache-auth is not enabled: nothing to enforce" in text
    assert "jail sshd is not enabled" not in text
