"""Forwarded client addresses in mail filters (Roundcube, SOGo) with trusted_proxies.

The client writes X-Forwarded-For and each proxy appends the peer it saw: only the
entries our own proxies appended can be believed, read from the right, and only when
the direct peer is one of those proxies. X-Real-IP counts only with real_ip_header.
"""

from __future__ import annotations

from journalban.addresses import parse_network
from journalban.matching.engine import MATCHED, CompiledFilter, LineMatcher
from journalban.matching.library import FilterLibrary

LIBRARY = FilterLibrary(override_dir=None)
PROXIES = [parse_network("10.0.0.0/8")]
RC_ERROR = (
    "[21-Nov-2026 10:00:07 +0100]: <j2pncet8> IMAP Error: Login failed for u@example.com "
    "from {peer}({headers}). AUTHENTICATE PLAIN: Authentication failed. in "
    "/usr/share/roundcube/program/lib/Roundcube/rcube_imap.php on line 197 (POST /?_task=login)"
)
RC_USERLOGIN = (
    "[21-Nov-2026 10:00:08 +0100]: <4z506z6r> Failed login for bob from {peer}({headers}) "
    "in session 4z506z6rvddstv6k7jz08hxo27 (error: 0)"
)
SOGO = (
    "Nov 21 10:00:01 sogod [26818]: SOGoRootPage Login from '{peer}' for user 'x' might not "
    "have worked - password policy: 65535  grace: -1  expire: -1  bound: 0"
)


def _host(name: str, line: str, *, proxies: bool = True, real_ip: bool = False) -> str | None:
    compiled = CompiledFilter(
        LIBRARY.load(name), trusted_proxies=PROXIES if proxies else (), real_ip_header=real_ip
    )
    out = LineMatcher(compiled, lambda: 1_800_000_000.0).match_line(line)
    return str(out.address) if out.kind == MATCHED and out.address is not None else None


def test_roundcube_reports_rightmost_untrusted_entry_behind_trusted_proxy() -> None:
    line = RC_ERROR.format(peer="10.0.0.2", headers="X-Forwarded-For: 192.0.2.66, 203.0.113.5")
    assert _host("roundcube-auth", line) == "203.0.113.5"


def test_roundcube_skips_our_own_proxies_in_the_list() -> None:
    line = RC_USERLOGIN.format(
        peer="10.0.0.2", headers="X-Forwarded-For: 192.0.2.66, 203.0.113.6, 10.0.0.9"
    )
    assert _host("roundcube-auth", line) == "203.0.113.6"


def test_roundcube_victim_prepended_by_client_is_never_reported() -> None:
    # The client sent "X-Forwarded-For: 192.0.2.66"; our proxy appended the real peer.
    line = RC_ERROR.format(peer="10.0.0.2", headers="X-Forwarded-For: 192.0.2.66, 203.0.113.7")
    assert _host("roundcube-auth", line) == "203.0.113.7"


def test_roundcube_header_ignored_when_direct_peer_is_not_a_trusted_proxy() -> None:
    line = RC_ERROR.format(peer="203.0.113.8", headers="X-Forwarded-For: 192.0.2.66")
    assert _host("roundcube-auth", line) == "203.0.113.8"


def test_roundcube_header_ignored_without_trusted_proxies() -> None:
    line = RC_ERROR.format(peer="10.0.0.2", headers="X-Forwarded-For: 192.0.2.66")
    assert _host("roundcube-auth", line, proxies=False) == "10.0.0.2"


def test_roundcube_x_real_ip_ignored_unless_configured() -> None:
    headers = "X-Real-IP: 192.0.2.66,X-Forwarded-For: 203.0.113.9"
    line = RC_ERROR.format(peer="10.0.0.2", headers=headers)
    assert _host("roundcube-auth", line) == "203.0.113.9"
    assert _host("roundcube-auth", line, real_ip=True) == "192.0.2.66"


def test_roundcube_garbage_after_trusted_proxy_bans_nobody() -> None:
    line = RC_ERROR.format(peer="10.0.0.2", headers="X-Forwarded-For: 192.0.2.66, not-an-address")
    assert _host("roundcube-auth", line) is None


def test_sogo_list_read_from_the_right_behind_trusted_proxy() -> None:
    line = SOGO.format(peer="192.0.2.66, 203.0.113.10, 10.0.0.1")
    assert _host("sogo-auth", line) == "203.0.113.10"


def test_sogo_client_written_first_entry_never_reported_without_proxies() -> None:
    line = SOGO.format(peer="192.0.2.66, 203.0.113.11")
    assert _host("sogo-auth", line, proxies=False) == "203.0.113.11"
