"""The org.jailban contract as data: names, escaping, the action table, the shipped XML."""

from __future__ import annotations

import asyncio
import ipaddress

import pytest
from dbus_fast import Variant
from dbus_fast import introspection as intr

from journalban import errors
from journalban.bus import contract, convert
from journalban.bus.interfaces import JailInterface, ManagerInterface
from journalban.events import Ban
from support.fake_control import FakeControl
from support.real import REPO

DBUS_DIR = REPO / "dbus"

# The signatures as issue 6 states them, written out independently of the code.
MANAGER_CONTRACT = {
    "Ban": ("ssta{sv}", ""),
    "Unban": ("ss", "u"),
    "UnbanAll": ("s", "u"),
    "GetBans": ("suu", "uta(ssttus)"),
    "FindBans": ("a{sv}uu", "uta(ssttus)"),
    "ListRecentCommands": ("", "a(tsuss)"),
    "ListRecentFailures": ("s", "a(sutas)"),
    "ListBans": ("s", "a(ssttus)"),
    "QueryBan": ("s", "a(ssttus)"),
    "ListJails": ("", "a(so)"),
    "GetStatus": ("", "a{sv}"),
    "Reload": ("", ""),
    "TestLine": ("ss", "bsa{sv}"),
    "GetBanDetails": ("ss", "a{sv}"),
    "UnbanFleet": ("ss", "u"),  # issue 15
    "ListKnownGood": ("s", "a(ssst)"),  # issue 14
    "ForgetKnownGood": ("ss", "u"),
    "ListAccountsUnderAttack": ("s", "a(sstt)"),
    "EndAccountAttack": ("ss", "u"),
}
JAIL_CONTRACT = {
    "Ban": ("sta{sv}", ""),
    "Unban": ("s", "u"),
    "ListBans": ("", "a(ssttus)"),
    "GetStatus": ("", "a{sv}"),
}
MANAGER_SIGNALS = {
    "Banned": "ssta{sv}",
    "BannedMany": "a(ssta{sv})",
    "Unbanned": "sss",
    "Reloaded": "",
}
MANAGER_PROPERTIES = {
    "Version": "s",
    "State": "s",
    "BannedCount": "u",
    "BannedPrefixCount": "u",
    "Generation": "t",
    "Fleet": "a{sv}",
}
JAIL_PROPERTIES = {
    "Name": "s",
    "Enabled": "b",
    "Filter": "s",
    "Sources": "as",
    "Ports": "as",
    "MaxRetry": "u",
    "FindTimeUSec": "t",
    "BanTimeUSec": "t",
    "CurrentlyFailed": "u",
    "TotalFailed": "t",
    "CurrentlyBanned": "u",
    "TotalBanned": "t",
    "DroppedPackets": "t",
    "DroppedBytes": "t",
    "LinesUnreadable": "t",
}


def shipped(name: str) -> intr.Interface:
    node = intr.Node.parse((DBUS_DIR / f"{name}.xml").read_text())
    (interface,) = node.interfaces
    return interface


def describe(interface: intr.Interface) -> dict[str, object]:
    """Everything a client sees of an interface, in a comparable form."""
    return {
        "methods": {
            m.name: (
                [(a.name, a.signature) for a in m.in_args],
                [(a.name, a.signature) for a in m.out_args],
            )
            for m in interface.methods
        },
        "signals": {s.name: [(a.name, a.signature) for a in s.args] for s in interface.signals},
        "properties": {p.name: (p.signature, p.access.value) for p in interface.properties},
    }


@pytest.mark.parametrize(
    ("name", "label"),
    [
        ("sshd", "sshd"),
        ("web-auth", "web_2dauth"),
        ("", "_"),
        ("1st", "_31st"),
        ("a1", "a1"),
        ("a_b", "a_5fb"),
        ("nginx.http", "nginx_2ehttp"),
        ("jäil", "j_c3_a4il"),
    ],
)
def test_jail_names_are_escaped_like_systemd_bus_label_escape(name: str, label: str) -> None:
    assert contract.bus_label_escape(name) == label
    assert contract.bus_label_unescape(label) == name
    assert contract.jail_path(name) == "/org/jailban/jail/" + label


def test_every_method_in_the_shipped_xml_has_an_action() -> None:
    for name in (contract.MANAGER_INTERFACE, contract.JAIL_INTERFACE):
        for method in shipped(name).methods:
            assert (name, method.name) in contract.METHOD_ACTIONS, method.name


