"""`journalban replay` on a log file, journal files (journal-remote) and the system journal.

The same lines give the same decisions from each source, by the lines' own
time, from empty state: no state database is read or written.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
import yaml

from journalban.cli.main import main
from support.journal import JournalWriter, sshd_fields
from support.real import missing_real, need_root, need_tool

START = 1_795_770_000.0  # 2026-11-26, in the past for the test's clock
ATTACKERS = [f"203.0.113.{i}" for i in range(1, 8)]


def _messages() -> list[tuple[float, str]]:
    """(time, sshd message): a deny-listed account, a slow address, an account attack."""
    out = [(START, "Accepted password for alice from 198.51.100.20 port 1 ssh2")]
    out.append((START + 10, "Failed password for oracle from 192.0.2.50 port 2 ssh2"))
    for h in range(4):  # 4 failures 2 hours apart: never 3 in 10 minutes
        out.append(
            (START + 100 + h * 7200, "Failed password for bob from 198.51.100.77 port 3 ssh2")
        )
    for i, address in enumerate(ATTACKERS):  # alice from 7 addresses within minutes
        out.append((START + 200 + i * 30, f"Failed password for alice from {address} port 4 ssh2"))
    out.append((START + 500, "Failed password for alice from 198.51.100.20 port 5 ssh2"))
    out.sort()
    return out


def _config(tmp_path: Path) -> Path:
    path = tmp_path / "journalban.yaml"
    jail = {
        "maxretry": 3, "findtime": "10m", "bantime": "1h",
        "deny_users": ["oracle"], "slow": {"maxretry": 4, "findtime": "1d"},
        "account": {"addresses": 5, "findtime": "1h", "hold": "1h"},
        "subnet": {"enabled": False}, "attack_mode": {"enabled": False},
    }  # fmt: skip
    path.write_text(yaml.safe_dump({"state_dir": str(tmp_path / "state"), "jails": {"sshd": jail}}))
    return path


def _expected() -> dict[str, str]:
    return {
        "192.0.2.50": "deny_user",
        "198.51.100.77": "slow",
        **dict.fromkeys(ATTACKERS, "account"),
    }


def _check(out: dict[str, Any], tmp_path: Path) -> None:
    assert out["failures"] == 1 + 4 + len(ATTACKERS) + 1
    got = {b["address"]: b["reason"] for b in out["bans"]}
    assert got == _expected(), "198.51.100.20 is alice's known-good address"
    slow = next(b for b in out["bans"] if b["reason"] == "slow")
    assert slow["at"].startswith(time.strftime("%Y-%m-%dT", time.localtime(START + 100 + 3 * 7200)))
    assert set(out["bans"][0]) == {"jail", "address", "reason", "at", "until"}
    [attack] = out["accounts_under_attack"]
    assert (attack["jail"], attack["account"]) == ("sshd", "alice")
    assert attack["since"] < attack["until"]
    assert not (tmp_path / "state").exists(), "replay writes no state"


def _journal(directory: Path, name: str = "remote.journal") -> None:
    entries = [
        {**sshd_fields(message), "__REALTIME_TIMESTAMP": int(when * 1e6)}
        for when, message in _messages()
    ]
    with JournalWriter(directory, name) as writer:
        writer.write(entries)
        writer.wait_visible(len(entries))


def test_replay_of_a_log_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    log = tmp_path / "auth.log"
    log.write_text(
        "".join(
            f"{time.strftime('%b %e %H:%M:%S', time.localtime(when))} host sshd[7]: {message}\n"
            for when, message in _messages()
        )
    )
    assert main(["replay", str(log), "--config", str(_config(tmp_path)), "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["lines"] == len(_messages())
    _check(out, tmp_path)


def test_replay_of_journal_files(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    _journal(tmp_path / "journal")
    assert (
        main(["replay", str(tmp_path / "journal"), "--config", str(_config(tmp_path)), "--json"])
        == 0
    )
    _check(json.loads(capsys.readouterr().out), tmp_path)


def test_replay_since_and_until_keep_the_lines_between(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _journal(tmp_path / "journal")
    since = time.strftime("%Y-%m-%dT%H:%M:%S", time.localtime(START + 150))
    until = time.strftime("%Y-%m-%dT%H:%M:%S", time.localtime(START + 1000))
    args = ["replay", str(tmp_path / "journal"), "--config", str(_config(tmp_path)), "--json"]
    assert main([*args, "--since", since, "--until", until]) == 0
    out = json.loads(capsys.readouterr().out)
    assert {b["reason"] for b in out["bans"]} == {"account"}


def test_replay_prints_a_summary(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    _journal(tmp_path / "journal")
    assert main(["replay", str(tmp_path / "journal"), "--config", str(_config(tmp_path))]) == 0
    text = capsys.readouterr().out
    assert "account" in text
    assert "'alice'" in text


@pytest.mark.parametrize(
    ("args", "named"),
    [
        (["/nonexistent/auth.log"], "/nonexistent/auth.log"),
        (["LOG", "--since", "yesterday-ish"], "yesterday-ish"),
        (["LOG", "--jail", "nosuch"], "nosuch"),
    ],
)
def test_bad_input_exits_2_naming_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], args: list[str], named: str
) -> None:
    log = tmp_path / "auth.log"
    log.write_text("")
    args = [str(log) if a == "LOG" else a for a in args]
    assert main(["replay", *args, "--config", str(_config(tmp_path))]) == 2
    assert named in capsys.readouterr().err


def test_replay_of_the_system_journal(tmp_path: Path) -> None:
    need_root()
    need_tool("unshare")
    machine_id = Path("/etc/machine-id").read_text().strip()
    if not machine_id:
        missing_real("no /etc/machine-id")
    _journal(tmp_path / "run-log" / machine_id, "system.journal")
    (tmp_path / "var-log").mkdir()
    for target in ("/run/log/journal", "/var/log/journal"):
        Path(target).mkdir(parents=True, exist_ok=True)
    config = _config(tmp_path)
    script = (
        f"mount --bind {tmp_path}/run-log /run/log/journal && "
        f"mount --bind {tmp_path}/var-log /var/log/journal && "
        f'exec "$0" -m journalban replay journal --config {config} --json'
    )
    done = subprocess.run(
        ["unshare", "-m", "--propagation", "private", "sh", "-c", script, sys.executable],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    _check(json.loads(done.stdout), tmp_path)


def test_replay_correlates_failures_without_an_address_by_session(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    teach = 'Connection from 203.0.113.90 port {} on 192.0.2.1 port 22 rdomain ""'
    count = "Disconnecting: Too many authentication failures [preauth]"
    entries = [
        {
            **sshd_fields(teach.format(pid), pid=pid),
            "__REALTIME_TIMESTAMP": int((START + pid) * 1e6),
        }
        for pid in (1, 2, 3)
    ] + [
        {**sshd_fields(count, pid=pid), "__REALTIME_TIMESTAMP": int((START + 10 + pid) * 1e6)}
        for pid in (1, 2, 3, 4)
    ]
    with JournalWriter(tmp_path / "journal") as writer:
        writer.write(entries)
        writer.wait_visible(len(entries))
    assert (
        main(["replay", str(tmp_path / "journal"), "--config", str(_config(tmp_path)), "--json"])
        == 0
    )
    out = json.loads(capsys.readouterr().out)
    assert out["failures"] == 3, "pid 4 taught no address"
    assert [(b["address"], b["reason"]) for b in out["bans"]] == [("203.0.113.90", "failures")]
