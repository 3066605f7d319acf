"""The real agent on a private system bus with polkitd: the D-Bus contract end to end."""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from support.agent import AgentProcess, StateReader, write_config
from support.bus import PrivateBus, as_user, ensure_service_user, run_client
from support.busagent import bus_with_journal, serving
from support.journal import JournalWriter, sshd_fields
from support.real import REPO

pytestmark = pytest.mark.real
JOURNALBAN = [str(REPO / ".venv" / "bin" / "python"), "-m", "journalban"]
MANAGER = ["org.jailban", "/org/jailban", "org.jailban.Manager1"]


@dataclass
class Setup:
    bus: PrivateBus
    agent: AgentProcess
    writer: JournalWriter
    state: Path
    config: Path


@pytest.fixture(scope="module", params=["root", "journalban"])
def setup(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Setup]:
    """The agent as root, and as the dedicated ``journalban`` user with CAP_NET_ADMIN."""
    # Not under pytest's 0700 base directory: the journalban user reads its config here.
    tmp = Path(tempfile.mkdtemp(prefix="jb-agent-dbus-"))
    os.chmod(tmp, 0o755)  # noqa: S103
    jdir = tmp / "journal"
    jdir.mkdir()
    state = tmp / "state"
    wrapper: list[str] = []
    if request.param == "journalban":
        user = ensure_service_user()
        state.mkdir()
        os.chown(state, user.pw_uid, user.pw_gid)
        wrapper = as_user("journalban", [], net_admin=True)
    cfg = write_config(tmp / "journalban.yaml", state, journal_dir=jdir, bus=True,
                       firewall={"backend": "dry-run"}, jails={"sshd": {"maxretry": 2}})  # fmt: skip
    try:
        with (
            bus_with_journal(jdir, readable=True) as (bus, writer),
            serving(AgentProcess(cfg, bus_address=bus.address, wrapper=wrapper), bus) as agent,
        ):
            yield Setup(bus, agent, writer, state, cfg)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def busctl(s: Setup, *args: str, user: str | None = None) -> tuple[int, str, str]:
    done = run_client(
        s.bus, ["busctl", f"--address={s.bus.address}", "--json=short", *args], user=user
    )
    return done.returncode, done.stdout, done.stderr


def test_status_of_the_running_agent(setup: Setup) -> None:
    code, out, err = busctl(setup, "call", *MANAGER, "GetStatus", user="nobody")
    assert code == 0, err
    status = json.loads(out)["data"][0]
    assert status["State"]["data"] == "running"
    assert status["Backend"]["data"] == "dry-run"
    assert "sshd" in status["Jails"]["data"]


def test_failures_in_the_journal_show_up_as_bans_on_the_bus(setup: Setup) -> None:
    line = "Failed password for root from 203.0.113.90 port 22 ssh2"
    setup.writer.write([sshd_fields(line)] * 2)
    setup.agent.wait_for_log("Ban 203.0.113.90 in jail sshd")
    code, out, err = busctl(setup, "call", *MANAGER, "QueryBan", "s", "203.0.113.90", user="nobody")
    assert code == 0, err
    bans = json.loads(out)["data"][0]
    assert [(b[0], b[1], b[5]) for b in bans] == [("203.0.113.90", "sshd", "failures")]
    code, out, _ = busctl(
        setup,
        "get-property",
        "org.jailban",
        "/org/jailban/jail/sshd",
        "org.jailban.Jail1",
        "TotalFailed",
    )
    assert json.loads(out)["data"] >= 2


def test_cli_ban_and_unban_through_the_agent(setup: Setup) -> None:
    banned = run_client(setup.bus, [*JOURNALBAN, "ban", "sshd", "198.51.100.44", "--time", "1h"])
    assert banned.returncode == 0, banned.stderr
    setup.agent.wait_for_log("Ban 198.51.100.44 in jail sshd for 1h")
    assert ("sshd", "198.51.100.44/32") in StateReader(setup.state).bans()
    lifted = run_client(setup.bus, [*JOURNALBAN, "unban", "198.51.100.44", "--json"])
    assert lifted.returncode == 0, lifted.stderr
    setup.agent.wait_for_log("Unban 198.51.100.44 in jail sshd (manual)")
    assert ("sshd", "198.51.100.44/32") not in StateReader(setup.state).bans()


