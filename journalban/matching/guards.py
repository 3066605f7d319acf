"""A candidate file line's first test: it holds a start of a regex it may match.

A file line the literal scan finds is matched by a fused regex (``alternation.fuse``):
the line's head (date, host, ident: most of the cost of a miss) and then the regexes
its literals leave (``CompiledFilter.regexes_needing``). Every one of those is tried
with ``match`` at the message's start, so a line one of them matches holds one of
that regex's starts (``matching.starts``) somewhere. On sshd's near-miss lines
(``Failed publickey for bob``: the literal ``Failed `` but no start of a regex that
needs it, ``Failed password``, ``Failed publickey for invalid user ``...) a search for
those starts fails at a fraction of the head's cost, and the line is a miss without
its fused match.

Only where the starts share a literal prefix (sshd's ``Failed ``): the search then
skips to that prefix in C (sre's literal prefix search) and tries the rest of the
starts only there; a search of starts beginning with different characters tests
every character of the line and costs as much as the match it would save.

A necessary condition only: a line it finds may still match nothing. Where it tells
few misses (sshd's ``Accepted `` lines, nearly all logins) the search is a cost on
every line; ``Guards`` tries each mask's guard on its first lines and keeps it only
where it tells enough misses (the same hits either way). A line it tells is not read
by the general path either (which a line the settled head does not match takes, and
which may settle another date format): no failregex can match it, and the next line
that may match settles the format as before.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Sequence
from itertools import pairwise
from typing import TYPE_CHECKING

from journalban.matching.literals import required_sets
from journalban.matching.starts import message_starts

if TYPE_CHECKING:
    from journalban.matching.compiled import CompiledFilter

# The starts' common prefix must be at least this long for the search to be cheap.
MIN_PREFIX = 4
# Required strings searched with str.find: at most this many, each this long at least,
# and at most MAX_PAIR in the two sets of a regex's ordered pair.
MAX_FINDS = 6
MAX_PAIR = 3
MIN_FIND = 3
# A test every line a fused regex's regexes may match passes (None: it passed none)
Guard = Callable[[str, int, int], object] | None


def start_guard(regexes: Sequence[re.Pattern[str]]) -> re.Pattern[str] | None:
    """A regex whose ``search`` finds a line any of ``regexes`` may match (by ``match`` at
    the start of a message that is part of the line); None where there is no cheap one:
    a regex that may start otherwise, starts without a common prefix of ``MIN_PREFIX``
    characters."""
    starts = message_starts(regexes)
    if not starts:
        return None
    first, last = min(starts), max(starts)  # the others share what these two share
    size = 0
    while size < len(first) and first[size] == last[size]:
        size += 1
    common = first[:size]
    if len(common) < MIN_PREFIX:
        return None
    # None of the starts begins with another (message_starts): each rest is empty only
    # where the start is alone.
    rests = "|".join(sorted(re.escape(start[len(common) :]) for start in starts))
    return re.compile(re.escape(common) + (f"(?:{rests})" if rests else ""))


# A regex's test by str.find: one of ``first``, or (``then`` not empty) one of ``first`` and
# after it one of ``then``.
Test = tuple[tuple[str, ...], tuple[str, ...]]


def literal_guard(
    regexes: Sequence[re.Pattern[str]], literals: Sequence[str]
) -> tuple[Test, ...] | None:
    """What every line one of ``regexes`` matches holds beyond the filter's ``literals``
    (which the scan found already), as tests for ``str.find``. Per regex, of its required
    strings (``literals.required_sets``: sets of which each match holds one string, in
    the order they occur) of ``MIN_FIND`` characters or more: the set none of whose
    strings is part of a literal, with the longest shortest string (sshd's reason 3 or 14
    of a ``Received disconnect``: ``3: `` or ``14: ``); else two sets in a row, the
    second's string found after the first's (sshd's ``[Ii]nvalid user <USER> from``:
    ``nvalid user `` then `` from ``, which ``Disconnected from invalid user x`` does not
    hold). None where a regex has neither, or they are more than ``MAX_FINDS`` strings
    (each costs a search of the line)."""
    singles: set[str] = set()
    pairs: set[Test] = set()
    for regex in regexes:
        sets = [strings for strings in required_sets(regex) if min(map(len, strings)) >= MIN_FIND]
        choices = [
            strings
            for strings in sets
            if not any(s in literal for s in strings for literal in literals)
        ]
        if choices:
            singles |= max(choices, key=lambda strings: (min(map(len, strings)), -len(strings)))
            continue
        pair = next(((a, b) for a, b in pairwise(sets) if len(a) + len(b) <= MAX_PAIR), None)
        if pair is None:
            return None
        pairs.add((_ordered(pair[0]), _ordered(pair[1])))
    tests = ([(_ordered(singles), ())] if singles else []) + sorted(pairs)
    if not tests or sum(len(a) + len(b) for a, b in tests) > MAX_FINDS:
        return None
    return tuple(tests)


def _ordered(strings: Iterable[str]) -> tuple[str, ...]:
    return tuple(sorted(strings, key=lambda s: (-len(s), s)))


def finds(tests: Sequence[Test]) -> Callable[[str, int, int], bool | None]:
    """A guard: whether ``text[start:end]`` passes one of ``tests`` (None: it passes none).
    A pair's second string is looked for after the earliest end of one of its first: a
    match holding them in that order holds the second after that end too."""

    def holds(text: str, start: int, end: int) -> bool | None:
        find = text.find
        for first, then in tests:
            if not then:
                for string in first:
                    if find(string, start, end) >= 0:
                        return True
                continue
            after = end + 1
            for string in first:
                at = find(string, start, end)
                if at >= 0 and at + len(string) < after:
                    after = at + len(string)
            if after <= end:
                for string in then:
                    if find(string, after, end) >= 0:
                        return True
        return None

    return holds


def line_guard(regexes: Sequence[re.Pattern[str]], literals: Sequence[str]) -> Guard:
    """The cheapest test found that every line one of ``regexes`` may match passes: the
    search of their starts (``start_guard``), else of their required strings
    (``literal_guard``); None: none."""
    search = start_guard(regexes)
    if search is not None:
        return search.search
    tests = literal_guard(regexes, literals)
    return None if tests is None else finds(tests)


# A guard is tried on the first TRIAL lines of its needle mask, then kept where at least
# 1/KEEP_RATIO of them were misses it told: such a miss saves the fused match, about four
# times the search's cost, and a line it lets through pays both.
TRIAL = 64
KEEP_RATIO = 4


class Guards:
    """Per needle mask (a bit mask of the ``needles`` a line holds), the guard of the regexes
    such a line may match (``CompiledFilter.line_guard``), judged on its first lines."""

    def __init__(self, compiled: CompiledFilter) -> None:
        self._compiled = compiled
        self._decided: dict[int, Guard] = {}
        self._trials: dict[int, Guard] = {}

    def for_mask(self, mask: int) -> Guard:
        """The mask's guard: on trial (the search, counting what it tells) until decided."""
        if mask in self._decided:
            return self._decided[mask]
        if mask not in self._trials:
            compiled = self._compiled
            found = compiled.line_guard(compiled.regexes_needing(mask))
            if found is None:
                self._decided[mask] = None
                return None
            self._trials[mask] = self._trial(mask, found)
        return self._trials[mask]

    def _trial(self, mask: int, search: Callable[[str, int, int], object]) -> Guard:
        counts = [0, 0]  # lines tested, misses told
        decided = self._decided

        def trial(text: str, start: int, end: int) -> object:
            found = search(text, start, end)
            counts[0] += 1
            if found is None:
                counts[1] += 1
            if counts[0] >= TRIAL:
                decided[mask] = search if counts[1] * KEEP_RATIO >= counts[0] else None
            return found

        return trial