def test_every_method_the_service_exports_has_an_action() -> None:
    control = FakeControl()
    for interface in (ManagerInterface(control), JailInterface(control, "sshd")):
        for method in interface.introspect().methods:
            assert (interface.name, method.name) in contract.METHOD_ACTIONS, method.name


def test_actions_follow_the_issue() -> None:
    m, j = contract.MANAGER_INTERFACE, contract.JAIL_INTERFACE
    assert contract.action_for(m, "GetStatus") == "org.jailban.info"
    assert contract.action_for(m, "TestLine") == "org.jailban.info"
    assert contract.action_for(m, "Ban") == "org.jailban.ban"
    assert contract.action_for(j, "Ban", force=True) == "org.jailban.manage"
    assert contract.action_for(m, "UnbanAll") == "org.jailban.unban"
    assert contract.action_for(m, "GetBanDetails") == "org.jailban.manage"
    assert contract.action_for(m, "Reload") == "org.jailban.manage"
    assert contract.action_for(m, "ListRecentFailures") == "org.jailban.manage"  # user names
    assert contract.action_for("org.freedesktop.DBus.Properties", "Get") == "org.jailban.info"


def test_unmapped_members_have_no_action() -> None:
    assert contract.action_for(contract.MANAGER_INTERFACE, "Shutdown") is None
    assert contract.action_for("org.freedesktop.DBus.Properties", "Set") is None


def test_shipped_xml_states_the_contract_of_the_issue() -> None:
    for name, methods in (
        (contract.MANAGER_INTERFACE, MANAGER_CONTRACT),
        (contract.JAIL_INTERFACE, JAIL_CONTRACT),
    ):
        interface = shipped(name)
        found = {
            m.name: (
                "".join(str(a.signature) for a in m.in_args),
                "".join(str(a.signature) for a in m.out_args),
            )
            for m in interface.methods
        }
        assert found == methods
    manager = shipped(contract.MANAGER_INTERFACE)
    assert {s.name: s.signature for s in manager.signals} == MANAGER_SIGNALS
    assert {p.name: p.signature for p in manager.properties} == MANAGER_PROPERTIES
    assert {
        p.name: p.signature for p in shipped(contract.JAIL_INTERFACE).properties
    } == JAIL_PROPERTIES
    test_line = next(m for m in manager.methods if m.name == "TestLine")
    assert [a.name for a in test_line.out_args] == ["matched", "address", "captures"]


def test_exported_interfaces_match_the_shipped_xml() -> None:
    control = FakeControl()
    assert describe(ManagerInterface(control).introspect()) == describe(
        shipped(contract.MANAGER_INTERFACE)
    )
    assert describe(JailInterface(control, "sshd").introspect()) == describe(
        shipped(contract.JAIL_INTERFACE)
    )


def test_a_ban_travels_as_ssttus_in_microseconds() -> None:
    ban = Ban(
        "sshd", ipaddress.ip_network("203.0.113.7"), 1000.5, None, ban_count=2, reason="manual"
    )
    assert convert.ban_struct(ban) == ["203.0.113.7", "sshd", 1_000_500_000, 0, 2, "manual"]


def test_banned_details_never_carry_the_matched_lines() -> None:
    ban = Ban(
        "sshd",
        ipaddress.ip_network("2001:db8::/64"),
        1.0,
        61.0,
        failures=5,
        source="journal",
        lines=("Failed password for hunter2 from 2001:db8::1",),
    )
    details = convert.banned_details(ban)
    assert details["failures"].signature == "u"
    assert details["failures"].value == 5
    assert details["source"].value == "journal"
    assert "hunter2" not in repr(details)


@pytest.mark.parametrize(
    ("exc", "name"),
    [
        (errors.NoSuchJail("x"), "org.jailban.Error.NoSuchJail"),
        (errors.AddressError("bad"), "org.jailban.Error.InvalidAddress"),
        (errors.AddressIgnored("own"), "org.jailban.Error.AddressIgnored"),
        (errors.NotBanned("no"), "org.jailban.Error.NotBanned"),
        (errors.BackendError("nft", 1), "org.jailban.Error.BackendFailed"),
        (errors.ConfigError("bad", "a.yaml", 3), "org.jailban.Error.ConfigInvalid"),
        (errors.StateError("db"), "org.freedesktop.DBus.Error.Failed"),
    ],
)
def test_agent_errors_become_named_dbus_errors(exc: Exception, name: str) -> None:
    assert convert.to_dbus_error(exc).type == name