def gdbus(s: Setup, method: str, *args: str, user: str | None = None) -> tuple[int, str]:
    """gdbus names the D-Bus error in its message (busctl prints only the text)."""
    argv = ["gdbus", "call", "--address", s.bus.address, "--dest", "org.jailban",
            "--object-path", "/org/jailban", "--method", f"org.jailban.Manager1.{method}", *args]  # fmt: skip
    done = run_client(s.bus, argv, user=user)
    return done.returncode, done.stdout + done.stderr


def test_unprivileged_caller_cannot_ban_but_may_ask(setup: Setup) -> None:
    code, out = gdbus(setup, "Ban", "sshd", "198.51.100.45", "0", "{}", user="nobody")
    assert code != 0
    assert "org.freedesktop.DBus.Error.InteractiveAuthorizationRequired" in out
    code, out = gdbus(setup, "ListBans", "", user="nobody")
    assert code == 0, out


def test_bad_arguments_get_named_errors(setup: Setup) -> None:
    _, out = gdbus(setup, "Ban", "sshd", "999.1.1.1", "0", "{}")
    assert "org.jailban.Error.InvalidAddress" in out
    _, out = gdbus(setup, "Ban", "nope", "203.0.113.1", "0", "{}")
    assert "org.jailban.Error.NoSuchJail" in out
    _, out = gdbus(setup, "Ban", "sshd", "127.0.0.1", "0", "{'force': <true>}")
    assert "org.jailban.Error.AddressIgnored" in out
    _, out = gdbus(setup, "Unban", "203.0.113.250", "")
    assert "org.jailban.Error.NotBanned" in out
    _, out = gdbus(setup, "TestLine", "sshd", "x" * 70000)
    assert "org.freedesktop.DBus.Error.InvalidArgs" in out


@pytest.mark.parametrize(
    "address",
    ["0.0.0.0", "255.255.255.255", "224.0.0.1", "::", "ff02::1", "0.0.0.0/8", "ff00::/16"],
)
def test_addresses_that_are_never_a_peer_are_refused_by_name(setup: Setup, address: str) -> None:
    """Issue 13, finding 9: unspecified, broadcast and multicast, even with force."""
    _, out = gdbus(setup, "Ban", "sshd", address, "0", "{'force': <true>}")
    assert "org.jailban.Error.NotAPeer" in out
    cli = run_client(setup.bus, [*JOURNALBAN, "ban", "sshd", address, "--json"])
    assert cli.returncode == 1
    assert json.loads(cli.stderr)["error"] == "org.jailban.Error.NotAPeer"
    plain = run_client(setup.bus, [*JOURNALBAN, "ban", "sshd", address])
    assert "never a peer" in plain.stderr
    assert "Traceback" not in plain.stderr


def test_log_lines_naming_a_multicast_peer_ban_nothing(setup: Setup) -> None:
    lines = [f"Failed password for root from {a} port 22 ssh2" for a in ("224.0.0.1", "ff02::1")]
    setup.writer.write([sshd_fields(line) for line in lines * 3])
    real = "Failed password for root from 203.0.113.91 port 22 ssh2"
    setup.writer.write([sshd_fields(real)] * 2)  # a marker after them
    setup.agent.wait_for_log("Ban 203.0.113.91 in jail sshd")
    bans = {network for _, network in StateReader(setup.state).bans()}
    assert not bans & {"224.0.0.1/32", "ff02::/64", "ff02::1/128"}, bans
    _, out = gdbus(setup, "TestLine", "sshd", lines[0], user="nobody")
    assert out.startswith("(false,"), out


def test_test_line_uses_the_jails_filter(setup: Setup) -> None:
    code, out = gdbus(
        setup,
        "TestLine",
        "sshd",
        "Failed password for invalid user 192.0.2.1 from 203.0.113.8 port 22 ssh2",
        user="nobody",
    )
    assert code == 0, out
    assert out.startswith("(true, '203.0.113.8',")


