"""org.jailban when polkitd is absent, and when the bus itself goes away and returns."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator

import pytest

from support.bus import PrivateBus, ServiceProcess, run_client

pytestmark = pytest.mark.real

DEST = "org.jailban"
MANAGER = "/org/jailban"


@pytest.fixture(scope="module")
def bus() -> Iterator[PrivateBus]:
    with PrivateBus(polkit=False) as private:
        service = ServiceProcess(private, "journalban")
        try:
            yield private
        finally:
            service.stop()
        assert "Traceback" not in service.stderr_path.read_text()


def call(
    bus: PrivateBus, method: str, *args: str, user: str | None = None
) -> subprocess.CompletedProcess[str]:
    argv = ["gdbus", "call", "--address", bus.address, "--dest", DEST, "--object-path", MANAGER]
    return run_client(bus, [*argv, "--method", f"org.jailban.Manager1.{method}", *args], user=user)


def test_without_polkit_info_stays_open_to_everyone(bus: PrivateBus) -> None:
    status = call(bus, "GetStatus", user="nobody")
    assert status.returncode == 0, status.stderr
    assert "'State': <'running'>" in status.stdout


def test_without_polkit_only_root_may_ban(bus: PrivateBus) -> None:
    denied = call(bus, "Ban", "sshd", "203.0.113.30", "0", "@a{sv} {}", user="nobody")
    assert "org.freedesktop.DBus.Error.AccessDenied" in denied.stderr
    allowed = call(bus, "Ban", "sshd", "203.0.113.30", "0", "@a{sv} {}")
    assert allowed.returncode == 0, allowed.stderr
    assert "203.0.113.30" in call(bus, "QueryBan", "203.0.113.30").stdout


def test_without_polkit_manage_is_root_only(bus: PrivateBus) -> None:
    assert "AccessDenied" in call(bus, "Reload", user="nobody").stderr
    assert call(bus, "Reload").returncode == 0


def test_service_reconnects_when_the_bus_comes_back(bus: PrivateBus) -> None:
    call(bus, "Ban", "sshd", "203.0.113.31", "0", "@a{sv} {}")
    bus.stop_daemon()
    bus.start_daemon()
    assert bus.wait_for_name(DEST, timeout=10), "the service did not come back to the bus"
    # The agent kept its state while the bus was away.
    assert "203.0.113.31" in call(bus, "QueryBan", "203.0.113.31").stdout
    jail = run_client(
        bus,
        [
            "busctl",
            f"--address={bus.address}",
            "get-property",
            DEST,
            "/org/jailban/jail/sshd",
            "org.jailban.Jail1",
            "Name",
        ],
    )
    assert jail.stdout.strip() == 's "sshd"'
