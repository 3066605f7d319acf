"""The shipped systemd units, checked offline with the real systemd-analyze.

`verify` only warns (exit 0) about unknown keys and bad values, so any output
at all is a failure. Every check runs in a throwaway root holding a copy of
the system's unit directory and a stub at each path the unit executes.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

from support.real import REPO, missing_real, need_tool

UNITS = REPO / "units"
DEFAULT_UNITS = {
    "root": UNITS / "journalban.service",
    "dedicated-user": UNITS / "dedicated-user" / "journalban.service",
}
DROPINS = sorted((UNITS / "dropins").glob("*.conf"))
HARDENING_DOC = REPO / "docs" / "hardening.md"
SYSTEM_UNIT_DIR = Path("/usr/lib/systemd/system")
EXPOSURE_TARGET = 2.0

pytestmark = pytest.mark.real


def _executables(unit: Path) -> list[str]:
    """The absolute paths the unit's Exec*= lines run (prefixes like - and + dropped)."""
    paths = []
    for line in unit.read_text().splitlines():
        match = re.match(
            r"Exec(?:Start|Stop|Reload|StartPre|StartPost|StopPost)=[-+@!:]*(\S+)", line
        )
        if match:
            paths.append(match.group(1))
    return paths


def _throwaway_root(tmp_path: Path, unit: Path, dropin: Path | None = None) -> Path:
    if not SYSTEM_UNIT_DIR.is_dir():
        missing_real(f"{SYSTEM_UNIT_DIR} is missing (package systemd)")
    root = tmp_path / "root"
    unit_dir = root / "usr/lib/systemd/system"
    shutil.copytree(SYSTEM_UNIT_DIR, unit_dir, symlinks=True)
    shutil.copy(unit, unit_dir / "journalban.service")
    for socket_unit in UNITS.glob("*.socket"):  # what drop-ins may name in Sockets=
        shutil.copy(socket_unit, unit_dir / socket_unit.name)
    for executable in _executables(unit):
        stub = root / executable.lstrip("/")
        stub.parent.mkdir(parents=True, exist_ok=True)
        stub.write_text("#!/bin/sh\n")
        stub.chmod(0o755)
    if dropin is not None:
        dropin_dir = root / "etc/systemd/system/journalban.service.d"
        dropin_dir.mkdir(parents=True)
        shutil.copy(dropin, dropin_dir / dropin.name)
    return root


def _verify_output(root: Path) -> str:
    analyze = need_tool("systemd-analyze")
    unit = root / "usr/lib/systemd/system/journalban.service"
    result = subprocess.run(
        [analyze, "verify", "--man=no", f"--root={root}", str(unit)],
        capture_output=True,
        text=True,
        check=False,
    )
    return (result.stdout + result.stderr).strip()


