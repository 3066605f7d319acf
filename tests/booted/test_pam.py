"""The PAM check with the real sshd: pam_exec.so calling journalban pam-check.

The container's sshd gets the two lines docs/enforcement.md gives (the
``auth`` one through ``journalban pam-check``, the ``account`` one through the
packaged helper ``/usr/lib/journalban/pam-check``), and the
agent an ``enforcement: {pam: {jails: [sshd]}}`` drop-in. Real ssh logins
(sshpass, the right password) come from the attacker's namespace:

- a banned address is refused by PAM on the port the firewall leaves open
  (the sshd jail's ban drops port 22 only), while it logged in before;
- during an account attack (the shipped ``account`` detector, fed with
  failures on the account from a dozen addresses) the account's owner logs in
  from the network they used before (known-good), a new address is refused
  with the right password, and another account logs in from that new address.

Everything is put back after: sshd's PAM file, the drop-in, the users, the
attack state, the known-good pairs and the bans of these addresses.
"""

from __future__ import annotations

import ipaddress
import json
import time
from collections.abc import Iterator, Sequence

import pytest

from support.container import ATTACKERS4, OTHER_PORT, SERVER4, BootedHost

PAM_FILE = "/etc/pam.d/sshd"
MANAGER = ("org.jailban", "/org/jailban", "org.jailban.Manager1")
PAM_LINES = (
    "auth     requisite  pam_exec.so quiet /usr/bin/journalban pam-check\n"
    "account  requisite  pam_exec.so quiet /usr/lib/journalban/pam-check\n"
)
DROPIN = "/etc/journalban/jail.d/booted-pam.yaml"
PASSWORD = "correct horse 7"  # noqa: S105
# The attacker's addresses from the end of the list: the other modules take theirs from the start.
KNOWN, NEW, OTHER = ATTACKERS4[-1], ATTACKERS4[-2], ATTACKERS4[-3]
ATTACKED: list[str] = []  # the addresses logged attacking alice, unbanned after


def login(host: BootedHost, source: str, user: str, port: int = 22) -> int:
    """One real ssh login with the right password from ``source``; ssh's exit code."""
    return host.in_attacker(
        [
            "sshpass", "-p", PASSWORD, "ssh", "-F", "/dev/null", "-b", source, "-p", str(port),
            "-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null",
            "-o", "PreferredAuthentications=password", "-o", "PubkeyAuthentication=no",
            "-o", "NumberOfPasswordPrompts=1", "-o", "ConnectTimeout=5",
            f"{user}@{SERVER4}", "true",
        ],
        timeout=30,
    ).returncode  # fmt: skip


def _unban_covering(host: BootedHost, addresses: Sequence[str]) -> None:
    """Lift every ban covering one of ``addresses`` (the detectors ban prefixes too).

    One listing, then one busctl call per ban: the Python CLI costs a second
    or more a call on a loaded machine, busctl milliseconds.
    """
    targets = [ipaddress.ip_address(a) for a in addresses]
    listed = json.loads(host.run("journalban", "banned", "--json").stdout or "[]")
    covering = {
        ban["address"]
        for ban in listed
        if any(t in ipaddress.ip_network(ban["address"], strict=False) for t in targets)
    }
    for network in sorted(covering):
        host.run("busctl", "call", *MANAGER, "Unban", "ss", network, "", check=False)


def _journal_since(host: BootedHost, since: str) -> str:
    return host.journal("-u", "journalban.service", "--since", since, "-o", "cat")


@pytest.fixture(scope="module")
def pam(host: BootedHost) -> Iterator[None]:
    original = (host.root / PAM_FILE.lstrip("/")).read_text()
    for user in ("alice", "carol"):
        host.run("useradd", "-m", "-s", "/bin/sh", user, check=True)
        host.run("chpasswd", input=f"{user}:{PASSWORD}\n")
    host.write(DROPIN, "enforcement:\n  pam: {jails: [sshd], fail: open}\n")
    host.write(PAM_FILE, PAM_LINES + original)
    host.systemctl("restart", "journalban.service")
    host.wait_for(
        "the PAM socket",
        lambda: host.run("test", "-S", "/run/journalban/pam.sock", check=False).returncode == 0,
    )
    try:
        yield
    finally:
        host.write(PAM_FILE, original)
        host.remove(DROPIN)
        host.run("journalban", "under-attack", "end", "alice", check=False)
        for user in ("alice", "carol"):
            host.run("journalban", "known-good", "forget", user, check=False)
            host.run("userdel", "-r", user, check=False)
        _unban_covering(host, (KNOWN, NEW, OTHER, *ATTACKED))
        host.systemctl("restart", "journalban.service")


