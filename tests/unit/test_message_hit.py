"""LineMatcher.message_hit (the journal reader's one message at a time, while it stands on
the entry) finds what ``hits`` finds in a batch of the same bare messages, in the same order,
on every packaged filter and mode, with and without success regexes."""

from __future__ import annotations

import random
import re
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parents[1] / "benchmarks"))

import corpora

from journalban.events import Hit, LineBatch
from journalban.matching.engine import CompiledFilter, LineMatcher
from journalban.matching.library import FilterLibrary

SYSLOG = re.compile(r"^[A-Z][a-z]{2} [ \d]\d \d\d:\d\d:\d\d \S+ [^\s\[:]+(?:\[\d+\])?: (.+)$")


def _messages() -> list[str]:
    """Bare messages of every corpus, the filters' samples, and altered copies of them."""
    out: list[str] = []
    for name in corpora.CORPORA:
        for line, _ in corpora.flagged_lines(name, 1500):
            m = SYSLOG.match(line)
            out.append(m.group(1) if m else line)
    library = FilterLibrary(None)
    for name in library.names():
        for s in library.load(name).samples:
            m = SYSLOG.match(s.line)
            out.append(m.group(1) if m else s.line)
    rng = random.Random(19)
    for message in rng.sample(out, 400):
        at = rng.randrange(len(message) + 1)
        out += [message[:at], message[at:], message[:at] + "x" + message[at:], message + " \n"]
    return out


MESSAGES = _messages()


def _cases() -> list[tuple[str, str]]:
    library = FilterLibrary(None)
    return [(name, mode) for name in library.names() for mode in library.load(name).modes]


@pytest.mark.parametrize(("name", "mode"), _cases())
def test_one_message_at_a_time_finds_what_the_batch_finds(name: str, mode: str) -> None:
    fdef = FilterLibrary(None).load(name)
    for successes in (False, True):
        matcher = LineMatcher(CompiledFilter(fdef, mode, successes=successes), lambda: 0.0)
        times = [1_790_000_000.0 + i for i in range(len(MESSAGES))]
        batch = LineBatch("", MESSAGES, "", times, prefixed=False, read=len(MESSAGES))
        expected = matcher.hits(batch)
        try:
            match, hit_of = matcher.message_hit()
        except LookupError:
            assert (
                matcher.filter.trusted
                or not matcher.filter.literals
                or (matcher.filter._whole is None)
            )
            continue
        found: list[Hit] = []
        for message, when in zip(MESSAGES, times, strict=True):
            m = match(message)
            if m is not None and (hit := hit_of(m, message)) is not None:
                found.append((message, hit[0], when, hit[1], hit[2]))
        assert found == expected, (name, mode, successes)
