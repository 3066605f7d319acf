"""`journalban check-config`: errors with file and line, warnings about trust."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from journalban.cli import idlejails
from journalban.cli.main import main


@pytest.fixture(autouse=True)
def _host_has_a_journal(monkeypatch: pytest.MonkeyPatch) -> None:
    """Whether this machine has a journal directory must not change the outcome."""
    monkeypatch.setattr(idlejails, "journal_available", lambda config: True)


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
        f"journal:\n  directory: {tmp_path}\n"
        "jails:\n  sshd:\n    journal_match: [[SYSLOG_IDENTIFIER=sshd]]\n"
        "  ssh-files:\n    filter: sshd\n    source: files\n    files: [/var/log/auth.log]\n",
    )
    assert main(["check-config", str(path), "--json"]) == 0
    warnings = json.loads(capsys.readouterr().out)["warnings"]
    where = {(w["line"], w["message"].split(":")[0]) for w in warnings}
    assert (2, f"journal.directory {tmp_path}") in where
    assert (5, "jail sshd") in where  # the group pins no _UID
    assert (9, "jail ssh-files") in where  # auth.log is fed by syslog
    assert all(w["file"] == str(path) for w in warnings)


FAIL2BAN_HABITS = """\
defaults:
  bantime: -1
  max_retry: 3
  ignoreip: 127.0.0.1/8 ::1
jails:
  sshd:
    logpath: /var/log/auth.log
    backend: systemd
    rndtime: 10m
    findtime: soon
  postfix-sasl:
    enabled: true
  recidive:
    enabled: true
  web:
    filter: nginx-http-auth
    ignoreip: [127.0.0.1/8]
"""


def test_every_error_in_one_run_with_file_line_and_a_hint(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = _config(tmp_path, FAIL2BAN_HABITS)
    assert main(["check-config", str(path), "--json"]) == 1
    out = json.loads(capsys.readouterr().out)
    assert out["ok"] is False
    found = [(e["line"], e["message"]) for e in out["errors"]]
    assert all(e["file"] == str(path) for e in out["errors"])
    assert [line for line, _ in found] == [2, 3, 4, 7, 8, 9, 10, 11, 13, 17]
    text = dict(found)
    # defaults: errors are labelled as defaults, once (not once per jail)
    assert text[2].startswith("defaults.bantime: ")
    assert "written permanent here" in text[2]
    assert text[3] == "defaults.max_retry: unknown key; did you mean maxretry?"
    assert "a YAML list, not a space-separated string: [127.0.0.1/8, ::1]" in text[4]
    assert "logpath is files:" in text[7]
    assert "backend is source:" in text[8]
    assert (
        text[9]
        == "jails.sshd.rndtime: fail2ban's rndtime is not supported by journalban; remove it"
    )
    assert "not a duration" in text[10]
    assert "filter: postfix with mode: auth" in text[11]
    assert "the top-level recidive: key" in text[13]
    assert text[17] == "jails.web.ignoreip: 127.0.0.1/8 has host bits set: write 127.0.0.0/8"


def test_text_output_lists_the_same_errors(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = _config(tmp_path, FAIL2BAN_HABITS)
    assert main(["check-config", str(path)]) == 1
    err = capsys.readouterr().err.splitlines()
    assert err[0] == f"error: {path}:2: " + err[0].split(f"{path}:2: ", 1)[1]
    assert len([line for line in err if line.startswith("error: ")]) == 10
    assert err[-1] == "10 errors: the configuration is not valid"


def test_errors_of_several_files_in_one_run(tmp_path: Path) -> None:
    from journalban.config.loader import load_config
    from journalban.errors import ConfigErrors

    path = _config(tmp_path, "jails: [unclosed\n", "jails:\n  sshd:\n    maxretry: many\n")
    with pytest.raises(ConfigErrors) as caught:
        load_config(path)
    where = [(e.file, e.line) for e in caught.value.errors]
    assert where == [(str(path), 2), (str(tmp_path / "jail.d" / "10-local.yaml"), 3)]


def test_warns_about_jails_that_can_never_match_and_lists_the_running_ones(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    missing = tmp_path / "nope.log"
    path = _config(
        tmp_path,
        "jails:\n"
        "  mail:\n    filter: sshd\n    journal_match: [[_SYSTEMD_UNIT=x.service, _UID=@no-such-user-jb]]\n"
        f"  web:\n    filter: nginx-http-auth\n    source: files\n    files: [{missing}]\n",
    )
    assert main(["check-config", str(path), "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["jails"] == ["sshd", "mail", "web"]
    warnings = {(w["line"], w["message"]) for w in out["warnings"]}
    assert (4, "jail mail can never match here: its journal match needs the user "
               "no-such-user-jb, which this host does not have") in warnings  # fmt: skip
    assert (8, f"jail web: none of its files exist ({missing}): it reads nothing until one "
               "appears") in warnings  # fmt: skip
    assert main(["check-config", str(path)]) == 0
    captured = capsys.readouterr()
    assert "jails that will run: sshd, mail, web" in captured.out
    assert "warning: " in captured.err


def test_warns_when_a_journal_jail_runs_on_a_host_without_a_journal(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(idlejails, "journal_available", lambda config: False)
    assert main(["check-config", str(_config(tmp_path, "{}\n")), "--json"]) == 0
    messages = [w["message"] for w in json.loads(capsys.readouterr().out)["warnings"]]
    assert messages == [
        "jail sshd reads the journal, but this host has none: it stays idle (use source: files)"
    ]


def test_the_agent_logs_every_error_and_exits_78(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    import logging

    root = logging.getLogger("journalban")
    saved = (root.handlers[:], root.level, root.propagate)
    try:
        code = main(["run", "--config", str(_config(tmp_path, FAIL2BAN_HABITS)), "--no-bus"])
    finally:
        root.handlers[:], root.level, root.propagate = saved
    assert code == 78
    errors = [
        line for line in capsys.readouterr().err.splitlines() if "configuration error" in line
    ]
    assert len(errors) == 10
    assert errors[0].endswith(
        "defaults.bantime: not a duration: -1 (fail2ban's -1, a ban that never ends, is written permanent here)"
    )


def test_warns_when_the_journal_directory_holds_no_journal_files(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    empty = tmp_path / "journal"
    empty.mkdir()
    path = _config(tmp_path, f"journal:\n  directory: {empty}\n")
    assert main(["check-config", str(path), "--json"]) == 0
    messages = [w["message"] for w in json.loads(capsys.readouterr().out)["warnings"]]
    assert (
        f"journal.directory {empty} holds no journal files (yet): the journal jails read nothing"
        in messages
    )


def test_a_broken_filter_file_is_one_more_error_with_its_own_line(tmp_path: Path) -> None:
    from journalban.config.loader import load_config
    from journalban.errors import ConfigErrors
    from journalban.matching.library import FilterLibrary

    filters = tmp_path / "filters.d"
    filters.mkdir()
    (filters / "sshd.yaml").write_text('failregex:\n  - regex: "^broken (<HOST>"\n')
    path = _config(tmp_path, "jails:\n  sshd:\n    maxretry: many\n")
    with pytest.raises(ConfigErrors) as caught:
        load_config(path, check_filter=FilterLibrary(filters).check)
    where = [(e.file, e.line) for e in caught.value.errors]
    assert where == [(str(path), 3), (str(filters / "sshd.yaml"), 2)]
