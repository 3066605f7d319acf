"""The hosts-deny backend's pattern file and the state beside it."""

from __future__ import annotations

import ipaddress
from pathlib import Path

import pytest

from journalban.errors import BackendError
from journalban.firewall.base import BanEntry, JailRules
from journalban.firewall.hostsdeny import (
    HostsDenyBackend,
    check_etc_hosts_deny,
    format_pattern,
    parse_pattern,
)

NOW = 1_700_000_000.0


def entry(jail: str, net: str, expires: float | None = NOW + 600) -> BanEntry:
    return BanEntry(jail, ipaddress.ip_network(net), expires)


@pytest.fixture
def backend(tmp_path: Path) -> HostsDenyBackend:
    etc = tmp_path / "etc-hosts.deny"
    etc.write_text(f"# local rules\nALL: {tmp_path / 'state' / 'hosts.deny'}\n")
    made = HostsDenyBackend(tmp_path / "state", etc_file=etc)
    made.setup([JailRules("sshd"), JailRules("mail")])
    return made


@pytest.mark.parametrize(
    ("network", "pattern"),
    [
        ("192.0.2.7/32", "192.0.2.7"),
        ("198.51.100.0/24", "198.51.100.0/255.255.255.0"),
        ("2001:db8::5/128", "[2001:db8::5]"),
        ("2001:db8:1::/64", "[2001:db8:1::]/64"),
    ],
)
def test_patterns_use_the_forms_hosts_access_reads(network: str, pattern: str) -> None:
    net = ipaddress.ip_network(network)
    assert format_pattern(net) == pattern
    assert parse_pattern(pattern) == net


def test_each_batch_rewrites_the_pattern_file(backend: HostsDenyBackend) -> None:
    backend.apply([entry("sshd", "192.0.2.7/32"), entry("mail", "2001:db8:1::/64")], [], NOW)
    assert backend.deny_file.read_text() == "192.0.2.7\n[2001:db8:1::]/64\n"
    backend.apply([], [entry("sshd", "192.0.2.7/32")], NOW)
    assert backend.deny_file.read_text() == "[2001:db8:1::]/64\n"
    assert oct(backend.deny_file.stat().st_mode & 0o777) == "0o644"
    assert not list(backend.deny_file.parent.glob(".hosts.deny.*"))


def test_list_reports_jail_and_expiry_and_skips_expired(backend: HostsDenyBackend) -> None:
    backend.apply(
        [entry("sshd", "192.0.2.7/32", NOW + 5), entry("mail", "192.0.2.8/32", None)], [], NOW
    )
    assert backend.list(NOW) == [
        entry("sshd", "192.0.2.7/32", NOW + 5),
        entry("mail", "192.0.2.8/32", None),
    ]
    assert backend.list(NOW + 10) == [entry("mail", "192.0.2.8/32", None)]


def test_a_batch_drops_bans_expired_by_then(backend: HostsDenyBackend) -> None:
    backend.apply([entry("sshd", "192.0.2.7/32", NOW + 5)], [], NOW)
    backend.apply([entry("sshd", "192.0.2.9/32")], [], NOW + 10)
    assert backend.deny_file.read_text().split() == ["192.0.2.9"]


def test_an_address_banned_by_two_jails_is_written_once(backend: HostsDenyBackend) -> None:
    backend.apply([entry("sshd", "192.0.2.7/32"), entry("mail", "192.0.2.7/32")], [], NOW)
    assert backend.deny_file.read_text() == "192.0.2.7\n"
    backend.apply([], [entry("sshd", "192.0.2.7/32")], NOW)
    assert backend.deny_file.read_text() == "192.0.2.7\n"


def test_a_changed_pattern_file_is_not_intact_and_reconcile_repairs_it(
    backend: HostsDenyBackend,
) -> None:
    wanted = [entry("sshd", "192.0.2.7/32")]
    backend.apply(wanted, [], NOW)
    assert backend.intact()
    backend.deny_file.write_text("")
    assert not backend.intact()
    assert backend.list(NOW) == []
    report = backend.reconcile(wanted, NOW)
    assert report.added == tuple(wanted)
    assert backend.intact()


def test_reload_forgets_bans_of_removed_jails(backend: HostsDenyBackend) -> None:
    backend.apply([entry("sshd", "192.0.2.7/32"), entry("mail", "192.0.2.8/32")], [], NOW)
    backend.setup([JailRules("mail")])
    assert backend.deny_file.read_text() == "192.0.2.8\n"


def test_teardown_removes_the_files(backend: HostsDenyBackend) -> None:
    backend.apply([entry("sshd", "192.0.2.7/32")], [], NOW)
    backend.teardown()
    assert not backend.deny_file.exists()
    assert not backend.state_file.exists()


def test_a_corrupt_state_file_is_a_backend_error(backend: HostsDenyBackend) -> None:
    backend.state_file.write_text("{not json")
    with pytest.raises(BackendError, match=r"hosts\.deny\.json"):
        backend.list(NOW)


def test_the_etc_check_finds_or_misses_the_static_line(tmp_path: Path) -> None:
    deny = Path("/var/lib/journalban/hosts.deny")
    etc = tmp_path / "hosts.deny"
    etc.write_text("sshd: 10.0.0.1\n# ALL: /var/lib/journalban/hosts.deny\n")
    problem = check_etc_hosts_deny(deny, etc)
    assert problem is not None
    assert "ALL: /var/lib/journalban/hosts.deny" in problem
    etc.write_text("ALL: /var/lib/journalban/hosts.deny\n")
    assert check_etc_hosts_deny(deny, etc) is None
    assert check_etc_hosts_deny(deny, tmp_path / "missing") is not None
