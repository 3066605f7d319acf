"""Hardening enforced, not only scored: each unit variant and drop-in doing its job.

The shipped unit scores <= 2.0 in `systemd-analyze security` on the running
system; the dedicated-user variant bans and reloads as user journalban; and
each drop-in is shown twice: its feature fails without it (the sandbox
holds) and works with it.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterator

import pytest

from support.container import BootedHost
from support.dropins import JAIL_D, UNIT, configured, journal_since, now, phases

EXPOSURE_LIMIT = 2.0


def _exposure(host: BootedHost) -> float:
    out = host.run("systemd-analyze", "security", "--no-pager", UNIT).stdout
    match = re.search(r"Overall exposure level for journalban\.service: (\d+\.\d+)", out)
    assert match, out
    return float(match.group(1))


def test_the_running_shipped_unit_scores_at_most_2(host: BootedHost) -> None:
    assert host.show(UNIT, "DropInPaths") == ""
    assert _exposure(host) <= EXPOSURE_LIMIT


def test_the_dedicated_user_variant_bans_and_reloads_as_journalban(host: BootedHost) -> None:
    variant = (
        host.root / "usr/share/journalban/units/dedicated-user/journalban.service"
    ).read_text()
    host.write("/etc/systemd/system/journalban.service", variant)
    host.systemctl("daemon-reload")
    host.systemctl("restart", UNIT)
    try:
        uid = host.run("id", "-u", "journalban").stdout.strip()
        pid = host.show(UNIT, "MainPID")
        status = host.run("cat", f"/proc/{pid}/status").stdout
        assert re.search(rf"^Uid:\s+{uid}\s+{uid}\s", status, re.M), status
        assert re.search(r"^CapEff:\s+0*1000\s*$", status, re.M), "CAP_NET_ADMIN only"
        (address,) = host.fresh_addresses(1)
        host.emit_failures([address] * 3)
        host.wait_for(f"{address} banned", lambda: address in host.nft_elements())
        # ExecReload= runs as journalban: the agent lets its own user reload it,
        # with polkitd to be activated (it refuses that user the action).
        host.systemctl("stop", "polkit.service")
        assert host.systemctl("reload", UNIT, check=False).returncode == 0
        host.write(f"{JAIL_D}/broken.yaml", "jails: {sshd: {bantime: soon}}\n")
        try:
            assert host.systemctl("reload", UNIT, check=False).returncode != 0
        finally:
            host.remove(f"{JAIL_D}/broken.yaml")
        assert _exposure(host) <= EXPOSURE_LIMIT
    finally:
        host.remove("/etc/systemd/system/journalban.service")
        host.systemctl("daemon-reload")
        host.systemctl("restart", UNIT)
    assert host.show(UNIT, "FragmentPath").endswith("/lib/systemd/system/journalban.service")


def _command_jail(marker: str) -> str:
    return (
        "jails:\n  sshd:\n    actions:\n      - type: firewall\n      - type: command\n"
        f'        ban: [/usr/bin/touch, "/run/journalban/{marker}-{{address}}"]\n'
    )


def test_exec_actions_dropin_lets_command_actions_run(host: BootedHost) -> None:
    without, with_dropin = host.fresh_addresses(2)
    with phases(host) as phase:
        phase(config=_command_jail("without"))
        host.run("journalban", "ban", "sshd", without)
        time.sleep(2)
        assert host.run("test", "-e", f"/run/journalban/without-{without}", check=False).returncode
        phase(dropins=("exec-actions.conf",), config=_command_jail("with"))
        host.run("journalban", "ban", "sshd", with_dropin)
        host.wait_for(
            "the command action's file",
            lambda: (
                host.run(
                    "test", "-e", f"/run/journalban/with-{with_dropin}", check=False
                ).returncode
                == 0
            ),
        )


LOG = "/var/log/booted-app.log"
FILE_JAIL = f"""\
jails:
  applog:
    enabled: true
    filter: sshd
    source: files
    files: [{LOG}]
    port: "2222"
    maxretry: 2
"""


def _append(host: BootedHost, address: str, count: int) -> None:
    # Syslog's stamp, now: older lines than findtime would not count.
    stamp = host.run("date", "+%b %e %H:%M:%S").stdout.strip()
    lines = "".join(
        f"{stamp} vm sshd[99]: Failed password for invalid user a{n} from {address} "
        f"port {5000 + n} ssh2\n"
        for n in range(count)
    )
    host.run("sh", "-c", f"cat >> {LOG}", input=lines)


def test_read_any_log_dropin_reads_a_log_no_group_may_read(host: BootedHost) -> None:
    host.run("sh", "-c", f": > {LOG} && chown nobody:nogroup {LOG} && chmod 0600 {LOG}")
    without, with_dropin = host.fresh_addresses(2)
    try:
        with phases(host) as phase:
            phase(config=FILE_JAIL)
            _append(host, without, 2)
            time.sleep(3)
            assert host.jail_stats("applog")["failures_total"] == 0
            assert without not in host.nft_elements()
            phase(dropins=("read-any-log.conf",), config=FILE_JAIL)
            _append(host, with_dropin, 2)
            host.wait_for(f"{with_dropin} banned", lambda: with_dropin in host.nft_elements())
    finally:
        host.run("rm", "-f", LOG)


SMTP_UNIT = "booted-smtp"
MAIL_JAIL = """\
jails:
  sshd:
    actions:
      - type: firewall
      - type: mail
        from: journalban@booted.test
        to: admin@booted.test
        smtp_host: 127.0.0.1
        smtp_port: 2525
        lines: false
        timeout: 5
