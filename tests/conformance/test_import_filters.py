"""Every filter of Debian's /etc/fail2ban/filter.d through import-fail2ban's converter,
against fail2ban-regex on fail2ban's own test logs (../shared/corpus, never copied).

The figures go to docs/migrating-from-fail2ban.md (``python -m support.f2bcompare``
from tests/ prints them).
"""

from __future__ import annotations

import functools

import pytest

from support.corpus import corpus_available
from support.f2bcompare import FAIL2BAN_ETC, Census, census
from support.real import missing_real, need_tool

pytestmark = pytest.mark.corpus


@functools.cache
def _census() -> Census:
    if not corpus_available():
        missing_real("../shared/corpus is absent")
    if not (FAIL2BAN_ETC / "filter.d").is_dir():
        missing_real("Debian's fail2ban package is not installed (/etc/fail2ban)")
    return census(need_tool("fail2ban-regex"))


def test_at_least_80_percent_of_debians_filters_convert() -> None:
    c = _census()
    assert len(c.filters) >= 80
    assert len(c.converted) >= 0.8 * len(c.filters), c.refused


def test_converted_filters_agree_with_fail2ban_on_most_test_lines() -> None:
    # The floor: 95 % of the lines (916 of 961 today, 95.3 %).
    # docs/migrating-from-fail2ban.md lists the filters below 95 % and why.
    c = _census()
    agree, lines = c.lines()
    assert lines > 500
    assert agree >= 0.95 * lines, f"{agree}/{lines}"
    assert len(c.agreeing) >= 0.64 * len(c.filters), sorted(set(c.agreements) - set(c.agreeing))


def test_where_both_match_they_name_the_same_address() -> None:
    c = _census()
    wrong = [f"{name}: {d}" for name, a in c.agreements.items() for d in a.other_address]
    assert not wrong, wrong[:10]
