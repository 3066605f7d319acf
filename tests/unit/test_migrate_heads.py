"""What fail2ban leaves at a line's head, as journalban sees the line: converted
regexes matched against full lines through journalban's own date and prefix reader."""

from __future__ import annotations

import pytest

from journalban.config.yamlsource import Marks
from journalban.matching.engine import MATCHED, CompiledFilter, LineMatcher
from journalban.matching.filterdef import FilterDef, parse_filter
from journalban.migrate.agreement import compare
from journalban.migrate.identhead import ident_like_head
from journalban.migrate.regexconv import HOST_MARK, PREFIX_MARK, Refused, convert_regex

NOW = 1_800_000_000.0


def _filter(*regexes: str) -> FilterDef:
    converted = [convert_regex(r) for r in regexes]
    data = {"failregex": [{"regex": ident_like_head(r, 1) or r} for r in converted]}
    return parse_filter(data, Marks(), "f2b-test", "<test>")


def _host(fdef: FilterDef, line: str) -> str | None:
    out = LineMatcher(CompiledFilter(fdef), lambda: NOW).match_line(line)
    return str(out.address) if out.kind == MATCHED else None


def test_a_regex_spelling_out_its_own_syslog_head_matches_with_and_without_it() -> None:
    # Roundcube's filter writes "host roundcube[pid]: <session> IMAP Error: " itself.
    fdef = _filter(
        r"^\s*(\[\])?(" + HOST_MARK + r"\s*(?:roundcube(?:\[(\d*)\])?:)?\s*(<[\w]+>)? IMAP Error)?"
        r": Login failed for <F-USER>.*</F-USER> from <HOST>$"
    )
    assert (
        _host(fdef, "May 26 07:12:40 mx roundcube: IMAP Error: Login failed for a from 10.1.1.47")
        == "10.1.1.47"
    )
    assert (
        _host(
            fdef,
            "May 19 06:07:48 mx roundcube[2]: <crk9n97i> IMAP Error: Login failed for t from 192.0.2.1",
        )
        == "192.0.2.1"
    )
    # The user typed an address: the peer is still the last one.
    assert (
        _host(
            fdef,
            "[30-Dec-2014 13:02:34 -0500]: IMAP Error: Login failed for a from 127.0.0.1 from 1.2.3.4",
        )
        == "1.2.3.4"
    )
    # Elsewhere the host name is a plain field of the line.
    assert convert_regex(f"^{PREFIX_MARK}{HOST_MARK} \\(<HOST>\\)") == r"^\S+ \(<HOST>(?!\.?\w)\)"


def test_a_full_stop_after_the_address_ends_the_sentence_not_the_address() -> None:
    fdef = _filter(r"Login failed for \S+ from <HOST>(?:\. .*)?$")
    assert (
        _host(fdef, "May 26 07:12:40 mx roundcube: Login failed for a from 1.2.3.4. AUTH x")
        == "1.2.3.4"
    )
    assert _host(fdef, "May 26 07:12:40 mx roundcube: Login failed for a from 1.2.3.4.5") is None
    assert (
        _host(fdef, "May 26 07:12:40 mx roundcube: Login failed for a from ::ffff:1.2.3.4")
        == "1.2.3.4"
    )


def test_a_zone_fail2ban_leaves_after_the_time_is_taken_off_with_the_date() -> None:
    # 3proxy: "dd-mm-yyyy HH:MM:SS +zzzz"; fail2ban's regex starts at the zone.
    fdef = _filter(r"^\s[+-]\d{4} \S+ \d{3}0[1-9] \S+ <HOST>:\d+ [\d.]+:\d+ \d+ \d+ \d+\s")
    line = "11-06-2013 02:09:40 +0300 PROXY.3128 00004 - 1.2.3.4:28783 0.0.0.0:0 0 0 0 GET http://x/ HTTP/1.1"
    assert _host(fdef, line) == "1.2.3.4"


