"""No possessive repeat in what the agent compiles; a user's is refused where it misbehaves.

Python 3.11.0-3.11.4 (Debian 12 runs 3.11.2) match a possessive repeat of a subpattern
that can backtrack wrongly (CPython gh-106052). The shipped filters write the atomic
group of the greedy repeat, ``(?>x*)``, which is what ``x*+`` means; a regex a user
writes (a filter of their own, one imported from fail2ban, ``journalban regex``) is
refused with its file and line on those interpreters.
"""

from __future__ import annotations

import re
from re import _parser as sre_parse  # type: ignore[attr-defined]

import pytest

from journalban.errors import FilterError
from journalban.matching import heads, possessive
from journalban.matching.aliases import ALIASES
from journalban.matching.dates import FORMATS
from journalban.matching.engine import CompiledFilter
from journalban.matching.filterdef import FilterDef, load_filter_text
from journalban.matching.library import FilterLibrary
from journalban.migrate.datepat import date_regex
from journalban.migrate.regexconv import Refused, convert_regex

LIBRARY = FilterLibrary(override_dir=None)


def _possessive(pattern: str, flags: int = 0) -> bool:
    # Parse every pattern: holds_possessive's quick textual test is not what is tested.
    return possessive.tree_holds_possessive(sre_parse.parse(pattern, flags))


def _regexes(fdef: FilterDef) -> list[re.Pattern[str]]:
    found = [r.regex for r in (*fdef.failregex, *fdef.successregex)] + list(fdef.ignoreregex)
    if fdef.sessions is not None:
        s = fdef.sessions
        found += [*s.teach, *s.count, *s.end, *s.success]
    return found


@pytest.mark.parametrize("name", LIBRARY.names() + sorted(ALIASES))
def test_no_shipped_filter_holds_a_possessive_repeat_in_any_mode(name: str) -> None:
    fdef = LIBRARY.load(name)
    for regex in _regexes(fdef):
        assert not _possessive(regex.pattern, regex.flags), (name, regex.pattern)
    for mode in fdef.modes:
        compiled = CompiledFilter(fdef, mode, successes=True)
        alternation = compiled._alternation
        # The alternation is what every fused regex (a head, then it) is made of.
        if alternation is not None:
            assert not _possessive(alternation.pattern), (name, mode)
        if compiled.prefilter is not None:
            assert not _possessive(compiled.prefilter.pattern)


def test_no_head_holds_a_possessive_repeat() -> None:
    compiled = [heads._compile_head(fmt) for fmt in FORMATS]
    assert any(head is not None for head in compiled)
    for head in compiled:
        if head is not None:
            assert not _possessive(head.pattern), head.pattern


def test_a_possessive_repeat_is_found_at_any_depth() -> None:
    for pattern in (
        r"a\s*+b",
        r"(?>x(?:y|z{1,3}+))",
        r"(?=(?:ab?c)++)",
        r"(?P<g>a)?(?(g)b?+|c)",
        r"[a]{2}+",
    ):
        assert possessive.holds_possessive(pattern), pattern
    for pattern in (r"a\++b", r"a[*+]b", r"(?>(?:ab?c)*)", r"a{2}b+", r"x\?+"):
        assert not possessive.holds_possessive(pattern), pattern


def test_the_atomic_form_matches_what_the_possessive_repeat_means() -> None:
    # gh-106052's own case: a possessive repeat of ab?c cannot match "a".
    assert re.fullmatch(r"(?>(?:ab?c)*)", "a") is None
    assert re.fullmatch(r"(?>(?:ab?c)*)", "acabc") is not None


FILTER = """\
description: a user's filter
failregex:
  - 'auth failure from <HOST>(?: \\w+=\\S*)*+$'
"""


def test_a_users_possessive_repeat_is_refused_with_its_file_and_line(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(possessive, "POSSESSIVE_SAFE", False)
    with pytest.raises(FilterError) as caught:
        load_filter_text(FILTER, "mine", "/etc/journalban/filters.d/mine.yaml")
    assert caught.value.file == "/etc/journalban/filters.d/mine.yaml"
    assert caught.value.line == 3
    assert "possessive repeat" in caught.value.message
    assert "(?>X*)" in caught.value.message
    ignored = FILTER.replace("failregex:\n  - 'auth failure from <HOST>", "failregex:\n  - '<HOST>")
    ignored += "ignoreregex:\n  - 'x\\s++y'\n"
    with pytest.raises(FilterError) as caught:
        load_filter_text(ignored.replace("*+$", "*$"), "mine", "mine.yaml")
    assert caught.value.line == 5


def test_the_atomic_form_is_accepted_where_the_possessive_one_is_refused(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(possessive, "POSSESSIVE_SAFE", False)
    fdef = load_filter_text(FILTER.replace("(?: \\w+=\\S*)*+$", "(?>(?: \\w+=\\S*)*)$"), "m", "m")
    regex = fdef.failregex[0].regex
    assert regex.match("auth failure from 203.0.113.5 a=1 b=") is not None
    assert regex.match("auth failure from 203.0.113.5 a=1 b") is None


def test_a_possessive_repeat_loads_on_a_python_that_matches_it_rightly(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(possessive, "POSSESSIVE_SAFE", True)
    fdef = load_filter_text(FILTER, "mine", "mine.yaml")
    assert fdef.failregex[0].regex.match("auth failure from 203.0.113.5 a=1") is not None


def test_a_fail2ban_regex_with_a_possessive_repeat_is_not_imported(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(possessive, "POSSESSIVE_SAFE", False)
    with pytest.raises(Refused, match="possessive repeat"):
        convert_regex(r"^auth failure from <HOST>(?: \w+=\S*)*+$")
    monkeypatch.setattr(possessive, "POSSESSIVE_SAFE", True)
    assert "*+" in convert_regex(r"^auth failure from <HOST>(?: \w+=\S*)*+$")


def test_a_fail2ban_datepattern_with_a_possessive_repeat_is_not_carried_over(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # The date regex is put in front of every converted failregex after they were checked.
    pattern = r"^<W>\s*+%Y-%m-%d"
    monkeypatch.setattr(possessive, "POSSESSIVE_SAFE", False)
    assert date_regex(pattern) is None
    assert date_regex(r"^<W>(?>\s*)%Y-%m-%d") is not None
    monkeypatch.setattr(possessive, "POSSESSIVE_SAFE", True)
    assert date_regex(pattern) is not None
