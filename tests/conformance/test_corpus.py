"""Our filters against fail2ban's sample corpus (skipped when ../shared is absent)."""

from __future__ import annotations

import pytest

from journalban.matching.library import FilterLibrary
from support.corpus import ALIASES, CORPUS, NO_CORPUS, FileScore, corpus_available, score

pytestmark = [
    pytest.mark.corpus,
    pytest.mark.skipif(not corpus_available(), reason="../shared/corpus is absent"),
]
LIBRARY = FilterLibrary(override_dir=None)
SCORED = [n for n in LIBRARY.names() if n not in NO_CORPUS and (CORPUS / n).exists()]


def _score(name: str) -> FileScore:
    return score(LIBRARY.load(name), ALIASES.get(name, [name]))


@pytest.mark.parametrize("name", SCORED)
def test_no_false_match_in_normal_mode(name: str) -> None:
    result = _score(name)
    assert not result.false_matches, "\n".join(result.false_matches)


@pytest.mark.parametrize("name", SCORED)
def test_times_right_to_the_second(name: str) -> None:
    result = _score(name)
    assert not result.wrong_times, "\n".join(result.wrong_times)


def test_at_least_90_percent_found_in_every_file_with_10_scored_lines() -> None:
    results = [_score(n) for n in SCORED]
    weak = [
        f"{r.name}: {r.found}/{r.scored}" for r in results if r.scored >= 10 and r.percent < 90.0
    ]
    assert sum(r.scored >= 10 for r in results) >= 10
    assert not weak, weak


def test_at_least_97_percent_found_over_all_files() -> None:
    results = [_score(n) for n in SCORED]
    scored = sum(r.scored for r in results)
    found = sum(r.found for r in results)
    assert scored > 0
    assert 100.0 * found / scored >= 97.0, f"{found}/{scored}"
