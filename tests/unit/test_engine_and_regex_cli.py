"""The matching engine's batch path, and `journalban regex` on files and single lines."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from journalban.cli.main import main
from journalban.matching.engine import MATCHED, CompiledFilter, LineMatcher
from journalban.matching.library import FilterLibrary

SSHD = FilterLibrary(override_dir=None).load("sshd")
NOW = 1_800_000_000.0
FAIL = "Nov 21 10:00:01 web1 sshd[1201]: Failed password for root from 203.0.113.5 port 40122 ssh2"
MIXED_AUTH_LOG = [
    "Nov 21 10:00:00 web1 CRON[99]: pam_unix(cron:session): session opened for user root(uid=0)",
    FAIL,
    "Nov 21 10:00:02 web1 sudo[7]: Failed password for root from 192.0.2.99 port 22 ssh2",
    "Nov 21 10:00:03 web1 sshd[1202]: Accepted publickey for alice from 198.51.100.2 port 2 ssh2",
    "Nov 21 10:00:04 web1 sshd[1203]: Failed password for invalid user x from 192.0.2.1 port 22 ssh2"
    " from 203.0.113.51 port 40000 ssh2",
    "Nov 21 10:00:05 web1 sshd-session[1204]: Invalid user oracle from 2001:db8::5 port 51122",
]


def _matcher(mode: str | None = None) -> LineMatcher:
    return LineMatcher(CompiledFilter(SSHD, mode), lambda: NOW)


def _matches(lines: list[str]) -> list[tuple[int, str]]:
    return [(o.index, str(o.address)) for o in _matcher().match_lines(lines) if o.kind == MATCHED]


def test_prefilter_skips_lines_without_a_required_literal() -> None:
    assert list(_matcher().candidates(MIXED_AUTH_LOG)) == [1, 2, 4, 5]


def test_a_line_holding_a_newline_still_maps_to_its_own_index() -> None:
    lines = ["Nov 21 10:00:00 web1 sshd[1]: hello\nFailed password", FAIL]
    assert list(_matcher().candidates(lines)) == [0, 1]
    assert _matches(lines) == [(1, "203.0.113.5")]


def test_mixed_auth_log_counts_only_sshd_lines_and_the_true_peer() -> None:
    assert _matches(MIXED_AUTH_LOG) == [(1, "203.0.113.5"), (4, "203.0.113.51"), (5, "2001:db8::5")]


def test_injected_user_does_not_ban_named_ip() -> None:
    line = FAIL.replace("for root from", "for invalid user 192.0.2.1 from")
    assert _matches([line]) == [(0, "203.0.113.5")]


def test_matched_lines_carry_their_time_through_the_fast_path() -> None:
    matcher = _matcher()
    outcomes = [o for o in matcher.match_lines([FAIL, FAIL.replace("10:00:01", "10:07:09")])]
    assert [o.time for o in outcomes][1] == pytest.approx(outcomes[0].time + 428)  # type: ignore[operator]


def test_modes_choose_the_literals_and_regexes() -> None:
    closed = "Nov 21 10:00:11 h sshd[1]: Connection closed by 198.51.100.19 port 4949 [preauth]"
    assert not list(_matcher("normal").candidates([closed]))
    assert [o.kind for o in _matcher("aggressive").match_lines([closed])] == [MATCHED]


def _run_json(capsys: pytest.CaptureFixture[str], *argv: str) -> dict[str, object]:
    assert main(["regex", *argv, "--json"]) == 0
    return json.loads(capsys.readouterr().out)  # type: ignore[no-any-return]


def test_regex_on_a_file_counts_every_line_once(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    log = tmp_path / "auth.log"
    log.write_bytes("\n".join(MIXED_AUTH_LOG).encode() + b"\n\xff\xfe broken\n")
    out = _run_json(capsys, str(log), "sshd")
    assert (out["lines"], out["matched"], out["ignored"], out["missed"]) == (7, 3, 0, 4)
    matches = out["matches"]
    assert isinstance(matches, list)
    assert matches[0] == {"line": 2, "host": "203.0.113.5", "user": "root",
                          "time": matches[0]["time"], "regex": 0}  # fmt: skip
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d[+-]\d\d:\d\d", matches[0]["time"])
    assert [m["line"] for m in matches] == [2, 5, 6]
    regexes = out["regexes"]
    assert isinstance(regexes, list)
    assert regexes[0]["hits"] == 2
    assert out["dates"] == [{"format": "Syslog", "hits": out["dates"][0]["hits"]}]  # type: ignore[index]


def test_regex_on_one_line_with_a_literal_regex(capsys: pytest.CaptureFixture[str]) -> None:
    out = _run_json(capsys, FAIL, r"Failed password for <USER> from <HOST> port \d+ ssh2$")
    assert (out["lines"], out["matched"]) == (1, 1)
    assert out["matches"] == [{"line": 1, "host": "203.0.113.5", "user": "root",
                               "time": out["matches"][0]["time"], "regex": 0}]  # type: ignore[index]  # fmt: skip


def test_invalid_address_counts_as_missed_with_its_reason(
    capsys: pytest.CaptureFixture[str],
) -> None:
    bad = FAIL.replace("203.0.113.5", "999.1.1.1")
    assert main(["regex", bad, "sshd", "--print-all-missed"]) == 0
    text = capsys.readouterr().out
    assert "Lines: 1 lines, 0 ignored, 0 matched, 1 missed" in text
    assert "(invalid address)" in text


def test_human_summary_line_is_exact(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    log = tmp_path / "auth.log"
    log.write_text("\n".join(MIXED_AUTH_LOG) + "\n")
    assert main(["regex", str(log), "sshd"]) == 0
    assert "\nLines: 6 lines, 0 ignored, 3 matched, 3 missed\n" in capsys.readouterr().out


def test_regex_without_host_is_refused(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["regex", FAIL, "Failed password"]) == 1
    assert "<HOST>" in capsys.readouterr().err


IGNORING_FILTER = """\
idents: [sshd]
failregex: ['^Failed password for (?:invalid user )?<USER> from <HOST> port \\d+ ssh2$']
ignoreregex: ['for root from']
"""


@pytest.mark.parametrize("filter_spec", ["sshd", "sshd --mode aggressive", "file with ignoreregex"])
def test_summary_counts_match_the_per_line_path(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], filter_spec: str
) -> None:
    options = ["--mode", "aggressive"] if "aggressive" in filter_spec else []
    filter_spec = filter_spec.split()[0]
    if filter_spec != "sshd":
        (tmp_path / "f.yaml").write_text(IGNORING_FILTER)
        filter_spec = str(tmp_path / "f.yaml")
    lines = [
        *MIXED_AUTH_LOG,
        FAIL.replace("203.0.113.5", "999.1.1.1"),
        FAIL.replace("203.0.113.5", "evil.example.com"),
        FAIL.replace("root", "bob"),
        "Failed password for root from 192.0.2.7 port 22 ssh2",
        "2026-11-21T10:00:09+01:00 web1 sshd[5]: Invalid user x from 192.0.2.8 port 1",
        FAIL.replace("Nov 21", "Nov 99"),
        "<38>" + FAIL,
        FAIL.replace("10:00:01", "10:00:01.250"),
        "Nov 21 10:00:11 h sshd[1]: Connection closed by authenticating user r 192.0.2.9 port 4 [preauth]",
        "Nov 21 10:00:12 h sshd[1]: Connection closed by 198.51.100.19 port 4949 [preauth]",
    ]
    log = tmp_path / "auth.log"
    log.write_bytes("\n".join(lines * 3).encode() + b"\n\xff Failed \xfe\n" + FAIL.encode())
    code = main(["regex", str(log), filter_spec, *options])
    summary = capsys.readouterr().out
    by_line = _run_json(capsys, str(log), filter_spec, *options)
    assert code == 0
    assert by_line["matched"]
    assert by_line["ignored"] or filter_spec == "sshd"
    assert "mode aggressive" in summary or not options
    counts = [by_line[k] for k in ("lines", "ignored", "matched", "missed")]
    assert "\nLines: {} lines, {} ignored, {} matched, {} missed\n".format(*counts) in summary
    for regex in by_line["regexes"]:  # type: ignore[attr-defined]
        # The summary lists the mode's regexes; JSON lists all, those of other modes with 0.
        assert not regex["hits"] or f"[{regex['hits']}] {regex['pattern']}" in summary
    for date in by_line["dates"]:  # type: ignore[attr-defined]
        assert f"[{date['hits']}] {date['format']}" in summary


def test_a_line_longer_than_a_file_name_is_read_as_a_line(
    capsys: pytest.CaptureFixture[str],
) -> None:
    long_line = FAIL.replace("for root", "for invalid user " + "x" * 300)
    out = _run_json(capsys, long_line, "sshd")
    assert (out["lines"], out["matched"]) == (1, 1)
    assert out["matches"][0]["user"] == "x" * 300  # type: ignore[index]


def test_regex_points_a_filter_with_sessions_to_replay(
    capsys: pytest.CaptureFixture[str],
) -> None:
    line = (
        "Dec  4 21:40:03 mx smtpd[1]: 5d86095f0a1e9dd7 smtp authentication user=a result=permfail"
    )
    assert main(["regex", line, "opensmtpd"]) == 0
    text = capsys.readouterr().out
    assert "0 matched, 1 missed" in text
    assert "through their session; `journalban replay` shows those" in text