def test_unexpected_errors_do_not_leak_their_text(caplog: pytest.LogCaptureFixture) -> None:
    error = convert.to_dbus_error(RuntimeError("/secret/path"))
    assert error.type == "org.freedesktop.DBus.Error.Failed"
    assert "/secret/path" not in error.text


def test_unban_fleet_needs_the_unban_action_and_fleet_shows_typed_status() -> None:
    from journalban.bus.fleetview import fleet_properties

    assert contract.action_for(contract.MANAGER_INTERFACE, "UnbanFleet") == "org.jailban.unban"
    props = fleet_properties(FakeControl().fleet_status())
    assert props["Connected"].signature == "b"
    assert props["Published"].value == 3
    assert props["Skipped"].signature == "a{st}"
    assert props["Skipped"].value == {"rate_limited": 2}
    assert fleet_properties({}) == {}


def test_status_and_the_manager_property_count_prefix_bans_apart() -> None:
    control = FakeControl()

    async def ban_some() -> None:
        for text in ("203.0.113.5", "203.0.113.0/24", "2001:db8:5::/64", "2001:db8::/48"):
            await control.ban("sshd", ipaddress.ip_network(text), 600.0)

    asyncio.run(ban_some())
    status = convert.manager_status(control)
    assert status["BannedCount"] == Variant("u", 4)
    # An IPv6 /64 is one peer (what the jails ban an IPv6 address as), not a prefix.
    assert status["BannedPrefixCount"] == Variant("u", 2)
    assert ManagerInterface(control).property_values()["BannedPrefixCount"] == 2


def test_the_banned_signal_built_by_hand_is_the_interfaces() -> None:
    """``bannedwire.banned_signal`` sends ``Banned`` without dbus-fast's decorator: the same
    path, interface, member, signature and body as ``ManagerInterface.Banned`` gives, and
    a body that marshals (no matched line in it)."""
    from dbus_fast import MessageType

    from journalban.bus.bannedwire import banned_signal

    manager = ManagerInterface(FakeControl())
    (declared,) = [s for s in manager.introspect().signals if s.name == "Banned"]
    ban = Ban(
        "sshd", ipaddress.ip_network("203.0.113.9/32"), 1_700_000_000.25, 1_700_003_600.5, 3,
        "attack_mode", 7, "journal", ("Failed password for hunter2 from 203.0.113.9",),
    )  # fmt: skip
    signal = banned_signal(ban)
    assert signal.message_type == MessageType.SIGNAL
    assert (signal.path, signal.interface, signal.member) == (
        contract.MANAGER_PATH, contract.MANAGER_INTERFACE, "Banned",
    )  # fmt: skip
    assert signal.signature == "".join(str(arg.signature) for arg in declared.args)
    expected = manager.Banned.__wrapped__(  # type: ignore[attr-defined]
        manager, ban.address, ban.jail, convert.usec(ban.expires_at), convert.banned_details(ban)
    )
    assert signal.body == list(expected)
    assert b"hunter2" not in signal._marshall(False)


def test_the_banned_many_signal_is_the_interfaces() -> None:
    """``bannedmany.many_signal``: the path, interface, member and signature that
    ``ManagerInterface.BannedMany`` declares, each element a ``Banned`` signal's body."""
    from journalban.bus.bannedmany import many_signal
    from journalban.bus.bannedwire import banned_signal

    manager = ManagerInterface(FakeControl())
    (declared,) = [s for s in manager.introspect().signals if s.name == "BannedMany"]
    bans = [
        Ban("sshd", ipaddress.ip_network(f"203.0.113.{n}"), 1_700_000_000.25, None, n,
            "failures", 1, "journal", ("Failed password for hunter2",))
        for n in range(3)
    ]  # fmt: skip
    signal = many_signal(bans)
    assert (signal.path, signal.interface, signal.member) == (
        contract.MANAGER_PATH, contract.MANAGER_INTERFACE, "BannedMany",
    )  # fmt: skip
    assert signal.signature == "".join(str(arg.signature) for arg in declared.args)
    assert signal.body == [[banned_signal(ban).body for ban in bans]]
    assert b"hunter2" not in signal._marshall(False)
