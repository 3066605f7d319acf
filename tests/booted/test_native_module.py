"""The C module (journalban.sources._journalfile) as installed, under the shipped unit.

The booted root holds journalban from a wheel of the checkout, built as the
packages build it (the module required). Loading a shared object maps it
executable, which the unit's NoExecPaths=/ forbids outside its ExecPaths= and
MemoryDenyWriteExecute= would forbid with text relocations: so the module is
imported by a one-shot service carrying every sandboxing setting of the shipped
journalban.service, and, as a control that the check sees the sandbox at all,
the same service with the installed package's directory made non-executable
fails to load it. And the agent the shipped unit runs has it mapped, and says
its journal catch-up reads closed files natively.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from support.container import BootedHost

AGENT_UNIT = "journalban.service"
SHIPPED = f"/lib/systemd/system/{AGENT_UNIT}"
# The variant running as user journalban (docs/hardening.md), with the same ExecPaths=.
DEDICATED = f"/usr/share/journalban/units/dedicated-user/{AGENT_UNIT}"
CHECK_UNIT = "journalban-native-check.service"
# The shipped [Service] lines that run or supervise the agent itself, or make its
# directories (shared with the running agent): everything else is the sandbox.
NOT_SANDBOX = re.compile(
    r"^(Type|NotifyAccess|ExecStart|ExecReload|Restart\w*|WatchdogSec|TimeoutStopSec"
    r"|StateDirectory\w*|RuntimeDirectory\w*)="
)
IMPORT = (
    "import journalban.sources._journalfile as m; "
    "maps = open('/proc/self/maps').read(); "
    "print('NATIVE', m.abi(), m.__file__, m.__file__ in maps)"
)


def _installed_module(host: BootedHost) -> str:
    found = host.run(
        "python3", "-c", "import journalban.sources._journalfile as m; print(m.__file__)"
    ).stdout.strip()
    assert found.startswith("/usr/local/lib/python3"), found
    assert re.search(r"/journalban/sources/_journalfile\.cpython-\d+-[^/]+\.so$", found), found
    return found


def _sandbox(host: BootedHost, unit: str) -> list[str]:
    text = (host.root / unit.lstrip("/")).read_text()
    service = text.split("[Service]\n", 1)[1].split("\n[", 1)[0]
    lines = [ln for ln in service.splitlines() if ln and not ln.startswith("#")]
    sandbox = [ln for ln in lines if not NOT_SANDBOX.match(ln)]
    for setting in ("NoExecPaths=/", "MemoryDenyWriteExecute=yes", "SystemCallFilter="):
        assert any(ln.startswith(setting) for ln in sandbox), setting
    return sandbox


def _run_check(host: BootedHost, extra: list[str], unit: str = SHIPPED) -> tuple[str, str]:
    """Run the import as the one-shot check unit; (its Result, its output)."""
    unit = "\n".join(
        [
            "[Service]",
            "Type=oneshot",
            f'ExecStart=/usr/bin/python3 -c "{IMPORT}"',
            *_sandbox(host, unit),
            *extra,
            "",
        ]
    )
    host.write(f"/etc/systemd/system/{CHECK_UNIT}", unit)
    host.systemctl("daemon-reload")
    # A finished one-shot has no InvocationID left: its output is what the journal
    # holds for it after this cursor.
    shown = host.journal("-n", "1", "--show-cursor", "-o", "cat").splitlines()
    (cursor,) = [ln.removeprefix("-- cursor: ") for ln in shown if ln.startswith("-- cursor: ")]
    try:
        host.systemctl("start", CHECK_UNIT, check=False)
        result = host.show(CHECK_UNIT, "Result")

        def output() -> str:
            return host.journal("-u", CHECK_UNIT, f"--after-cursor={cursor}", "-o", "cat")

        # journald takes the service's stdout in asynchronously: its last line
        # (the marker, or the ImportError ending the traceback) may come later.
        host.wait_for(
            f"{CHECK_UNIT}'s output", lambda: re.search(r"^(NATIVE|\w*Error)", output(), re.M)
        )
    finally:
        host.systemctl("reset-failed", CHECK_UNIT, check=False)
        host.remove(f"/etc/systemd/system/{CHECK_UNIT}")
        host.systemctl("daemon-reload")
    return result, output()


@pytest.mark.parametrize("unit", [SHIPPED, DEDICATED], ids=["shipped", "dedicated-user"])
def test_the_module_is_installed_and_loads_under_each_units_sandbox(
    host: BootedHost, unit: str
) -> None:
    module = _installed_module(host)
    result, output = _run_check(host, [], unit)
    assert result == "success", output
    assert f"NATIVE 2 {module} True" in output, output


def test_the_check_sees_the_sandbox_a_non_executable_package_directory_fails(
    host: BootedHost,
) -> None:
    package = str(Path(_installed_module(host)).parent)
    result, output = _run_check(host, [f"NoExecPaths={package}"])
    assert result == "exit-code", output
    assert "failed to map segment from shared object" in output, output


def test_the_running_agent_has_the_module_loaded_and_says_it_reads_natively(
    host: BootedHost,
) -> None:
    """The shipped unit's agent, as installed: its process maps the module, and it
    logged (once, this invocation) that its journal catch-up reads closed files natively."""
    module = _installed_module(host)
    assert host.show(AGENT_UNIT, "ActiveState") == "active"
    pid = host.show(AGENT_UNIT, "MainPID")
    assert module in host.run("cat", f"/proc/{pid}/maps").stdout
    invocation = host.show(AGENT_UNIT, "InvocationID")
    logged = host.journal(f"_SYSTEMD_INVOCATION_ID={invocation}", "-o", "cat")
    assert "the journal catch-up reads closed files natively" in logged, logged
