"""The shorewall backend against stand-in shorewall/shorewall6 programs that record their argv.

A real shorewall needs a configured, started firewall; these programs are
real executables on disk, called exactly as shorewall would be.
"""

from __future__ import annotations

import ipaddress
import sys
from pathlib import Path

import pytest

from journalban.errors import BackendError
from journalban.firewall.base import BanEntry, JailRules
from journalban.firewall.shorewall import ShorewallBackend

NOW = 1_700_000_000.0


def fake_tool(tmp_path: Path, name: str, log: Path, status: int = 0) -> str:
    path = tmp_path / name
    path.write_text(
        f"#!{sys.executable}\nimport sys\n"
        f"open({str(log)!r}, 'a').write({name!r} + ' ' + ' '.join(sys.argv[1:]) + '\\n')\n"
        f"sys.exit({status})\n"
    )
    path.chmod(0o755)
    return str(path)


@pytest.fixture
def calls(tmp_path: Path) -> Path:
    return tmp_path / "calls.txt"


@pytest.fixture
def backend(tmp_path: Path, calls: Path) -> ShorewallBackend:
    made = ShorewallBackend(
        tmp_path / "state",
        shorewall=fake_tool(tmp_path, "shorewall", calls),
        shorewall6=fake_tool(tmp_path, "shorewall6", calls),
    )
    made.setup([JailRules("sshd"), JailRules("mail")])
    return made


def entry(jail: str, net: str, expires: float | None = NOW + 600) -> BanEntry:
    return BanEntry(jail, ipaddress.ip_network(net), expires)


def test_a_batch_is_one_drop_per_family(backend: ShorewallBackend, calls: Path) -> None:
    backend.apply(
        [
            entry("sshd", "192.0.2.7/32"),
            entry("sshd", "192.0.2.0/28"),
            entry("mail", "2001:db8::/64"),
        ],
        [],
        NOW,
    )
    assert calls.read_text().splitlines() == [
        "shorewall drop 192.0.2.0/28 192.0.2.7",
        "shorewall6 drop 2001:db8::/64",
    ]
    assert {str(e.network) for e in backend.list(NOW)} == {
        "192.0.2.7/32",
        "192.0.2.0/28",
        "2001:db8::/64",
    }


def test_an_address_is_allowed_when_its_last_ban_ends(
    backend: ShorewallBackend, calls: Path
) -> None:
    backend.apply([entry("sshd", "192.0.2.7/32"), entry("mail", "192.0.2.7/32")], [], NOW)
    backend.apply([], [entry("sshd", "192.0.2.7/32")], NOW)
    backend.apply([], [entry("mail", "192.0.2.7/32")], NOW)
    assert calls.read_text().splitlines() == [
        "shorewall drop 192.0.2.7",
        "shorewall allow 192.0.2.7",
    ]


def test_expired_bans_are_not_dropped_and_not_listed(
    backend: ShorewallBackend, calls: Path
) -> None:
    backend.apply([entry("sshd", "192.0.2.7/32", NOW - 1)], [], NOW)
    assert not calls.exists()
    backend.apply([entry("sshd", "192.0.2.8/32", NOW + 5)], [], NOW)
    assert backend.list(NOW + 10) == []


def test_reload_without_a_jail_allows_its_addresses(backend: ShorewallBackend, calls: Path) -> None:
    backend.apply([entry("mail", "192.0.2.9/32")], [], NOW)
    backend.setup([JailRules("sshd")])
    assert calls.read_text().splitlines()[-1] == "shorewall allow 192.0.2.9"
    assert backend.list(NOW) == []


def test_teardown_allows_everything_it_dropped(backend: ShorewallBackend, calls: Path) -> None:
    backend.apply([entry("sshd", "192.0.2.7/32"), entry("sshd", "2001:db8::1/128")], [], NOW)
    backend.teardown()
    assert calls.read_text().splitlines()[-2:] == [
        "shorewall allow 192.0.2.7",
        "shorewall6 allow 2001:db8::1",
    ]
    assert not backend.state_file.exists()


def test_a_refusing_shorewall_is_a_backend_error_and_records_nothing(
    tmp_path: Path, calls: Path
) -> None:
    backend = ShorewallBackend(
        tmp_path / "state",
        shorewall=fake_tool(tmp_path, "shorewall", calls, status=2),
        shorewall6=fake_tool(tmp_path, "shorewall6", calls),
    )
    backend.setup([JailRules("sshd")])
    with pytest.raises(BackendError, match="exited with status 2"):
        backend.apply([entry("sshd", "192.0.2.7/32")], [], NOW)
    assert backend.list(NOW) == []