def test_a_banned_address_is_refused_by_pam_where_the_firewall_lets_it_through(
    host: BootedHost, pam: None
) -> None:
    assert login(host, OTHER, "carol", OTHER_PORT) == 0, "carol logs in before the ban"
    since = host.run("date", "+%Y-%m-%d %H:%M:%S").stdout.strip()
    host.run("journalban", "ban", "sshd", OTHER, check=True)
    assert not host.tcp_connects(OTHER, 22), "the firewall drops port 22"
    assert host.tcp_connects(OTHER, OTHER_PORT), "and lets the other port through"
    assert login(host, OTHER, "carol", OTHER_PORT) != 0, "PAM refuses the banned address"
    host.wait_for(
        "the agent's log of the refusal",
        lambda: f"from '{OTHER}' refused: banned in sshd" in _journal_since(host, since),
    )
    host.run("journalban", "unban", OTHER, check=True)
    assert login(host, OTHER, "carol", OTHER_PORT) == 0, "unbanned: in again"


def test_an_account_under_attack_takes_its_password_from_known_good_networks_only(
    host: BootedHost, pam: None
) -> None:
    assert login(host, KNOWN, "alice") == 0
    host.wait_for(
        "alice's login from KNOWN learnt as known-good",
        lambda: KNOWN in host.run("journalban", "known-good", "list").stdout,
    )
    attackers = host.fresh_addresses(12)
    ATTACKED.extend(attackers)
    host.emit_sshd(
        [
            f"Failed password for alice from {a} port {2000 + n} ssh2"
            for n, a in enumerate(attackers)
        ]
    )
    host.wait_for(
        "alice under attack",
        lambda: "alice" in host.run("journalban", "under-attack", "list").stdout,
    )
    since = host.run("date", "+%Y-%m-%d %H:%M:%S").stdout.strip()
    time.sleep(1)  # `--since` has whole seconds
    assert login(host, NEW, "carol") == 0, "another account from the new address logs in"
    assert login(host, NEW, "alice") != 0, "alice's right password from a new address is refused"
    assert login(host, KNOWN, "alice") == 0, "alice logs in from her known-good network"
    host.wait_for(
        "the agent's log of the refusal",
        lambda: (
            f"from '{NEW}' refused: account under attack in sshd" in _journal_since(host, since)
        ),
    )
    host.run("journalban", "under-attack", "end", "alice", check=True)
    host.run("journalban", "unban", NEW, check=False)  # banned if the account detector did
    assert login(host, NEW, "alice") == 0, "the attack over, alice logs in from anywhere"


def test_fail_closed_refuses_remote_logins_while_the_agent_is_down_never_local_ones(
    host: BootedHost, pam: None
) -> None:
    host.write(DROPIN, "enforcement:\n  pam: {jails: [sshd], fail: closed}\n")
    host.systemctl("restart", "journalban.service")
    host.wait_for(
        "the fail mode beside the socket",
        lambda: host.run("cat", "/run/journalban/pam.sock.fail", check=False).stdout == "closed\n",
    )
    assert login(host, OTHER, "carol", OTHER_PORT) == 0, "the agent answers: carol in"
    host.systemctl("stop", "journalban.service")
    try:
        assert login(host, OTHER, "carol", OTHER_PORT) != 0, "no answer: failing closed"
        # A console login (pam_exec exports no PAM_RHOST) is never asked about.
        console = host.run("env", "PAM_TYPE=auth", "PAM_SERVICE=login", "PAM_USER=carol",
                           "PAM_TTY=tty1", "/usr/lib/journalban/pam-check", check=False)  # fmt: skip
        assert console.returncode == 0
        remote = host.run("env", "PAM_TYPE=auth", "PAM_SERVICE=sshd", "PAM_USER=carol",
                          f"PAM_RHOST={OTHER}", "/usr/bin/journalban", "pam-check", check=False)  # fmt: skip
        assert remote.returncode == 1
        assert "failing closed" in remote.stderr
    finally:
        host.write(DROPIN, "enforcement:\n  pam: {jails: [sshd], fail: open}\n")
        host.systemctl("start", "journalban.service")
