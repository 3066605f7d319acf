"""`journalban regex` on real journal files: a directory, and the system journal."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from journalban.cli.main import main
from support.journal import JournalWriter, sshd_fields
from support.real import missing_real, need_root, need_tool

pytestmark = pytest.mark.real
ENTRIES: list[dict[str, str | int]] = [
    sshd_fields("Failed password for root from 203.0.113.5 port 40122 ssh2"),
    sshd_fields("Accepted publickey for alice from 198.51.100.2 port 2 ssh2"),
    sshd_fields("Invalid user oracle from 2001:db8::5 port 51122", unit="sshd.service"),
    # A local user's logger line: not through the filter's matches, so never read.
    sshd_fields("Failed password for root from 192.0.2.99 port 22 ssh2", uid=1000),
    {"_SYSTEMD_UNIT": "cron.service", "_UID": 0, "MESSAGE": "Failed password for x from 192.0.2.7"},
]


def _write(directory: Path) -> None:
    with JournalWriter(directory, "system.journal") as writer:
        writer.write(ENTRIES, realtime=1_795_770_001.5)
        writer.wait_visible(len(ENTRIES))


def _check(out: dict[str, object]) -> None:
    assert (out["lines"], out["matched"], out["ignored"], out["missed"]) == (3, 2, 0, 1)
    matches = out["matches"]
    assert isinstance(matches, list)
    assert [(m["line"], m["host"], m["regex"]) for m in matches] == [
        (1, "203.0.113.5", 0),
        (3, "2001:db8::5", 4),
    ]
    assert matches[0]["time"].startswith("2026-11-2")


def test_regex_reads_a_journal_directory_through_the_filter_matches(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _write(tmp_path / "journal")
    assert main(["regex", str(tmp_path / "journal"), "sshd", "--json"]) == 0
    _check(json.loads(capsys.readouterr().out))


def test_regex_reads_the_system_journal(tmp_path: Path) -> None:
    need_root()
    need_tool("unshare")
    machine_id = Path("/etc/machine-id").read_text().strip()
    if not machine_id:
        missing_real("no /etc/machine-id")
    _write(tmp_path / "run-log" / machine_id)
    (tmp_path / "var-log").mkdir()
    for target in ("/run/log/journal", "/var/log/journal"):
        Path(target).mkdir(parents=True, exist_ok=True)
    script = (
        f"mount --bind {tmp_path}/run-log /run/log/journal && "
        f"mount --bind {tmp_path}/var-log /var/log/journal && "
        f'exec "$0" -m journalban regex journal sshd --json'
    )
    done = subprocess.run(
        ["unshare", "-m", "--propagation", "private", "sh", "-c", script, sys.executable],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    _check(json.loads(done.stdout))
