"""The command action: templates checked at config time, run without a shell."""

from __future__ import annotations

import ipaddress
import sys
import time
from pathlib import Path

import pytest

from journalban.actions.command import CommandAction
from journalban.errors import ActionError, ConfigError
from journalban.events import Ban

BAN4 = Ban("sshd", ipaddress.ip_network("192.0.2.7/32"), 1000.0, 1600.0)
BAN6 = Ban("sshd", ipaddress.ip_network("2001:db8::/64"), 1000.0, None)


def recorder(tmp_path: Path) -> tuple[str, Path]:
    """A real program that appends its arguments, one line per call."""
    log = tmp_path / "calls.txt"
    script = tmp_path / "record"
    script.write_text(
        f"#!{sys.executable}\nimport sys\n"
        f"open({str(log)!r}, 'a').write('|'.join(sys.argv[1:]) + '\\n')\n"
    )
    script.chmod(0o755)
    return str(script), log


def test_fields_are_filled_per_ban_and_unban(tmp_path: Path) -> None:
    program, log = recorder(tmp_path)
    action = CommandAction(
        [program, "add", "{address}", "{jail}", "{port}", "{protocol}", "{bantime}", "{family}"],
        [program, "del", "{address}", "expires={expires}", "{{literal}}"],
        port="22,2222",
        protocol="tcp",
    )
    action.ban(BAN4)
    action.ban(BAN6)
    action.unban(BAN4, "expired")
    assert log.read_text().splitlines() == [
        "add|192.0.2.7|sshd|22,2222|tcp|600|inet",
        "add|2001:db8::/64|sshd|22,2222|tcp|-1|inet6",
        "del|192.0.2.7|expires=1600|{literal}",
    ]


def test_values_are_never_split_or_interpreted_by_a_shell(tmp_path: Path) -> None:
    program, log = recorder(tmp_path)
    action = CommandAction([program, "{jail}"], None)
    action.ban(Ban("a b;touch x", ipaddress.ip_network("192.0.2.7/32"), 0.0, None))
    assert log.read_text() == "a b;touch x\n"
    assert not (tmp_path / "x").exists()


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["/bin/true", "{host}"], "unknown field {host}"),
        (["/bin/true", "{address.__class__}"], "unknown field"),
        (["/bin/true", "{address!r}"], "without index, conversion or format spec"),
        (["/bin/true", "{address:>20}"], "without index, conversion or format spec"),
        (["/bin/true", "{}"], "without index"),
        (["/bin/true", "{address"], "braces"),
        (["{address}"], "program name"),
        ("/bin/true {address}", "list of strings"),
        ([], "list of strings"),
        (["/bin/true", 5], "list of strings"),
    ],
)
def test_bad_templates_are_refused_at_config_time(argv: object, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        CommandAction(argv, None)  # type: ignore[arg-type]


def test_a_failing_command_raises_with_its_status_and_stderr() -> None:
    action = CommandAction(["/bin/sh", "-c", "echo nope >&2; exit 3"], None)
    with pytest.raises(ActionError, match=r"status 3: nope"):
        action.ban(BAN4)


def test_a_missing_program_is_an_action_error(tmp_path: Path) -> None:
    action = CommandAction([str(tmp_path / "absent"), "{address}"], None)
    with pytest.raises(ActionError, match="cannot run"):
        action.ban(BAN4)


def test_a_command_that_overruns_is_killed_with_its_children() -> None:
    # The child sleep keeps stdout open: only killing the group ends the wait.
    action = CommandAction(["/bin/sh", "-c", "sleep 30 & sleep 30"], None, timeout=0.3)
    started = time.monotonic()
    with pytest.raises(ActionError, match=r"did not finish within 0\.3 s"):
        action.ban(BAN4)
    assert time.monotonic() - started < 5
