"""The matching fast paths mean exactly what the plain regexes mean."""

from __future__ import annotations

import re

import pytest

from journalban.matching.alternation import combine, fuse
from journalban.matching.engine import CompiledFilter, LineMatcher
from journalban.matching.library import FilterLibrary
from journalban.matching.literals import needles_for, parsed_pattern, required_literals, scan_needle
from journalban.matching.prefix import SYSLOG_PREFIX
from journalban.matching.regexopt import compile_tuned

SSHD = FilterLibrary(override_dir=None).load("sshd")
HEAD = re.compile(rf"(?P<jbdate>\w+ \d+ [\d:]+) (?:{SYSLOG_PREFIX.pattern})?")


@pytest.mark.parametrize(
    ("pattern", "text"),
    [
        (r"a(?:bc)?(?P<x>b?c)", "abcbc"),
        (r"a(?:bc)?(?P<x>b?c)", "abc"),
        (r"(?:(?P<y>x)y)?x(?:y)?", "xyx"),
        (r"(?:a|ab)?b$", "ab"),
        (r"(?:(?P<u>.*) from )?(?P<h>\S+)$", "x from y from z"),
    ],
)
def test_tuned_regex_matches_as_the_plain_one(pattern: str, text: str) -> None:
    plain, tuned = re.compile(pattern).match(text), compile_tuned(pattern).match(text)
    assert (plain and plain.groupdict(), plain and plain.span()) == (
        tuned and tuned.groupdict(),
        tuned and tuned.span(),
    )


@pytest.mark.parametrize(
    "pattern",
    [r"(?<=: )x <HOST>", r"\bx <HOST>", r"(?:^|y)x <HOST>", r"x(?<!foo x)<HOST>"],
)
def test_regexes_that_look_before_the_message_are_not_fused(pattern: str) -> None:
    regex = re.compile(pattern.replace("<HOST>", r" (?P<host>\S+)"))
    alternation = combine([(0, regex)])
    assert alternation is not None
    assert not alternation.fusable
    assert fuse(HEAD, alternation) is None


def test_lookbehind_after_enough_message_text_is_fused() -> None:
    regex = re.compile(r"^Failed ssh1(?<=ssh1) (?P<host>\S+)$")
    alternation = combine([(0, regex)])
    assert alternation is not None
    fused = fuse(HEAD, alternation)
    assert fused is not None
    m = fused.match("Nov 21 10:00:01 web1 sshd[7]: Failed ssh1 192.0.2.1")
    assert m is not None
    assert m.group("host__0") == "192.0.2.1"


def test_a_needle_is_part_of_its_literal() -> None:
    for literal in ("Failed ", "nvalid user ", "PAM: ", "Received disconnect from ", "x"):
        assert scan_needle(literal) in literal


def test_each_regex_is_covered_by_a_needle_its_matches_hold() -> None:
    compiled = CompiledFilter(SSHD, "aggressive")
    assert compiled.covers is not None
    matcher = LineMatcher(compiled, lambda: 1_800_000_000.0)
    for sample in SSHD.samples:
        out = matcher.match_line(sample.line)
        if out.regex < 0 or "aggressive" not in sample.modes:
            continue
        position = [number for number, _ in compiled.regexes].index(out.regex)
        held = [n for n in compiled.needles if n in sample.line]
        assert any(compiled.covers[position] >> compiled.needles.index(n) & 1 for n in held)


def test_a_line_holding_a_needle_but_not_its_literal_is_no_candidate() -> None:
    matcher = LineMatcher(CompiledFilter(SSHD), lambda: 1_800_000_000.0)
    # The literal "nvalid user " is searched without its blank.
    banner = "Nov 21 10:00:01 h sshd[1]: banner exchange: Connection from 192.0.2.1: invalid user"
    invalid = "Nov 21 10:00:02 h sshd[1]: Invalid user x from 192.0.2.1 port 1"
    assert "nvalid user" in matcher.filter.needles
    assert "nvalid user" not in matcher.filter.literals
    assert list(matcher.candidates([banner, invalid, banner])) == [1]


def test_a_needle_is_widened_to_what_its_literals_share() -> None:
    scan = dict(needles_for(["reject: RCPT from ", "reject: MAIL from ", "auth failed, ", "x"]))
    assert scan["reject:"] == (("reject: RCPT from ", 0), ("reject: MAIL from ", 0))
    assert scan["auth failed,"] == (("auth failed, ", 0),)
    assert scan["x"] == ()


