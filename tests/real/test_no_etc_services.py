"""The packaged default on a minimal system without /etc/services (no netbase).

The test hides the machine's /etc/services in a mount namespace of its own
(an empty file bind-mounted over it: the C library then knows no service
name, as on a system without the file) and checks the configuration there.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from support.real import need_root, need_tool

pytestmark = pytest.mark.real

LOOKUP_SSH = "import socket; print(socket.getservbyname('ssh', 'tcp'))"


def _without_etc_services(tmp_path: Path, *argv: str) -> subprocess.CompletedProcess[str]:
    """Run argv with /etc/services hidden from it (and only from it)."""
    need_root()
    unshare = need_tool("unshare")
    need_tool("mount")
    hide = ""
    if os.path.exists("/etc/services"):
        empty = tmp_path / "services"
        empty.write_text("")
        hide = f"mount --bind {empty} /etc/services && "
    script = hide + 'exec "$@"'
    return subprocess.run(
        [unshare, "--mount", "--propagation", "private", "sh", "-c", script, "sh", *argv],
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )


def test_the_namespace_really_has_no_service_names(tmp_path: Path) -> None:
    result = _without_etc_services(tmp_path, sys.executable, "-I", "-c", LOOKUP_SSH)
    assert result.returncode != 0
    assert "service/proto not found" in result.stderr


def test_packaged_default_checks_ok_without_etc_services(tmp_path: Path) -> None:
    main = tmp_path / "journalban.yaml"
    main.write_text("{}\n")
    journalban = Path(sys.executable).with_name("journalban")
    result = _without_etc_services(tmp_path, str(journalban), "check-config", str(main))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "configuration OK (<packaged default>" in result.stdout
    assert "unknown service name" not in result.stdout + result.stderr
