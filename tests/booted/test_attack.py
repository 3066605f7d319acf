"""The real attack path, with the configuration as shipped.

A real ssh client (sshpass) in the attacker's namespace fails to log in to
the container's real sshd; journald records it, the agent reads it from the
system journal, bans the address in the kernel, and the attacker's next TCP
connection to port 22 fails while sshd's other port still answers.
"""

from __future__ import annotations

import ipaddress

from support.container import OTHER_PORT, BootedHost
from support.real import REPO


def _attack_until_banned(host: BootedHost, source: str, user: str, banned: str) -> None:
    assert host.tcp_connects(source, 22), "port 22 must answer before the attack"
    for _ in range(3):  # the shipped sshd jail: maxretry 3
        if banned in host.nft_elements():
            break  # an invalid user's attempt may log two failures
        assert host.ssh_attempt(source, user) != 0
    host.wait_for(f"{banned} in the kernel's ruleset", lambda: banned in host.nft_elements())


def test_shipped_unit_runs_the_shipped_config(host: BootedHost) -> None:
    assert host.show("journalban.service", "ActiveState") == "active"
    # Debian's /lib is /usr/lib: the unit the package installed, no override.
    fragment = host.show("journalban.service", "FragmentPath")
    assert fragment.endswith("/lib/systemd/system/journalban.service")
    assert host.show("journalban.service", "DropInPaths") == ""
    assert (host.root / "etc/journalban/journalban.yaml").read_bytes() == (
        REPO / "journalban/data/default.yaml"
    ).read_bytes()
    assert host.run("journalban", "check-config").returncode == 0
    status = host.run("journalban", "status").stdout
    assert "sshd" in status


def test_ssh_failures_over_ipv4_ban_the_attacker_on_port_22_only(
    host: BootedHost, attacker4: str
) -> None:
    _attack_until_banned(host, attacker4, "root", attacker4)
    assert not host.tcp_connects(attacker4, 22)
    assert host.tcp_connects(attacker4, OTHER_PORT), "a ban of the ssh jail closes port 22 only"
    listed = host.run("journalban", "banned").stdout
    assert attacker4 in listed
    dropped = host.jail_stats("sshd")["packets_dropped"]
    assert isinstance(dropped, int)
    assert dropped > 0, "the kernel counted the dropped connection attempts"


def test_ssh_failures_over_ipv6_ban_the_attackers_prefix(host: BootedHost, attacker6: str) -> None:
    prefix = ipaddress.ip_network(f"{attacker6}/64", strict=False)
    _attack_until_banned(host, attacker6, "nosuchuser", str(prefix))
    assert not host.tcp_connects(attacker6, 22)
    assert host.tcp_connects(attacker6, OTHER_PORT)


def test_failures_below_maxretry_are_counted_and_ban_nobody(
    host: BootedHost, attacker4: str
) -> None:
    before = host.jail_stats("sshd")["failures_total"]
    assert isinstance(before, int)
    for _ in range(2):
        assert host.ssh_attempt(attacker4, "root") != 0
    host.wait_for(
        "two more failures counted",
        lambda: host.jail_stats("sshd")["failures_total"] == before + 2,
    )
    assert host.tcp_connects(attacker4, 22)
    assert attacker4 not in host.nft_elements()


def test_the_shipped_config_runs_without_etc_services(host: BootedHost, attacker4: str) -> None:
    """A minimal Debian has no /etc/services (netbase): the shipped jails' ports
    are well-known names the agent knows without it."""
    host.run("mv", "/etc/services", "/etc/services.booted-away")
    try:
        host.systemctl("restart", "journalban.service")
        assert host.run("journalban", "check-config").returncode == 0
        host.emit_failures([attacker4] * 3)
        host.wait_for(f"{attacker4} banned", lambda: attacker4 in host.nft_elements())
        assert not host.tcp_connects(attacker4, 22)
        assert host.tcp_connects(attacker4, OTHER_PORT)
    finally:
        host.run("mv", "/etc/services.booted-away", "/etc/services")
        host.systemctl("restart", "journalban.service")
