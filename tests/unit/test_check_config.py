"""`journalban check-config`: errors with file and line, warnings about trust."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from journalban.cli.main import main


def _config(tmp_path: Path, main_text: str, dropin: str | None = None) -> Path:
    path = tmp_path / "journalban.yaml"
    path.write_text(main_text)
    if dropin is not None:
        (tmp_path / "jail.d").mkdir()
        (tmp_path / "jail.d" / "10-local.yaml").write_text(dropin)
    return path


def test_error_names_file_and_line_and_exits_1(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = _config(
        tmp_path, "jails:\n  sshd:\n    maxretry: 3\n", "jails:\n  sshd:\n    bantime: soon\n"
    )
    assert main(["check-config", str(path)]) == 1
    assert f"{tmp_path}/jail.d/10-local.yaml:3: jails.sshd.bantime" in capsys.readouterr().err


def test_default_set_is_clean(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["check-config", str(_config(tmp_path, "{}\n")), "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["ok"] is True
    assert out["errors"] == []
    assert out["warnings"] == []


def test_warnings_for_what_a_local_user_can_write(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = _config(
        tmp_path,
        "journal:\n  directory: /srv/journal\n"
        "jails:\n  sshd:\n    journal_match: [[SYSLOG_IDENTIFIER=sshd]]\n"
        "  ssh-files:\n    filter: sshd\n    source: files\n    files: [/var/log/auth.log]\n",
    )
    assert main(["check-config", str(path), "--json"]) == 0
    warnings = json.loads(capsys.readouterr().out)["warnings"]
    where = {(w["line"], w["message"].split(":")[0]) for w in warnings}
    assert (2, "journal.directory /srv/journal") in where
    assert (5, "jail sshd") in where  # the group pins no _UID
    assert (9, "jail ssh-files") in where  # auth.log is fed by syslog
    assert all(w["file"] == str(path) for w in warnings)
