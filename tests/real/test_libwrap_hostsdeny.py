"""libwrap itself (tcpdmatch) judges the pattern file the hosts-deny backend writes."""

from __future__ import annotations

import ipaddress
import subprocess
from pathlib import Path

import pytest

from journalban.firewall.base import BanEntry, JailRules
from journalban.firewall.hostsdeny import HostsDenyBackend, static_line
from support.real import need_tool

pytestmark = pytest.mark.real
NOW = 1_700_000_000.0


def verdict(tcpdmatch: str, rules_dir: Path, address: str) -> str:
    # -d: read hosts.allow and hosts.deny from the current directory, not /etc.
    done = subprocess.run(
        [tcpdmatch, "-d", "sshd", address],
        cwd=rules_dir,
        capture_output=True,
        text=True,
        timeout=30,
        check=True,
    )
    return next(line.split()[-1] for line in done.stdout.splitlines() if "access:" in line)


def test_libwrap_denies_banned_addresses_and_prefixes_only(tmp_path: Path) -> None:
    tcpdmatch = need_tool("tcpdmatch")
    rules_dir = tmp_path / "etc"
    rules_dir.mkdir()
    backend = HostsDenyBackend(tmp_path / "state", etc_file=rules_dir / "hosts.deny")
    (rules_dir / "hosts.allow").write_text("")
    (rules_dir / "hosts.deny").write_text(static_line(backend.deny_file) + "\n")
    backend.setup([JailRules("sshd")])
    bans = ["192.0.2.7/32", "198.51.100.0/24", "2001:db8:1::/64", "2001:db8::5/128"]
    backend.apply([BanEntry("sshd", ipaddress.ip_network(n), NOW + 600) for n in bans], [], NOW)

    results = {
        address: verdict(tcpdmatch, rules_dir, address)
        for address in (
            "192.0.2.7",
            "192.0.2.8",
            "198.51.100.77",
            "2001:db8:1::99",
            "2001:db8::5",
            "2001:db8::6",
        )
    }
    assert results == {
        "192.0.2.7": "denied",
        "192.0.2.8": "granted",
        "198.51.100.77": "denied",
        "2001:db8:1::99": "denied",
        "2001:db8::5": "denied",
        "2001:db8::6": "granted",
    }
