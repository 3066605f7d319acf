"""The nginx and Apache deny include files, as the web servers read them."""

from __future__ import annotations

import ipaddress
from pathlib import Path

from journalban.enforce.webdeny import WebDenyBackend, render_apache, render_nginx
from journalban.firewall.base import BanEntry, JailRules

NETS = [ipaddress.ip_network(n) for n in ("192.0.2.7/32", "198.51.100.0/24", "2001:db8::/64")]


def test_nginx_file_is_one_deny_per_ban() -> None:
    body = render_nginx(NETS).splitlines()[1:]
    assert body == ["deny 192.0.2.7;", "deny 198.51.100.0/24;", "deny 2001:db8::/64;"]


def test_apache_file_grants_all_but_the_banned_and_stays_valid_when_empty() -> None:
    assert render_apache(NETS).splitlines()[1:] == [
        "<RequireAll>", "    Require all granted",
        "    Require not ip 192.0.2.7 198.51.100.0/24 2001:db8::/64", "</RequireAll>"]  # fmt: skip
    assert "Require not ip" not in render_apache([])
    many = [ipaddress.ip_network(f"10.0.{n // 250}.{n % 250}/32") for n in range(120)]
    assert render_apache(many).count("Require not ip") == 3


def test_listing_does_not_confuse_an_address_with_its_prefix(tmp_path: Path) -> None:
    backend = WebDenyBackend("nginx", tmp_path / "deny.conf")
    backend.setup([JailRules("web")])
    entry = BanEntry("web", ipaddress.ip_network("192.0.2.10/32"), None)
    backend.apply([entry], [], 0.0)
    (tmp_path / "deny.conf").write_text("deny 192.0.2.100;\n")  # someone edited it
    assert backend.list(0.0) == []
    assert not backend.intact()
