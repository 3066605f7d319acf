"""`journalban regex` typos: each says what is wrong and what to type instead."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from journalban.cli.main import main
from journalban.cli.regexargs import check_log

FAIL = "Failed password for root from 203.0.113.5 port 1 ssh2"


def _err(argv: list[str], capsys: pytest.CaptureFixture[str]) -> str:
    assert main(argv) == 1
    return capsys.readouterr().err.strip()


def test_a_misspelt_file_name_is_no_such_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    err = _err(["regex", "auth.lgo", "sshd"], capsys)
    assert err.startswith("journalban regex: no such file: auth.lgo (LOG is a log file")
    err = _err(["regex", str(tmp_path / "auth.log"), "sshd"], capsys)
    assert f"no such file: {tmp_path}/auth.log" in err


def test_an_unknown_filter_lists_the_available_ones(capsys: pytest.CaptureFixture[str]) -> None:
    err = _err(["regex", FAIL, "sshdd"], capsys)
    assert err.startswith("journalban regex: no filter sshdd (did you mean sshd?); available: ")
    assert "postfix" in err.split("available: ")[1].split(", ")
    assert "<HOST>" not in err


def test_a_bogus_mode_lists_the_modes(capsys: pytest.CaptureFixture[str]) -> None:
    err = _err(["regex", FAIL, "sshd", "--mode", "bogus"], capsys)
    assert err == (
        "journalban regex: filter 'sshd' has no mode 'bogus' "
        "(modes: normal, ddos, extra, aggressive)"
    )


def test_an_empty_journal_directory_says_there_are_no_journal_files(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    err = _err(["regex", str(tmp_path), "sshd"], capsys)
    assert err == f"journalban regex: no journal files were found in {tmp_path}"
    with pytest.raises(ValueError, match="no journal files were found in"):
        check_log("journal", (tmp_path / "run", tmp_path / "var"))


def test_print_all_lines_appear_in_the_json(capsys: pytest.CaptureFixture[str]) -> None:
    argv = ["regex", FAIL, "sshd", "--json", "--print-all-matched", "--print-all-missed"]
    assert main(argv) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["matches"][0]["text"] == FAIL
    assert out["missed_lines"] == []
    assert main(["regex", "Accepted password for x", "sshd", "--json", "--print-all-missed"]) == 0
    missed = json.loads(capsys.readouterr().out)["missed_lines"]
    assert missed == [{"line": 1, "text": "Accepted password for x", "reason": ""}]


def test_print_all_matched_prints_the_lines(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["regex", FAIL, "sshd", "--print-all-matched"]) == 0
    assert f"Matched lines (1):\n1: {FAIL}" in capsys.readouterr().out


def test_the_json_names_each_regexs_modes(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["regex", FAIL, "sshd", "--mode", "normal", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["mode"] == "normal"
    by_mode = {r["number"]: (r["modes"], r["active"]) for r in out["regexes"]}
    assert by_mode[0] == (["aggressive", "ddos", "extra", "normal"], True)
    assert any(not active and "normal" not in modes for modes, active in by_mode.values())


def test_json_errors_are_json(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["regex", "auth.lgo", "sshd", "--json"]) == 1
    error = json.loads(capsys.readouterr().err)
    assert error["message"].startswith("no such file: auth.lgo")