def test_a_leading_optional_blank_dash_survives_the_blank_taken_off() -> None:
    fdef = _filter(r"^(?:\s+-)?\s*(?:NOTEXIST|AUTHERR) - <ADDR>\b")
    line = "Wed Apr 14 08:54:22 2021 - NOTEXIST - [127.0.0.1] File does not exist: /manager/html"
    assert _host(fdef, line) == "127.0.0.1"
    assert _host(fdef, "Wed Apr 14 08:11:01 2021 - OK - [127.0.0.1] GET /") is None


def test_an_address_journalban_never_bans_still_agrees_when_fail2ban_found_it() -> None:
    fdef = _filter(r"^\s*<HOST> \[SMTP Error\] 535")
    lines = [
        "2016-07-30 17:07:25 0.0.0.0 [SMTP Error] 535 5.7.8 Error",
        "2016-07-30 17:07:26 0.0.0.0 [SMTP Error] 535 5.7.8 Error",
    ]
    # fail2ban found 0.0.0.0 on the first line only.
    a = compare(fdef, {lines[0]: "0.0.0.0"}, lines, lambda: NOW)
    assert (a.lines, a.agree, a.unbannable) == (2, 1, 2)
    assert len(a.differ) == 1
    assert "fail2ban None" in a.differ[0]
    assert not a.other_address


def test_a_level_or_name_journalban_reads_as_an_ident_is_an_optional_head() -> None:
    # Bitwarden's "[WRN]", ZNC's "[user]", Asterisk's "NOTICE[pid]:": journalban's
    # splitter takes them for an ident, so the regex matches with or without them.
    bitwarden = _filter(
        r"^\s*\[(?:W(?:RN|arning)|Bit\.Core\.[^\]]+)\]\s+Failed login attempt\. <ADDR>$"
    )
    line = "2019-11-26 01:04:49.008 +08:00 [WRN] Failed login attempt. 192.168.0.16"
    assert _host(bitwarden, line) == "192.168.0.16"
    asterisk = _filter(
        r"^(?:NOTICE|SECURITY|WARNING)(?:\s*\[\d+\]):?(?:\[C-[\da-f]*\])?:? [^:]+:\d* "
        r"Registration from '[^']*' failed for '<HOST>(?::\d+)?' - Wrong password$"
    )
    for head in ("[Mar 27 10:06:14] NOTICE[566]: ", "[Mar 27 10:06:14] NOTICE[566][C-0000001a]: "):
        text = (
            head
            + "chan_sip.c:28926 Registration from '<sip:1@x>' failed for '192.0.2.2:7998' - Wrong password"
        )
        assert _host(asterisk, text) == "192.0.2.2"
    # exim's message id and SpamAssassin tag read as "host ident: ".
    exim = _filter(r"^\S+ SA: Action: silently tossed message: \(host=(\S+ )?\[<HOST>\]\) for \S+$")
    line = "2013-12-29 15:34:12 1VxHRO-000NiI-Ly SA: Action: silently tossed message: (host=x [188.76.45.72]) for me@x"
    assert _host(exim, line) == "188.76.45.72"


def test_a_bracketed_head_that_is_no_ident_stays_required() -> None:
    # Apache's "[module:level]" (a colon), a look-ahead, a log level: left as they are.
    assert ident_like_head(r"^\s*\[(:?error|(?!evasive)\S+:\S+)\] \[client <HOST>\]", 1) is None
    assert ident_like_head(r"^\[WARN(?:ING)?\] \[?sofia_reg\.c:\d+\]? from <HOST>", 1) is None
    assert ident_like_head(r"^(?:Host )?<HOST> failed", 1) is None


def test_a_backslash_and_n_is_one_line_a_newline_is_several() -> None:
    assert "unknown(?:\\\\n)?'" in convert_regex(
        r"^error '[Pp]rimary script unknown(?:\\n)?' <HOST>"
    )
    with pytest.raises(Refused, match="several lines"):
        convert_regex(r"^=INFO REPORT====\nI\(x\) from <HOST>")