def test_reload_with_a_broken_configuration_is_refused(setup: Setup) -> None:
    dropins = setup.config.parent / "jail.d"
    dropins.mkdir(exist_ok=True)
    broken = dropins / "90-broken.yaml"
    broken.write_text("jails:\n  sshd:\n    bantime: soon\n")
    try:
        _, out = gdbus(setup, "Reload")
        assert "org.jailban.Error.ConfigInvalid" in out
        assert f"{broken}:3" in out
        # Logged as a SIGHUP reload is, and the old configuration still runs.
        setup.agent.wait_for_log(
            f"reload failed, keeping the running configuration: {broken}:3: jails.sshd.bantime"
        )
        code, out, err = busctl(setup, "get-property", *MANAGER[:3], "State")
        assert code == 0, err
        assert "running" in out
    finally:
        broken.unlink()
    code, _, err = busctl(setup, "call", *MANAGER, "Reload")
    assert code == 0, err


def test_client_errors_say_what_is_wrong_once_and_what_to_do(setup: Setup) -> None:
    def jb(*args: str) -> str:
        done = run_client(setup.bus, [*JOURNALBAN, *args])
        assert done.returncode == 1, done
        return done.stderr.strip()

    assert jb("ban", "nosuch", "203.0.113.60") == "journalban ban: no such jail: nosuch"
    wide = jb("ban", "sshd", "10.0.0.0/8")
    assert wide.startswith("journalban ban: too wide: 10.0.0.0/8 is wider than the minimum")
    local = jb("ban", "sshd", "127.0.0.1")
    assert local.startswith("journalban ban: refused: ")
    assert "--force" not in local
    assert jb("unban", "203.0.113.61").count("not banned") == 1
    status = run_client(setup.bus, [*JOURNALBAN, "status"]).stdout
    assert "|- Backend:\tdry-run (a dry run: nothing is banned in the firewall" in status


def test_who_did_what_is_in_the_log_ban_details_and_status(setup: Setup) -> None:
    banned = run_client(setup.bus, [*JOURNALBAN, "ban", "sshd", "198.51.100.61", "--time", "1h"])
    assert banned.returncode == 0, banned.stderr
    setup.agent.wait_for_log("Ban 198.51.100.61 in jail sshd for 1h by uid 0 (:1.")
    code, out, err = busctl(setup, "call", *MANAGER, "GetBanDetails", "ss", "198.51.100.61", "sshd")
    assert code == 0, err
    details = json.loads(out)["data"][0]
    assert details["caller_uid"] == {"type": "u", "data": 0}
    assert details["caller_name"]["data"].startswith(":1.")
    # A ban the agent made itself names no caller.
    line = "Failed password for root from 203.0.113.91 port 22 ssh2"
    setup.writer.write([sshd_fields(line)] * 2)
    setup.agent.wait_for_log("Ban 203.0.113.91 in jail sshd for")
    code, out, err = busctl(setup, "call", *MANAGER, "GetBanDetails", "ss", "203.0.113.91", "sshd")
    assert code == 0, err
    assert "caller_uid" not in json.loads(out)["data"][0]
    unbanned = run_client(setup.bus, [*JOURNALBAN, "unban", "198.51.100.61"])
    assert unbanned.returncode == 0, unbanned.stderr
    setup.agent.wait_for_log("Unban 198.51.100.61 in jail sshd (manual) by uid 0 (:1.")
    status = run_client(setup.bus, [*JOURNALBAN, "status"])
    assert status.returncode == 0, status.stderr
    recent = status.stdout.split("Recent commands:")[1]
    assert "ban 198.51.100.61 in sshd  by uid 0 (:1." in recent
    assert "unban 198.51.100.61  by uid 0 (:1." in recent
    assert "127.0.0.1" not in recent  # a refused ban is no command done
    # Callers' uids and names are for managers: another user's status leaves them out.
    other = run_client(setup.bus, [*JOURNALBAN, "status"], user="nobody")
    assert other.returncode == 0, other.stderr
    assert "Recent commands" not in other.stdout
