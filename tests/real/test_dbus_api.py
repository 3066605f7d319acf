"""org.jailban on a real private system bus, with polkitd deciding, driven by busctl and gdbus.

Every test runs twice: with the service as root and as the ``journalban``
system user (with CAP_NET_ADMIN); polkit answers the latter because our
actions name it as their owner.
"""

from __future__ import annotations

import json
import subprocess
import time
from collections.abc import Iterator

import pytest
from dbus_fast import introspection as intr

from support.bus import PrivateBus, ServiceProcess, SignalMonitor, run_client
from support.real import REPO

pytestmark = pytest.mark.real

DEST = "org.jailban"
MANAGER = "/org/jailban"


@pytest.fixture(scope="module", params=["root", "journalban"])
def bus(request: pytest.FixtureRequest) -> Iterator[PrivateBus]:
    with PrivateBus() as private:
        user = None if request.param == "root" else "journalban"
        service = ServiceProcess(private, user)
        try:
            yield private
        finally:
            service.stop()
        assert "Encountered error" not in private.log(), private.log()
        assert "Traceback" not in service.stderr_path.read_text()


def gdbus(
    bus: PrivateBus,
    method: str,
    *args: str,
    path: str = MANAGER,
    user: str | None = None,
    interactive: bool = False,
) -> subprocess.CompletedProcess[str]:
    argv = ["gdbus", "call", "--address", bus.address, "--dest", DEST, "--object-path", path]
    argv += ["--method", method, *(["--interactive"] if interactive else []), *args]
    return run_client(bus, argv, user=user)


def busctl(
    bus: PrivateBus, *args: str, user: str | None = None
) -> subprocess.CompletedProcess[str]:
    return run_client(bus, ["busctl", f"--address={bus.address}", *args], user=user)


def root_ban(bus: PrivateBus, address: str, usec: int = 0) -> subprocess.CompletedProcess[str]:
    """Manager1.Ban of ``address`` in jail sshd by root (busctl), for ``usec`` (0: the
    jail's bantime)."""
    return busctl(bus, "call", DEST, MANAGER, "org.jailban.Manager1", "Ban", "ssta{sv}", "sshd",
                  address, str(usec), "0")  # fmt: skip


def test_bus_accepted_our_policy_file(bus: PrivateBus) -> None:
    assert "Encountered error" not in bus.log()
    assert bus.has_name(DEST)


def test_live_introspection_matches_the_shipped_xml(bus: PrivateBus) -> None:
    for path, name in (
        (MANAGER, "org.jailban.Manager1"),
        ("/org/jailban/jail/sshd", "org.jailban.Jail1"),
    ):
        result = gdbus(bus, "org.freedesktop.DBus.Introspectable.Introspect", path=path)
        assert result.returncode == 0, result.stderr
        xml = result.stdout.strip()[2:-3].encode().decode("unicode_escape")  # ('<xml>',)
        live = intr.Node.parse(xml)
        shipped = intr.Node.parse((REPO / "dbus" / f"{name}.xml").read_text())
        (ours,) = [i for i in live.interfaces if i.name == name]
        assert ours.to_xml() is not None
        assert _shape(ours) == _shape(shipped.interfaces[0])
    node = intr.Node.parse(
        busctl(bus, "introspect", "--xml-interface", DEST, MANAGER).stdout,
    )
    assert {"org.freedesktop.DBus.ObjectManager", "org.freedesktop.DBus.Peer"} <= {
        i.name for i in node.interfaces
    }


def _shape(interface: intr.Interface) -> object:
    return (
        sorted(
            (m.name, [(a.name, a.signature) for a in [*m.in_args, *m.out_args]])
            for m in interface.methods
        ),
        sorted((s.name, [(a.name, a.signature) for a in s.args]) for s in interface.signals),
        sorted((p.name, p.signature, p.access.value) for p in interface.properties),
    )


def test_unprivileged_caller_reads_status_and_properties(bus: PrivateBus) -> None:
    status = busctl(bus, "call", DEST, MANAGER, "org.jailban.Manager1", "GetStatus", user="nobody")
    assert status.returncode == 0, status.stderr
    assert '"State" s "running"' in status.stdout
    assert '"Backend" s "dryrun"' in status.stdout
    prop = busctl(
        bus, "get-property", DEST, MANAGER, "org.jailban.Manager1", "Version", user="nobody"
    )
    assert prop.stdout.strip() == 's "0.1.0-test"'


def test_unprivileged_ban_without_interactive_flag_needs_interactive_authorization(
    bus: PrivateBus,
) -> None:
    result = gdbus(
        bus, "org.jailban.Manager1.Ban", "sshd", "203.0.113.10", "0", "@a{sv} {}", user="nobody"
    )
    assert result.returncode != 0
    assert "org.freedesktop.DBus.Error.InteractiveAuthorizationRequired" in result.stderr


