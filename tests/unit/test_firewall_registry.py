"""Backends by name and actions by type, from configuration mappings."""

from __future__ import annotations

from pathlib import Path

import pytest

from journalban.actions.command import CommandAction
from journalban.actions.mail import MailAction
from journalban.clock import FakeClock
from journalban.errors import ConfigError
from journalban.firewall.base import JailRules, PortRange
from journalban.firewall.dryrun import DryRunBackend
from journalban.firewall.hostsdeny import HostsDenyBackend
from journalban.firewall.ipset import IptablesIpsetBackend
from journalban.firewall.registry import create_action, create_backend, create_jail_actions
from journalban.firewall.shorewall import ShorewallBackend

JAIL = JailRules("sshd", ports=(PortRange(22, 22), PortRange(2222, 2222)))


def test_every_backend_name_gives_its_backend(tmp_path: Path) -> None:
    assert isinstance(create_backend("dry-run", {}, tmp_path), DryRunBackend)
    hosts = create_backend("hosts-deny", {}, tmp_path)
    assert isinstance(hosts, HostsDenyBackend)
    assert hosts.deny_file == tmp_path / "hosts.deny"
    assert isinstance(create_backend("shorewall", {}, tmp_path), ShorewallBackend)
    ipset = create_backend("iptables-ipset", {"hook": "forward", "verdict": "reject"}, tmp_path)
    assert isinstance(ipset, IptablesIpsetBackend)
    assert (ipset.hook_chain, ipset.verdict) == ("FORWARD", "reject")


def test_nftables_is_loaded_when_present(tmp_path: Path) -> None:
    backend = create_backend("nftables", {"hook": "input", "verdict": "drop"}, tmp_path)
    assert backend.name == "nftables"


def test_unknown_backends_and_bad_settings_are_config_errors(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="unknown backend 'pf'"):
        create_backend("pf", {}, tmp_path)
    with pytest.raises(ConfigError, match="verdict must be drop or reject"):
        create_backend("iptables-ipset", {"verdict": "accept"}, tmp_path)


def test_a_jail_without_actions_uses_the_firewall() -> None:
    made = create_jail_actions(None, JAIL, FakeClock())
    assert made.firewall
    assert made.actions == ()
    assert not made.notify_only


def test_a_jail_with_only_mail_only_notifies() -> None:
    specs = [{"type": "mail", "from": "jb@example.org", "to": "root@example.org"}]
    made = create_jail_actions(specs, JAIL, FakeClock())
    assert not made.firewall
    assert isinstance(made.actions[0], MailAction)
    assert made.notify_only


def test_a_command_action_blocks_and_gets_the_jail_ports() -> None:
    specs: list[dict[str, object]] = [
        {"type": "firewall"},
        {"type": "command", "ban": ["/sbin/route", "add", "{address}"], "timeout": 5},
    ]
    made = create_jail_actions(specs, JAIL, FakeClock())
    command = made.actions[0]
    assert isinstance(command, CommandAction)
    assert (command.port, command.protocol, command.timeout) == ("22,2222", "tcp", 5.0)
    assert create_jail_actions(specs[1:], JAIL, FakeClock()).notify_only is False


def test_mail_settings_are_read_with_buffer_and_sendmail() -> None:
    action = create_action(
        {
            "type": "mail",
            "from": "jb@example.org",
            "to": ["a@example.org", "b@example.org"],
            "sendmail": True,
            "whois": True,
            "buffer": {"count": 10, "interval": 600},
        },
        jail=JAIL,
        clock=FakeClock(),
    )
    assert isinstance(action, MailAction)
    settings = action.settings
    assert settings.sendmail == "/usr/sbin/sendmail"
    assert (settings.buffer_count, settings.buffer_interval) == (10, 600.0)
    assert settings.recipients == ("a@example.org", "b@example.org")


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ({"type": "pager"}, "unknown type 'pager'"),
        ({"type": "command", "ban": "/bin/echo {address}"}, "list of strings"),
        ({"type": "command", "ban": ["/bin/echo", "{ip}"]}, r"unknown field \{ip\}"),
        ({"type": "command"}, "needs a ban or an unban argv"),
        ({"type": "command", "ban": ["/bin/true"], "shell": True}, "unknown key"),
        ({"type": "mail", "to": "a@example.org"}, "'from' must be"),
        ({"type": "mail", "from": "x@y.z", "to": "a\r\nBcc: b@c.d"}, "not a mail address"),
        ({"type": "mail", "from": "x@y.z", "to": "a@b.c", "smtp_port": "25"}, "positive integer"),
        ({"type": "mail", "from": "x@y.z", "to": "a@b.c", "sendmail": "sendmail"}, "absolute"),
        ({"type": "mail", "from": "x@y.z", "to": "a@b.c", "buffer": {"size": 3}}, "unknown key"),
    ],
)
def test_bad_action_items_are_config_errors(spec: dict[str, object], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        create_jail_actions([spec], JAIL, FakeClock())
