"""Rootless for real: the shipped user unit in a real systemd user manager.

An account of the booted container with lingering on gets its own
``user@UID.service``; ``systemctl --user enable --now journalban`` starts the
shipped ``/usr/lib/systemd/user/journalban.service`` there, with a
configuration in the account's ``~/.config/journalban``: a file jail on a
log it owns, a jail on its own user journal (a user service of its
own logging failures), the hosts-deny backend, no bus. Both ban into
``state_dir/hosts.deny`` (the unit's ``StateDirectory=`` in
``~/.local/state``), while the agent runs as the account with no
capability.
"""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest

from support.container import BootedHost

USER = "dave"
HOME = f"/home/{USER}"
FILE_BANNED = "203.0.113.81"
JOURNAL_BANNED = "203.0.113.82"


def as_user(host: BootedHost, *argv: str, check: bool = True) -> str:
    """A command as the account, with its user manager's bus (XDG_RUNTIME_DIR)."""
    uid = host.run("id", "-u", USER).stdout.strip()
    return host.run(
        "env", f"XDG_RUNTIME_DIR=/run/user/{uid}", f"HOME={HOME}", *argv, user=USER, check=check
    ).stdout


@pytest.fixture(scope="module")
def account(host: BootedHost) -> Iterator[str]:
    host.run("useradd", "-m", "-s", "/bin/sh", USER)
    uid = host.run("id", "-u", USER).stdout.strip()
    host.run("loginctl", "enable-linger", USER)
    host.wait_for(
        "the account's user manager",
        lambda: host.show(f"user@{uid}.service", "ActiveState") == "active",
    )
    config = f"""\
state_dir: {HOME}/.local/state/journalban
bus: false
firewall: {{backend: hosts-deny}}
jails:
  sshd: {{enabled: false}}
  app: {{enabled: true, filter: sshd, source: files, files: [{HOME}/logs/auth.log], maxretry: 2}}
  userjournal:
    enabled: true
    filter: sshd
    maxretry: 2
    journal_match: ["_SYSTEMD_USER_UNIT=fakeapp.service"]
"""
    as_user(host, "mkdir", "-p", f"{HOME}/.config/journalban", f"{HOME}/logs")
    as_user(host, "touch", f"{HOME}/logs/auth.log")
    host.write(f"{HOME}/.config/journalban/journalban.yaml", config)
    host.run("chown", f"{USER}:{USER}", f"{HOME}/.config/journalban/journalban.yaml")
    try:
        yield uid
    finally:
        as_user(host, "systemctl", "--user", "disable", "--now", "journalban", check=False)
        host.run("loginctl", "disable-linger", USER, check=False)
        host.run("loginctl", "terminate-user", USER, check=False)
        time.sleep(1)
        host.run("userdel", "-r", "-f", USER, check=False)


def test_user_unit_bans_from_the_accounts_log_and_user_journal_into_its_deny_file(
    host: BootedHost, account: str
) -> None:
    started = host.run("env", f"XDG_RUNTIME_DIR=/run/user/{account}", "systemctl", "--user",
                       "enable", "--now", "journalban", user=USER, check=False)  # fmt: skip
    if started.returncode != 0:
        pytest.fail(started.stderr + host.journal("_UID=" + account, "-o", "cat", "-n", "40")
                    + host.journal("-u", f"user@{account}.service", "-o", "cat", "-n", "40"))  # fmt: skip
    host.wait_for(
        "the user service",
        lambda: as_user(host, "systemctl", "--user", "show", "-P", "ActiveState", "journalban")
        .strip() == "active",
    )  # fmt: skip
    pid = as_user(host, "systemctl", "--user", "show", "-P", "MainPID", "journalban").strip()
    status = host.run("cat", f"/proc/{pid}/status").stdout
    assert f"Uid:\t{account}\t{account}" in status
    assert "CapEff:\t0000000000000000" in status
    assert "NoNewPrivs:\t1" in status
    stamp = host.run("date", "+%b %e %H:%M:%S").stdout.strip()
    lines = "".join(
        f"{stamp} host sshd[9{n}]: Failed password for invalid user u{n} from {FILE_BANNED} "
        f"port 500{n} ssh2\n"
        for n in range(3)
    )
    as_user(host, "sh", "-c", f"printf '%s' '{lines}' >> {HOME}/logs/auth.log")
    message = f"Failed password for invalid user x from {JOURNAL_BANNED} port 4000 ssh2"
    # A service of the account's own logging to its user journal (no user D-Bus
    # in the container for systemd-run --user: a unit file instead).
    host.write(
        f"{HOME}/.config/systemd/user/fakeapp.service",
        "[Service]\nType=oneshot\n"
        f"ExecStart=/bin/sh -c \"for n in 1 2 3; do echo '{message}'; sleep 0.2; done\"\n",
    )
    host.run("chown", "-R", f"{USER}:{USER}", f"{HOME}/.config/systemd")
    as_user(host, "systemctl", "--user", "daemon-reload")
    as_user(host, "systemctl", "--user", "start", "fakeapp")
    deny = f"{HOME}/.local/state/journalban/hosts.deny"

    def denied() -> str:
        return host.run("cat", deny, check=False).stdout

    host.wait_for("the file jail's ban in the deny file", lambda: FILE_BANNED in denied())
    host.wait_for("the user journal jail's ban", lambda: JOURNAL_BANNED in denied())
    mode = host.run("stat", "-c", "%U %a", f"{HOME}/.local/state/journalban").stdout.split()
    assert mode == [USER, "700"], "StateDirectory= of the user unit"
    log = as_user(host, "journalctl", "--user", "-u", "journalban", "-o", "cat", "--no-pager")
    assert f"Ban {FILE_BANNED} in jail app" in log
    assert f"Ban {JOURNAL_BANNED} in jail userjournal" in log
