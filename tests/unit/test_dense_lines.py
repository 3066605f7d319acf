"""`journalban regex`'s two ways of counting a text give the same counts.

``counting.count_text`` scans for the filter's literals and matches the lines
found; ``denselines.count_lines`` (taken where most lines hold a literal, as in
sshd-flood) runs every line through the fused regex of all the filter's regexes.
Matched, ignored, hits per regex and date format hits must be the same for any
text: the benchmark corpora, and lines built to reach every branch (ident
refused, host names, invalid addresses, ignoreregex, a line of another date
format that sends the rest of the text through the general path, lines without
a date, undecodable bytes).
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parents[1] / "benchmarks"))

import corpora
from test_engine_and_regex_cli import FAIL, MIXED_AUTH_LOG

from journalban.matching import denselines
from journalban.matching.counting import count_text
from journalban.matching.denselines import Density
from journalban.matching.engine import CompiledFilter, LineMatcher
from journalban.matching.filterdef import FilterDef, load_filter_file
from journalban.matching.library import FilterLibrary

NOW = 1_795_000_000.0  # 2026-11-18: the corpora's "Nov 21" is this year's
CRAFTED = [
    *MIXED_AUTH_LOG,
    FAIL.replace("203.0.113.5", "999.1.1.1"),
    FAIL.replace("203.0.113.5", "evil.example.com"),
    FAIL.replace("203.0.113.5", "127.0.0.1"),
    FAIL.replace("root", "bob"),
    "Failed password for root from 192.0.2.7 port 22 ssh2",
    FAIL.replace("Nov 21", "Nov 99"),
    "<38>" + FAIL,
    FAIL.replace("10:00:01", "10:00:01.250"),
    "Nov 21 10:00:09 web1 sshd[5]: Received disconnect from 192.0.2.10 port 4411:3: bye [preauth]",
    "Nov 21 10:00:09 web1 sshd[5]: Received disconnect from 192.0.2.10 port 4411:11: Bye Bye [preauth]",
    "Nov 21 10:00:11 h sshd[1]: Connection closed by authenticating user r 192.0.2.9 port 4 [preauth]",
    "Nov 21 10:00:12 h sshd[1]: Connection closed by 198.51.100.19 port 4949 [preauth]",
    "\ufffd Failed \ufffd",
    "",
]
# A line of another date format: the general path settles it, and the rest of the
# text is read with a new fused regex (or none).
OTHER_FORMAT = "2026-11-21T10:00:09+01:00 web1 sshd[5]: Invalid user x from 192.0.2.8 port 1"
IGNORING_FILTER = """\
idents: [sshd]
failregex: ['^Failed password for (?:invalid user )?<USER> from <HOST> port \\d+ ssh2$']
ignoreregex: ['for root from']
"""


class _Dense(Density):
    """Every text through denselines (the share is not measured)."""

    def dense(self) -> bool:
        return True


def _counts(fdef: FilterDef, mode: str | None, texts: list[str], dense: bool) -> tuple[object, ...]:
    matcher = LineMatcher(CompiledFilter(fdef, mode), lambda: NOW)
    hits: dict[int, int] = {}
    matched = ignored = 0
    density = _Dense() if dense else None
    for text in texts:
        m, i = count_text(matcher, text, hits, density)
        matched += m
        ignored += i
    return matched, ignored, hits, dict(matcher.dates.hits)


def _both(fdef: FilterDef, mode: str | None, texts: list[str]) -> tuple[object, ...]:
    scanned = _counts(fdef, mode, texts, dense=False)
    assert _counts(fdef, mode, texts, dense=True) == scanned
    return scanned


@pytest.fixture
def ran_dense(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """How many texts denselines counted (it may give a text back to the scan)."""
    calls: list[int] = []
    real = denselines.count_lines

    def spy(*args: object, **kwargs: object) -> tuple[int, int] | None:
        out = real(*args, **kwargs)  # type: ignore[arg-type]
        calls.append(out is not None)
        return out

    monkeypatch.setattr("journalban.matching.counting.count_lines", spy)
    return calls


@pytest.mark.parametrize("name", sorted(corpora.CORPORA))
def test_every_corpus_counts_the_same_both_ways(name: str, ran_dense: list[int]) -> None:
    spec = corpora.CORPORA[name]
    lines = [line for line, _ in corpora.flagged_lines(name, 6000)]
    texts = ["\n".join(lines[k : k + 700]) for k in range(0, len(lines), 700)]
    matched, *_ = _both(FilterLibrary(None).load(spec.filter), None, texts)
    assert matched == sum(failed for _, failed in corpora.flagged_lines(name, 6000))
    assert any(ran_dense)


@pytest.mark.parametrize("mode", [None, "aggressive", "ddos"])
def test_crafted_lines_count_the_same_both_ways(mode: str | None, ran_dense: list[int]) -> None:
    texts = ["\n".join(CRAFTED * 3), "\n".join([*CRAFTED, OTHER_FORMAT, *CRAFTED]), FAIL]
    matched, *_ = _both(FilterLibrary(None).load("sshd"), mode, texts)
    assert matched
    assert any(ran_dense)


def test_a_filter_with_ignoreregex_counts_the_same_both_ways(
    tmp_path: Path, ran_dense: list[int]
) -> None:
    (tmp_path / "f.yaml").write_text(IGNORING_FILTER)
    fdef = load_filter_file(tmp_path / "f.yaml")
    _, ignored, *_ = _both(fdef, None, ["\n".join(CRAFTED * 2), "\n".join(CRAFTED)])
    assert ignored
    assert any(ran_dense)


def test_a_text_starting_in_another_date_format_counts_the_same_both_ways() -> None:
    texts = ["\n".join([OTHER_FORMAT, *CRAFTED]), "\n".join(CRAFTED)]
    _both(FilterLibrary(None).load("sshd"), None, texts)


def test_the_share_decides_and_is_measured_again() -> None:
    density = Density()
    density.lines = 10
    density.measured(6)
    taken = [density.dense() for _ in range(2 * denselines.MEASURE_EVERY)]
    assert taken.count(False) == 2  # every MEASURE_EVERY-th text is scanned (and measured)
    density.measured(4)
    assert not density.dense()