def test_unprivileged_interactive_ban_is_refused_without_an_agent(bus: PrivateBus) -> None:
    result = gdbus(
        bus,
        "org.jailban.Manager1.Ban",
        "sshd",
        "203.0.113.10",
        "0",
        "@a{sv} {}",
        user="nobody",
        interactive=True,
    )
    assert "org.freedesktop.DBus.Error.AccessDenied" in result.stderr
    listed = busctl(
        bus, "call", DEST, MANAGER, "org.jailban.Manager1", "QueryBan", "s", "203.0.113.10"
    )
    assert listed.stdout.strip() == "a(ssttus) 0"


def test_root_bans_and_the_ban_is_listed_as_ssttus(bus: PrivateBus) -> None:
    ban = root_ban(bus, "203.0.113.11", 60_000_000)
    assert ban.returncode == 0, ban.stderr
    listed = busctl(
        bus,
        "--json=short",
        "call",
        DEST,
        MANAGER,
        "org.jailban.Manager1",
        "QueryBan",
        "s",
        "203.0.113.11",
    )
    assert '"type":"a(ssttus)"' in listed.stdout
    assert '"203.0.113.11","sshd"' in listed.stdout
    jail = busctl(
        bus, "get-property", DEST, "/org/jailban/jail/sshd", "org.jailban.Jail1", "CurrentlyBanned"
    )
    assert jail.stdout.strip().startswith("u ")
    assert jail.stdout.strip() != "u 0"


def test_signals_announce_bans_without_lines_and_coalesced_property_changes(
    bus: PrivateBus,
) -> None:
    monitor = SignalMonitor(bus, user="nobody")
    try:
        root_ban(bus, "203.0.113.12")
        line = monitor.wait_for("Manager1.Banned")
        assert "'203.0.113.12', 'sshd'" in line
        assert "'failures': <uint32" in line
        assert "'source': <" in line
        assert "lines" not in line
        changed = monitor.wait_for("CurrentlyBanned")
        assert (
            "/org/jailban/jail/sshd: org.freedesktop.DBus.Properties.PropertiesChanged" in changed
        )
        assert "'TotalBanned': <uint64" in changed
        gdbus(bus, "org.jailban.Manager1.Unban", "203.0.113.12", "")
        assert "'203.0.113.12', 'sshd', 'manual'" in monitor.wait_for("Manager1.Unbanned")
    finally:
        monitor.close()


def test_bad_arguments_get_the_named_errors(bus: PrivateBus) -> None:
    bad_address = gdbus(bus, "org.jailban.Manager1.Ban", "sshd", "203.0.113.999", "0", "@a{sv} {}")
    assert "org.jailban.Error.InvalidAddress" in bad_address.stderr
    no_jail = gdbus(bus, "org.jailban.Manager1.ListBans", "nope")
    assert "org.jailban.Error.NoSuchJail" in no_jail.stderr
    long_line = gdbus(bus, "org.jailban.Manager1.TestLine", "sshd", "x" * (64 * 1024 + 1))
    assert "org.freedesktop.DBus.Error.InvalidArgs" in long_line.stderr
    not_banned = gdbus(bus, "org.jailban.Manager1.Unban", "198.51.100.200", "")
    assert "org.jailban.Error.NotBanned" in not_banned.stderr
    bad_option = gdbus(
        bus, "org.jailban.Manager1.Ban", "sshd", "203.0.113.13", "0", "{'colour': <'red'>}"
    )
    assert "org.freedesktop.DBus.Error.InvalidArgs" in bad_option.stderr


def test_ignored_address_needs_force_and_manage(bus: PrivateBus) -> None:
    plain = gdbus(bus, "org.jailban.Manager1.Ban", "sshd", "192.0.2.7", "0", "@a{sv} {}")
    assert "org.jailban.Error.AddressIgnored" in plain.stderr
    forced = gdbus(bus, "org.jailban.Manager1.Ban", "sshd", "192.0.2.7", "0", "{'force': <true>}")
    assert forced.returncode == 0, forced.stderr
    own = gdbus(bus, "org.jailban.Manager1.Ban", "sshd", "127.0.0.1", "0", "{'force': <true>}")
    assert "org.jailban.Error.AddressIgnored" in own.stderr
    forced_by_nobody = gdbus(
        bus,
        "org.jailban.Manager1.Ban",
        "sshd",
        "192.0.2.8",
        "0",
        "{'force': <true>}",
        user="nobody",
    )
    assert "InteractiveAuthorizationRequired" in forced_by_nobody.stderr


def test_test_line_returns_matched_address_and_captures(bus: PrivateBus) -> None:
    result = gdbus(
        bus,
        "org.jailban.Manager1.TestLine",
        "sshd",
        "Failed password for root from 198.51.100.4 port 22",
        user="nobody",
    )
    assert result.stdout.strip() == "(true, '198.51.100.4', {'host': <'198.51.100.4'>})"


