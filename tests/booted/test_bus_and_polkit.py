"""The real system bus and polkitd, as a booted Debian has them.

polkitd is D-Bus activated there: it is not running until somebody calls it.
An administrator allowed by a polkit rule must be able to ban while polkitd
is stopped (the agent's check starts it); an ordinary user reads but cannot
ban; root bans through busctl and the CLI; and with the agent stopped, a call
to org.jailban starts it through the dbus-org.jailban.service alias.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from support.container import BootedHost

ADMIN = "jbadmin"
USER = "jbuser"
RULE = "/etc/polkit-1/rules.d/50-journalban-test.rules"
MANAGER = ("org.jailban", "/org/jailban", "org.jailban.Manager1")
HOUR_USEC = str(3600 * 1_000_000)


@pytest.fixture(scope="module")
def users(host: BootedHost) -> Iterator[None]:
    host.run("groupadd", "-f", "jbadmins")
    host.run("useradd", "-M", "-G", "jbadmins", ADMIN)
    host.run("useradd", "-M", USER)
    host.write(
        RULE,
        "polkit.addRule(function(action, subject) {\n"
        '    if (action.id.indexOf("org.jailban.") == 0 && subject.isInGroup("jbadmins")) {\n'
        "        return polkit.Result.YES;\n"
        "    }\n"
        "});\n",
    )
    yield
    host.remove(RULE)
    host.run("userdel", ADMIN, check=False)
    host.run("userdel", USER, check=False)


def _stop_polkit(host: BootedHost) -> None:
    host.systemctl("stop", "polkit.service")
    assert host.show("polkit.service", "ActiveState") == "inactive"


@pytest.mark.usefixtures("users")
def test_an_admin_allowed_by_a_rule_bans_with_polkitd_not_yet_running(host: BootedHost) -> None:
    _stop_polkit(host)
    result = host.run(
        "busctl", "call", *MANAGER, "Ban", "ssta{sv}", "sshd", "192.0.2.201", HOUR_USEC, "0",
        user=ADMIN, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert host.show("polkit.service", "ActiveState") == "active", "the check activated polkitd"
    assert "192.0.2.201" in host.nft_elements()
    _stop_polkit(host)
    cli = host.run("journalban", "ban", "sshd", "192.0.2.202", user=ADMIN, check=False)
    assert cli.returncode == 0, cli.stderr
    assert "192.0.2.202" in host.nft_elements()


@pytest.mark.usefixtures("users")
def test_an_ordinary_user_reads_but_cannot_ban(host: BootedHost) -> None:
    _stop_polkit(host)
    status = host.run("journalban", "status", user=USER, check=False)
    assert status.returncode == 0, status.stderr
    assert "sshd" in status.stdout
    refused = host.run("journalban", "ban", "sshd", "192.0.2.203", user=USER, check=False)
    assert refused.returncode == 1
    assert "not authorized for org.jailban.ban" in refused.stderr
    raw = host.run(
        "busctl", "call", *MANAGER, "Ban", "ssta{sv}", "sshd", "192.0.2.203", HOUR_USEC, "0",
        user=USER, check=False,
    )  # fmt: skip
    assert raw.returncode != 0
    assert "192.0.2.203" not in host.nft_elements()


def test_root_bans_and_unbans_through_busctl_and_the_cli(host: BootedHost) -> None:
    host.run("busctl", "call", *MANAGER, "Ban", "ssta{sv}", "sshd", "192.0.2.204", HOUR_USEC, "0")
    assert "192.0.2.204" in host.nft_elements()
    host.run("journalban", "unban", "192.0.2.204")
    host.run("journalban", "ban", "sshd", "192.0.2.205", "--time", "1h")
    elements = host.nft_elements()
    assert "192.0.2.204" not in elements
    assert "192.0.2.205" in elements
    assert "192.0.2.205" in host.run("journalban", "banned", "192.0.2.205").stdout


def test_a_call_starts_the_stopped_agent_through_its_dbus_alias(host: BootedHost) -> None:
    # `systemctl enable` made the alias the [Install] section names.
    assert "dbus-org.jailban.service" in host.show("journalban.service", "Names").split()
    host.systemctl("stop", "journalban.service")
    assert host.show("journalban.service", "ActiveState") == "inactive"
    bans = host.run("busctl", "get-property", *MANAGER, "BannedCount", timeout=90)
    assert bans.stdout.startswith("u ")
    assert host.show("journalban.service", "ActiveState") == "active"
    assert (
        "Activating via systemd: service name='org.jailban' unit='dbus-org.jailban.service'"
        in host.journal("-u", "dbus.service", "-o", "cat")
    )


def test_a_disabled_agent_is_not_started_by_a_call(host: BootedHost) -> None:
    host.systemctl("disable", "--now", "journalban.service")
    try:
        call = host.run("busctl", "get-property", *MANAGER, "BannedCount", check=False, timeout=90)
        assert call.returncode != 0
        assert host.show("journalban.service", "ActiveState") == "inactive"
    finally:
        host.systemctl("enable", "--now", "journalban.service")
    assert host.show("journalban.service", "ActiveState") == "active"