def _exposure(root: Path, threshold: int = 100) -> tuple[float, int]:
    """The overall exposure that `security --offline=true` gives, and its exit code."""
    analyze = need_tool("systemd-analyze")
    result = subprocess.run(
        [
            analyze,
            "security",
            "--offline=true",
            f"--threshold={threshold}",
            f"--root={root}",
            "--no-pager",
            "journalban.service",
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    match = re.search(r"Overall exposure level for journalban\.service: (\d+\.\d)", result.stdout)
    assert match, result.stdout + result.stderr
    return float(match.group(1)), result.returncode


def _documented_scores() -> dict[str, tuple[float, float]]:
    """Rows `| name | root | dedicated-user |` of the drop-in table in docs/hardening.md."""
    scores = {}
    for line in HARDENING_DOC.read_text().splitlines():
        match = re.match(r"\|\s*`?([\w.()-]+)`?\s*\|\s*(\d+\.\d)\s*\|\s*(\d+\.\d)\s*\|", line)
        if match:
            scores[match.group(1)] = (float(match.group(2)), float(match.group(3)))
    return scores


@pytest.mark.parametrize("variant", sorted(DEFAULT_UNITS))
def test_default_unit_verifies_without_any_output(tmp_path: Path, variant: str) -> None:
    assert _verify_output(_throwaway_root(tmp_path, DEFAULT_UNITS[variant])) == ""


@pytest.mark.parametrize("variant", sorted(DEFAULT_UNITS))
def test_default_unit_exposure_is_at_most_two(tmp_path: Path, variant: str) -> None:
    exposure, returncode = _exposure(
        _throwaway_root(tmp_path, DEFAULT_UNITS[variant]), threshold=20
    )
    assert returncode == 0
    assert exposure <= EXPOSURE_TARGET


def test_verify_reports_a_broken_unit(tmp_path: Path) -> None:
    """The harness itself: a bad key and value must show, or the tests above prove nothing."""
    broken = tmp_path / "broken.service"
    broken.write_text(
        DEFAULT_UNITS["root"].read_text() + "\n[Service]\nProtectSystem=bogus\nNoSuchKey=1\n"
    )
    output = _verify_output(_throwaway_root(tmp_path, broken))
    assert "bogus" in output
    assert "NoSuchKey" in output


@pytest.mark.parametrize("dropin", DROPINS, ids=[d.name for d in DROPINS])
@pytest.mark.parametrize("variant", sorted(DEFAULT_UNITS))
def test_dropin_parses_and_scores_as_documented(tmp_path: Path, variant: str, dropin: Path) -> None:
    root = _throwaway_root(tmp_path, DEFAULT_UNITS[variant], dropin)
    assert _verify_output(root) == ""
    exposure, _ = _exposure(root)
    documented = _documented_scores()
    assert dropin.name in documented, f"{dropin.name} has no row in {HARDENING_DOC}"
    root_score, user_score = documented[dropin.name]
    assert exposure == (root_score if variant == "root" else user_score)


@pytest.mark.parametrize("variant", sorted(DEFAULT_UNITS))
def test_documented_default_scores_are_measured(tmp_path: Path, variant: str) -> None:
    exposure, _ = _exposure(_throwaway_root(tmp_path, DEFAULT_UNITS[variant]))
    root_score, user_score = _documented_scores()["(none)"]
    assert exposure == (root_score if variant == "root" else user_score)


def test_sysusers_creates_the_user_in_the_log_groups(tmp_path: Path) -> None:
    sysusers = need_tool("systemd-sysusers")
    (tmp_path / "etc").mkdir()
    conf = UNITS / "sysusers.d" / "journalban.conf"
    subprocess.run([sysusers, f"--root={tmp_path}", str(conf)], capture_output=True, check=True)
    users = {line.split(":")[0] for line in (tmp_path / "etc/passwd").read_text().splitlines()}
    members = {
        fields[0]: fields[3].split(",")
        for fields in (
            line.split(":") for line in (tmp_path / "etc/group").read_text().splitlines()
        )
    }
    assert "journalban" in users
    assert "journalban" in members["systemd-journal"]
    assert "journalban" in members["adm"]


def test_tmpfiles_creates_the_state_directory(tmp_path: Path) -> None:
    tmpfiles = need_tool("systemd-tmpfiles")
    conf = UNITS / "tmpfiles.d" / "journalban.conf"
    subprocess.run([tmpfiles, f"--root={tmp_path}", "--create", str(conf)], check=True)
    state_dir = tmp_path / "var/lib/journalban"
    assert state_dir.is_dir()
    assert state_dir.stat().st_mode & 0o777 == 0o755


def test_metrics_socket_verifies_and_hands_its_socket_to_the_agent(tmp_path: Path) -> None:
    root = _throwaway_root(tmp_path, DEFAULT_UNITS["root"], UNITS / "dropins" / "metrics.conf")
    socket_unit = root / "usr/lib/systemd/system/journalban-metrics.socket"
    result = subprocess.run(
        [need_tool("systemd-analyze"), "verify", "--man=no", f"--root={root}", str(socket_unit)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert (result.stdout + result.stderr).strip() == ""
    text = socket_unit.read_text()
    # The name the agent looks for in LISTEN_FDNAMES, and only loopback by default.
    assert "FileDescriptorName=metrics" in text
    assert "IPAddressDeny=any" in text