def test_ban_details_hold_lines_for_manage_callers_only(bus: PrivateBus) -> None:
    root_ban(bus, "203.0.113.14")
    denied = gdbus(bus, "org.jailban.Manager1.GetBanDetails", "203.0.113.14", "sshd", user="nobody")
    assert "InteractiveAuthorizationRequired" in denied.stderr
    details = gdbus(bus, "org.jailban.Manager1.GetBanDetails", "203.0.113.14", "sshd")
    assert "'lines': <['Failed password for root from 203.0.113.14']>" in details.stdout


def test_methods_without_an_action_are_denied(bus: PrivateBus) -> None:
    unknown = gdbus(bus, "org.jailban.Manager1.Shutdown")
    assert "org.freedesktop.DBus.Error.AccessDenied" in unknown.stderr
    setter = gdbus(
        bus, "org.freedesktop.DBus.Properties.Set", "org.jailban.Manager1", "State", "<'x'>"
    )
    assert "org.freedesktop.DBus.Error.AccessDenied" in setter.stderr


def test_jail_objects_use_escaped_names_and_answer_jail1(bus: PrivateBus) -> None:
    jails = busctl(bus, "call", DEST, MANAGER, "org.jailban.Manager1", "ListJails", user="nobody")
    assert '"web-auth" "/org/jailban/jail/web_2dauth"' in jails.stdout
    name = busctl(
        bus, "get-property", DEST, "/org/jailban/jail/web_2dauth", "org.jailban.Jail1", "Name"
    )
    assert name.stdout.strip() == 's "web-auth"'
    ban = gdbus(
        bus,
        "org.jailban.Jail1.Ban",
        "2001:db8:5::/64",
        "0",
        "{'permanent': <true>}",
        path="/org/jailban/jail/web_2dauth",
    )
    assert ban.returncode == 0, ban.stderr
    bans = gdbus(bus, "org.jailban.Jail1.ListBans", path="/org/jailban/jail/web_2dauth")
    assert "('2001:db8:5::/64', 'web-auth'" in bans.stdout
    assert "uint64 0, uint32 1, 'manual')" in bans.stdout
    managed = gdbus(bus, "org.freedesktop.DBus.ObjectManager.GetManagedObjects", user="nobody")
    assert "'/org/jailban/jail/web_2dauth': {'org.jailban.Jail1':" in managed.stdout


def test_reload_re_exports_jails_and_signals(bus: PrivateBus) -> None:
    monitor = SignalMonitor(bus)
    try:
        denied = gdbus(bus, "org.jailban.Manager1.Reload", user="nobody")
        assert "InteractiveAuthorizationRequired" in denied.stderr
        assert gdbus(bus, "org.jailban.Manager1.Reload").returncode == 0
        monitor.wait_for("Manager1.Reloaded")
    finally:
        monitor.close()
    name = busctl(
        bus, "get-property", DEST, "/org/jailban/jail/postfix_2dsasl", "org.jailban.Jail1", "Name"
    )
    assert name.stdout.strip() == 's "postfix-sasl"'


def test_get_bans_pages_newest_first_and_the_generation_follows_changes(
    bus: PrivateBus,
) -> None:
    def generation() -> int:
        got = busctl(bus, "get-property", DEST, MANAGER, "org.jailban.Manager1", "Generation")
        assert got.returncode == 0, got.stderr
        kind, value = got.stdout.split()
        assert kind == "t"
        return int(value)

    def get_bans(offset: int, limit: int, user: str | None = None) -> list[object]:
        got = busctl(bus, "--json=short", "call", DEST, MANAGER, "org.jailban.Manager1",
                     "GetBans", "suu", "sshd", str(offset), str(limit), user=user)  # fmt: skip
        assert got.returncode == 0, got.stderr
        data: list[object] = json.loads(got.stdout)["data"]
        return data

    monitor = SignalMonitor(bus, user="nobody")
    try:
        before = generation()
        for last in (31, 32, 33):
            ban = root_ban(bus, f"203.0.113.{last}", 60_000_000)
            assert ban.returncode == 0, ban.stderr
            time.sleep(0.01)  # distinct ban times
        after = generation()
        assert after >= before + 3
        changed = monitor.wait_for("'Generation': <uint64")
        assert "/org/jailban: org.freedesktop.DBus.Properties.PropertiesChanged" in changed
    finally:
        monitor.close()
    total, page_generation, first = get_bans(0, 2, user="nobody")  # info: any local user
    assert page_generation == after
    assert isinstance(total, int)
    assert total >= 3
    assert isinstance(first, list)
    assert [row[0] for row in first] == ["203.0.113.33", "203.0.113.32"]
    _total, _gen, rest = get_bans(2, 1)
    assert isinstance(rest, list)
    assert [row[0] for row in rest] == ["203.0.113.31"]
    missing = gdbus(bus, "org.jailban.Manager1.GetBans", "nope", "0", "10")
    assert "org.jailban.Error.NoSuchJail" in missing.stderr
    for last in (31, 32, 33):
        busctl(bus, "call", DEST, MANAGER, "org.jailban.Manager1", "Unban", "ss",
               f"203.0.113.{last}", "")  # fmt: skip
    assert generation() >= after + 3
