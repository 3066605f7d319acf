"""Signals of the real agent on a private bus with polkitd, as `gdbus monitor` sees them."""

from __future__ import annotations

import re
import time
from collections.abc import Iterator

import pytest

from support.bus import SignalMonitor, run_client
from support.busagent import BusAgent, agent_on_bus, module_dir
from support.journal import sshd_fields

pytestmark = pytest.mark.real
HOUR_USEC = "3600000000"


Setup = BusAgent


@pytest.fixture(scope="module")
def setup() -> Iterator[Setup]:
    jail = {"maxretry": 2, "bantime": "1h"}
    with (
        module_dir("jb-agent-signals-", shared=True) as tmp,
        agent_on_bus(tmp, jails={"sshd": jail}) as s,
    ):
        yield s


@pytest.fixture
def monitor(setup: Setup) -> Iterator[SignalMonitor]:
    """Signals as an unprivileged local user receives them."""
    watcher = SignalMonitor(setup.bus, user="nobody")
    yield watcher
    watcher.close()


def gdbus(s: Setup, method: str, *args: str, user: str | None = None) -> tuple[int, str]:
    argv = ["gdbus", "call", "--address", s.bus.address, "--dest", "org.jailban",
            "--object-path", "/org/jailban", "--method", f"org.jailban.Manager1.{method}", *args]  # fmt: skip
    done = run_client(s.bus, argv, user=user)
    return done.returncode, done.stdout + done.stderr


def fail(s: Setup, address: str, times: int = 2) -> str:
    line = f"Failed password for invalid user hunter2pass from {address} port 4711 ssh2"
    s.writer.write([sshd_fields(line)] * times)
    return line


def test_failures_are_announced_as_banned_without_the_lines(
    setup: Setup, monitor: SignalMonitor
) -> None:
    before = time.time()
    fail(setup, "203.0.113.70")
    signal = monitor.wait_for("Banned ('203.0.113.70', 'sshd'")
    expires = int(re.search(r"'sshd', uint64 (\d+)", signal).group(1))  # type: ignore[union-attr]
    assert before + 3600 - 5 < expires / 1e6 < time.time() + 3600 + 5
    assert "'failures': <uint32 2>" in signal
    assert re.search(r"'source': <'[^']+'>", signal)
    assert "'lines'" not in signal
    assert "hunter2pass" not in "".join(monitor.lines)


def test_ban_details_give_root_the_matched_lines(setup: Setup) -> None:
    line = fail(setup, "203.0.113.71")
    setup.agent.wait_for_log("Ban 203.0.113.71 in jail sshd")
    code, out = gdbus(setup, "GetBanDetails", "203.0.113.71", "sshd")
    assert code == 0, out
    assert "'failures': <uint32 2>" in out
    assert out.count(line) == 2


def test_ban_details_are_refused_to_nobody(setup: Setup) -> None:
    fail(setup, "203.0.113.72")
    setup.agent.wait_for_log("Ban 203.0.113.72 in jail sshd")
    code, out = gdbus(setup, "GetBanDetails", "203.0.113.72", "sshd", user="nobody")
    assert code != 0
    assert re.search(r"Error\.(InteractiveAuthorizationRequired|AccessDenied)", out), out
    assert "hunter2pass" not in out


def test_unban_is_announced_as_manual(setup: Setup, monitor: SignalMonitor) -> None:
    code, out = gdbus(setup, "Ban", "sshd", "198.51.100.60", HOUR_USEC, "{}")
    assert code == 0, out
    monitor.wait_for("Banned ('198.51.100.60', 'sshd'")
    code, out = gdbus(setup, "Unban", "198.51.100.60", "")
    assert code == 0, out
    assert out.strip() == "(uint32 1,)"
    monitor.wait_for("Unbanned ('198.51.100.60', 'sshd', 'manual')")


def test_a_ban_that_runs_out_is_announced_as_expired(setup: Setup, monitor: SignalMonitor) -> None:
    code, out = gdbus(setup, "Ban", "sshd", "198.51.100.61", "2000000", "{}")
    assert code == 0, out
    monitor.wait_for("Banned ('198.51.100.61', 'sshd'")
    started = time.monotonic()
    monitor.wait_for("Unbanned ('198.51.100.61', 'sshd', 'expired')", timeout=10)
    assert time.monotonic() - started > 0.5  # not before the ban ran out


def test_unban_all_is_announced_as_flush(setup: Setup, monitor: SignalMonitor) -> None:
    for address in ("198.51.100.62", "2001:db8::62"):
        code, out = gdbus(setup, "Ban", "sshd", address, HOUR_USEC, "{}")
        assert code == 0, out
    code, out = gdbus(setup, "UnbanAll", "sshd")
    assert code == 0, out
    monitor.wait_for("Unbanned ('198.51.100.62', 'sshd', 'flush')")
    monitor.wait_for("Unbanned ('2001:db8::62', 'sshd', 'flush')")


def test_reload_is_announced(setup: Setup, monitor: SignalMonitor) -> None:
    code, out = gdbus(setup, "Reload")
    assert code == 0, out
    monitor.wait_for("org.jailban.Manager1.Reloaded ()")


def test_jail_counters_are_announced_with_properties_changed(
    setup: Setup, monitor: SignalMonitor
) -> None:
    fail(setup, "203.0.113.73")
    monitor.wait_for("Banned ('203.0.113.73', 'sshd'")
    banned = monitor.wait_for("'CurrentlyBanned': <uint32")
    failed = monitor.wait_for("'TotalFailed': <uint64")
    for signal in (banned, failed):
        assert signal.startswith("/org/jailban/jail/sshd: ")
        assert "org.freedesktop.DBus.Properties.PropertiesChanged ('org.jailban.Jail1'" in signal
    total = re.findall(r"'TotalFailed': <uint64 (\d+)>", "\n".join(monitor.lines))
    assert max(int(n) for n in total) >= 2