"""


@pytest.fixture
def smtp_sink(host: BootedHost) -> Iterator[None]:
    """A real SMTP server in the container (Python 3.11's smtpd), printing each mail."""
    host.run(
        "systemd-run", "-q", f"--unit={SMTP_UNIT}", "-E", "PYTHONWARNINGS=ignore",
        "/usr/bin/python3", "-u", "-m", "smtpd", "-n", "-c", "DebuggingServer", "127.0.0.1:2525",
    )  # fmt: skip
    host.wait_for(
        "the SMTP server",
        lambda: "127.0.0.1:2525" in host.run("ss", "-Htln", check=False).stdout,
    )
    yield
    host.systemctl("stop", f"{SMTP_UNIT}.service", check=False)


@pytest.mark.usefixtures("smtp_sink")
def test_inet_dropin_lets_the_mail_action_reach_smtp(host: BootedHost) -> None:
    without, with_dropin = host.fresh_addresses(2)

    def mailed(address: str) -> bool:
        return address in host.journal("-u", f"{SMTP_UNIT}.service", "-o", "cat")

    with phases(host) as phase:
        phase(config=MAIL_JAIL)
        since = now(host)
        host.run("journalban", "ban", "sshd", without)
        host.wait_for(
            "the mail action's error",
            lambda: (
                "mail" in journal_since(host, since).lower()
                and without in journal_since(host, since)
            ),
            timeout=20,
        )
        assert not mailed(without)
        phase(dropins=("inet.conf",), config=MAIL_JAIL)
        host.run("journalban", "ban", "sshd", with_dropin)
        host.wait_for(f"a mail about {with_dropin}", lambda: mailed(with_dropin), timeout=30)


def test_state_dir_dropin_lets_the_agent_keep_its_state_elsewhere(host: BootedHost) -> None:
    host.run("mkdir", "-p", "/srv/journalban")
    config = "state_dir: /srv/journalban\n"
    host.write(f"{JAIL_D}/booted-hardening.yaml", config)
    try:
        host.systemctl("restart", UNIT, check=False)
        host.wait_for(
            "the agent to fail on a read-only state_dir",
            lambda: host.show(UNIT, "ActiveState") in ("failed", "activating", "inactive"),
        )
        assert host.run("test", "-e", "/srv/journalban/state.sqlite", check=False).returncode
    finally:
        host.remove(f"{JAIL_D}/booted-hardening.yaml")
        host.systemctl("reset-failed", UNIT, check=False)
        host.systemctl("restart", UNIT)
    with configured(host, dropins=("state-dir.conf",), config=config):
        assert host.show(UNIT, "ActiveState") == "active"
        host.run("test", "-s", "/srv/journalban/state.sqlite")


SENDMAIL_JAIL = """\
jails:
  sshd:
    actions:
      - type: firewall
      - type: mail
        from: journalban@booted.test
        to: admin@booted.test
        sendmail: true
        lines: false
        timeout: 5
"""
# Postfix's own sendmail (Postfix is in the container, not running): it hands
# the message to the set-group-id postdrop, which writes it into maildrop/,
# the one thing sendmail.conf's NoNewPrivileges=no is there for.
MAILDROP = "/var/spool/postfix/maildrop"


def test_sendmail_dropin_lets_the_mail_action_run_sendmail(host: BootedHost) -> None:
    assert host.run("stat", "-c", "%A %G", "/usr/sbin/postdrop").stdout.split() == [
        "-r-xr-sr-x",
        "postdrop",
    ]
    without, with_dropin = host.fresh_addresses(2)

    def queued(address: str) -> bool:
        found = host.run("grep", "-rl", address, MAILDROP, check=False)
        return found.returncode == 0

    try:
        # Programs may run (exec-actions.conf), but set-id ones get no privileges.
        with phases(host) as phase:
            phase(dropins=("exec-actions.conf",), config=SENDMAIL_JAIL)
            since = now(host)
            host.run("journalban", "ban", "sshd", without)
            host.wait_for(
                "the mail action's error",
                lambda: (
                    "sendmail" in journal_since(host, since)
                    and without in journal_since(host, since)
                ),
                timeout=20,
            )
            assert not queued(without)
            phase(dropins=("sendmail.conf",), config=SENDMAIL_JAIL)
            host.run("journalban", "ban", "sshd", with_dropin)
            host.wait_for(f"a queued mail about {with_dropin}", lambda: queued(with_dropin))
    finally:
        host.run("find", MAILDROP, "-type", "f", "-delete")
