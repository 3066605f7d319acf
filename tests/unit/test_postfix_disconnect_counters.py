"""postfix's regex 7 (a session that failed to authenticate and left): only counters follow.

Its counters' repeat was possessive, ``(?: \\w+=\\d+(?:/\\d+)?)*+$``. Python 3.11.2's
engine (Debian 12's, which the agent runs on) matched it on a line ending in `` x=``
before a final newline, which no counter is (3.11.7 does not). The repeat is greedy
now: the same matches on a correct engine, and these lines match on none.
"""

from __future__ import annotations

import random
import re

import pytest

from journalban.matching.library import FilterLibrary

HEAD = "disconnect from unknown[203.0.113.16]"


def _regex_7() -> re.Pattern[str]:
    regex = FilterLibrary(override_dir=None).load("postfix").failregex[7].regex
    assert "auth=0/" in regex.pattern
    return regex


def test_the_counters_repeat_is_not_possessive() -> None:
    assert ")*+" not in _regex_7().pattern


@pytest.mark.parametrize(
    "tail",
    [" auth=0/1 x=\n", " commands=3/41 auth=0/1 x=\n", " auth=0/10 x1=\n", " auth=0/1 x=1/\n"],
)
def test_a_tail_that_is_no_counter_is_no_match(tail: str) -> None:
    assert _regex_7().match(HEAD + tail) is None


def test_counters_match_as_a_small_parser_reads_them() -> None:
    counter = re.compile(r"\w+=\d+(?:/\d+)?\Z")
    pieces = [" auth=0/1", " auth=1", " ehlo=1", " commands=3/4", "=", "/", "0", " x", "\n", "x"]
    rng = random.Random(7)
    regex = _regex_7()
    matched = 0
    for _ in range(20_000):
        tail = "".join(rng.choice(pieces) for _ in range(rng.randint(0, 7)))
        body = tail[:-1] if tail.endswith("\n") else tail  # "$" also matches before it
        words = body.split(" ")
        want = (
            (body == "" or body.startswith(" "))
            and all(counter.match(word) for word in words[1:])
            and any(re.match(r"auth=0/[1-9]", word) for word in words[1:])
        )
        found = regex.match(HEAD + tail) is not None
        assert found == want, repr(tail)
        matched += found
    assert matched > 100
