"""The `journalban` client commands against the service on a private bus with polkitd."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator

import pytest

from support.bus import PrivateBus, ServiceProcess, run_client
from support.real import REPO

pytestmark = pytest.mark.real

JOURNALBAN = [str(REPO / ".venv" / "bin" / "python"), "-m", "journalban"]


@pytest.fixture(scope="module")
def bus() -> Iterator[PrivateBus]:
    with PrivateBus() as private:
        service = ServiceProcess(private, "journalban")
        try:
            yield private
        finally:
            service.stop()


def jb(bus: PrivateBus, *args: str, user: str | None = None) -> subprocess.CompletedProcess[str]:
    return run_client(bus, [*JOURNALBAN, *args], user=user)


def test_ban_then_status_tree_lists_the_address(bus: PrivateBus) -> None:
    banned = jb(bus, "ban", "sshd", "203.0.113.40", "--time", "1h")
    assert banned.returncode == 0, banned.stderr
    assert banned.stdout.startswith("banned 203.0.113.40 in sshd until ")
    tree = jb(bus, "status", "sshd", user="nobody").stdout
    assert "|  `- Journal matches:\t_SYSTEMD_UNIT=ssh.service" in tree
    assert "   `- Banned IP list:\t" in tree
    assert "203.0.113.40" in tree.splitlines()[-1]


def test_ban_time_sets_the_expiry(bus: PrivateBus) -> None:
    jb(bus, "ban", "web-auth", "2001:db8:40::/64", "--time", "2h")
    (ban,) = json.loads(jb(bus, "banned", "2001:db8:40::1", "--json").stdout)
    assert ban["jail"] == "web-auth"
    assert ban["expires_at_usec"] - ban["banned_at_usec"] == 7200 * 1_000_000


def test_status_without_jail_lists_jails(bus: PrivateBus) -> None:
    status = json.loads(jb(bus, "status", "--json").stdout)
    assert status["Jails"] == ["sshd", "web-auth"]
    assert "`- Jail list:\tsshd, web-auth" in jb(bus, "status").stdout


def test_stats_table_has_a_row_per_jail(bus: PrivateBus) -> None:
    lines = jb(bus, "stats").stdout.splitlines()
    assert lines[0].split() == ["JAIL", "SOURCE", "FAILURES", "BANS", "DROPPED"]
    assert lines[2].split()[:2] == ["web-auth", "file"]
    rows = json.loads(jb(bus, "stats", "--json").stdout)
    assert {r["jail"] for r in rows} == {"sshd", "web-auth"}


def test_unprivileged_ban_fails_with_a_clear_message(bus: PrivateBus) -> None:
    result = jb(bus, "ban", "sshd", "203.0.113.41", user="nobody")
    assert result.returncode == 1
    assert "permission denied" in result.stderr
    assert "Traceback" not in result.stderr


def test_errors_are_named_in_json(bus: PrivateBus) -> None:
    result = jb(bus, "status", "nope", "--json")
    assert result.returncode == 1
    assert json.loads(result.stderr)["error"] == "org.jailban.Error.NoSuchJail"
    bad = jb(bus, "ban", "sshd", "not-an-address", "--json")
    assert json.loads(bad.stderr)["error"] == "org.jailban.Error.InvalidAddress"


def test_unban_counts_and_unban_all_flushes(bus: PrivateBus) -> None:
    jb(bus, "ban", "sshd", "203.0.113.42")
    jb(bus, "ban", "web-auth", "203.0.113.42")
    assert json.loads(jb(bus, "unban", "203.0.113.42", "--json").stdout) == {"lifted": 2}
    assert "not banned" in jb(bus, "unban", "203.0.113.42").stderr
    jb(bus, "ban", "sshd", "203.0.113.43")
    assert jb(bus, "unban", "--all").returncode == 0
    assert jb(bus, "banned").stdout.strip() == "no bans"


def test_reload_needs_manage(bus: PrivateBus) -> None:
    assert jb(bus, "reload", user="nobody").returncode == 1
    assert jb(bus, "reload").stdout.strip() == "reloaded"


def test_client_says_when_the_agent_is_not_running() -> None:
    with PrivateBus(polkit=False) as empty:
        result = jb(empty, "status")
    assert result.returncode == 3
    assert "journalban is not running" in result.stderr
