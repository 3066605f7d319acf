"""The bans file the firewall-less backends keep beside what they write (firewall.filestate)."""

from __future__ import annotations

import ipaddress
from pathlib import Path

from journalban.firewall.base import BanEntry
from journalban.firewall.filestate import applied, read_bans, unexpired, write_bans


def entry(jail: str, network: str, expires: float | None) -> BanEntry:
    return BanEntry(jail, ipaddress.ip_network(network), expires)


def test_applied_replaces_per_jail_and_network_and_drops_the_expired(tmp_path: Path) -> None:
    state = tmp_path / "bans.json"
    write_bans(state, [entry("sshd", "192.0.2.1/32", 100.0), entry("web", "192.0.2.1/32", 100.0),
                       entry("sshd", "192.0.2.2/32", 50.0), entry("sshd", "2001:db8::/64", None)])  # fmt: skip
    result = applied(
        state,
        add=[entry("sshd", "192.0.2.1/32", 300.0), entry("sshd", "198.51.100.0/24", 30.0)],
        remove=[entry("web", "192.0.2.1/32", 100.0), entry("web", "203.0.113.9/32", 100.0)],
        now=60.0,
    )
    assert result == [
        entry("sshd", "192.0.2.1/32", 300.0),  # the added one replaces the recorded one
        entry("sshd", "2001:db8::/64", None),  # permanent: never expired
    ]  # 192.0.2.2 expired by 60, the /24 added already expired, web's removed
    assert len(read_bans(state)) == 4, "applied() reads the file; the backend writes it"


def test_applied_on_a_missing_file_is_the_added(tmp_path: Path) -> None:
    added = [entry("sshd", "192.0.2.1/32", None)]
    assert applied(tmp_path / "none.json", added, [], 0.0) == added


def test_unexpired_keeps_a_ban_ending_after_now() -> None:
    bans = [entry("sshd", "192.0.2.1/32", 10.0), entry("sshd", "192.0.2.2/32", 10.5)]
    assert unexpired(bans, 10.0) == bans[1:]
