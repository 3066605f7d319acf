"""The files under dbus/ that distributions install: activation, bus policy, polkit actions."""

from __future__ import annotations

import configparser
import xml.etree.ElementTree as ET

from support.real import REPO

DBUS_DIR = REPO / "dbus"
OWNER = "org.freedesktop.policykit.owner"


def test_activation_file_hands_activation_to_systemd() -> None:
    parser = configparser.ConfigParser(interpolation=None)
    parser.optionxform = str  # type: ignore[assignment,method-assign]
    parser.read_string((DBUS_DIR / "org.jailban.service").read_text())
    section = parser["D-BUS Service"]
    assert section["Name"] == "org.jailban"
    # The alias: only an enabled unit is activated.
    assert section["SystemdService"] == "dbus-org.jailban.service"
    assert section["User"] == "root"
    assert section["Exec"].startswith("/")


def test_polkit_actions_have_the_contract_defaults_and_owner() -> None:
    root = ET.parse(DBUS_DIR / "org.jailban.policy").getroot()  # noqa: S314 - our own file
    actions = {a.get("id"): a for a in root.iter("action")}
    assert set(actions) == {
        "org.jailban.info",
        "org.jailban.ban",
        "org.jailban.unban",
        "org.jailban.manage",
    }
    for action_id, action in actions.items():
        defaults = {d.tag: d.text for d in action.find("defaults") or []}
        expected = "yes" if action_id == "org.jailban.info" else "auth_admin_keep"
        assert defaults == dict.fromkeys(("allow_any", "allow_inactive", "allow_active"), expected)
        owners = [a.text for a in action.iter("annotate") if a.get("key") == OWNER]
        assert owners == ["unix-user:journalban"], action_id


def test_bus_policy_lets_root_and_journalban_own_the_name_and_anyone_call() -> None:
    root = ET.parse(DBUS_DIR / "org.jailban.conf").getroot()  # noqa: S314 - our own file
    owners = {
        p.get("user")
        for p in root.iter("policy")
        for allow in p.iter("allow")
        if allow.get("own") == "org.jailban"
    }
    assert owners == {"root", "journalban"}
    default = next(p for p in root.iter("policy") if p.get("context") == "default")
    callable_interfaces = {
        a.get("send_interface")
        for a in default.iter("allow")
        if a.get("send_destination") == "org.jailban"
    }
    assert {
        "org.jailban.Manager1",
        "org.jailban.Jail1",
        "org.freedesktop.DBus.Introspectable",
        "org.freedesktop.DBus.Properties",
        "org.freedesktop.DBus.Peer",
        "org.freedesktop.DBus.ObjectManager",
    } == callable_interfaces
    assert not list(default.iter("deny"))