def test_the_alternation_reuses_the_parse_of_the_literal_analysis() -> None:
    # Issue 19: the journal reader child parsed each regex once for its literals and
    # again for the alternation; one parse per (pattern, flags) now serves both.
    regex = re.compile(r"^Refused (?P<user>\w+) from (?P<host>\S+) tag-5f1c")
    assert required_literals(regex) is not None
    before = parsed_pattern.cache_info()
    alternation = combine([(0, regex)])
    after = parsed_pattern.cache_info()
    assert alternation is not None
    assert alternation.fusable
    assert (after.misses, after.hits) == (before.misses, before.hits + 1)


def test_file_hits_date_a_minute_seen_before_without_the_head_reader() -> None:
    """``_text_hits`` dates a failure in a minute seen before itself (``minute_cache``):
    the same times and date counts as ``HeadReader.time``, which is asked once a minute."""
    import time as clock

    from journalban.events import LineBatch

    def text(minutes: int) -> str:
        base = clock.mktime((2026, 12, 5, 10, 0, 0, 0, 0, -1))
        out = []
        for k in range(minutes * 30):
            stamp = clock.strftime("%b %e %H:%M:%S", clock.localtime(base + 2 * k))
            out.append(f"{stamp} host sshd[{k}]: Failed password for root from 192.0.2.{k % 250}")
            out.append(f"{stamp} host sshd[{k}]: Failed password for bob from 198.51.100.1 [x]")
        return "\n".join(out)

    matcher = LineMatcher(CompiledFilter(FilterLibrary(None).load("sshd"), "normal"), lambda: 1.8e9)
    asked: list[float | None] = []
    time_of = matcher.heads.time

    def counted(m: re.Match[str]) -> float | None:
        asked.append(found := time_of(m))
        return found

    matcher.heads.time = counted  # type: ignore[method-assign]
    batch = LineBatch("f", text(3).split("\n"), "", prefixed=True)
    hits = matcher.hits(batch)
    expected = LineMatcher(
        CompiledFilter(FilterLibrary(None).load("sshd"), "normal"), lambda: 1.8e9
    )
    lines = text(3).split("\n")
    slow = [expected.match_line(line) for line in lines]
    assert [h[2] for h in hits] == [o.time for o in slow if o.address is not None]
    assert len(hits) == 90  # (the second line of each pair is a near miss)
    assert len(asked) <= 4  # the first failure of each minute (and the general path's first)
    assert sum(matcher.dates.hits.values()) == sum(expected.dates.hits.values())


def test_file_hits_carry_no_text_for_an_accepted_login() -> None:
    """``hits`` of a file's text cuts no line for an accepted login, on the general path
    (a mask's first lines) and the fused one alike: the deciding reads only its address,
    user and time, and the file reader child's frames carry no text for it. A failure
    keeps its line; both keep what the line-by-line match finds."""
    from journalban.events import FAILURE, SUCCESS, LineBatch

    lines = []
    for k in range(90):
        stamp = f"Dec  5 10:{k // 30:02d}:{k % 30 * 2:02d} host sshd[{k}]:"
        lines.append(f"{stamp} Accepted publickey for alice from 192.0.2.{k} port 22 ssh2")
        lines.append(f"{stamp} Failed password for root from 198.51.100.{k} port 22 ssh2")
        lines.append(f"{stamp} Accepted password for bob from 2001:db8::{k + 1:x} port 22 ssh2")
    sshd = FilterLibrary(None).load("sshd")
    matcher = LineMatcher(CompiledFilter(sshd, "normal", successes=True), lambda: 1.8e9)
    hits = matcher.hits(LineBatch("f", lines, "", prefixed=True))
    assert [h[0] for h in hits] == ["" if "Accepted" in line else line for line in lines]
    assert [h[4] for h in hits] == [SUCCESS, FAILURE, SUCCESS] * 90
    each = LineMatcher(CompiledFilter(sshd, "normal", successes=True), lambda: 1.8e9)
    slow = [each.match_line(line) for line in lines]
    assert [h[1:4] for h in hits] == [(str(o.address), o.time, o.user) for o in slow]
