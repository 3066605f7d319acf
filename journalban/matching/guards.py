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
where it tells at least half of them (the same hits either way). A line it tells is not read
by the general path either (which a line the settled head does not match takes, and
which may settle another date format): no failregex can match it, and the next line
that may match settles the format as before.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

from journalban.matching.literals import required_sets
from journalban.matching.needles import line_regex_after, needle_texts, one_of_lines
from journalban.matching.starts import message_starts

if TYPE_CHECKING:
    from journalban.matching.compiled import CompiledFilter

# The starts' common prefix must be at least this long for the search to be cheap.
MIN_PREFIX = 4
# Required strings searched with str.find: at most this many, each this long at least.
MAX_FINDS = 3
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
    found = re.compile(re.escape(common) + (f"(?:{rests})" if rests else ""))
    _STARTS[found.pattern] = (common, tuple(starts))
    return found


# start_guard's patterns and the strings they find (their common start, and each): the
# scan's C loop looks for those instead of running the regex (needles.one_of_lines).
_STARTS: dict[str, tuple[str, tuple[str, ...]]] = {}


def literal_guard(
    regexes: Sequence[re.Pattern[str]], literals: Sequence[str]
) -> tuple[str, ...] | None:
    """Strings one of which every line any of ``regexes`` matches holds, beyond the filter's
    ``literals`` (which the scan found already), for ``str.find``: per regex, the set of
    required strings (``literals.required_sets``) of ``MIN_FIND`` characters or more, none
    part of a literal, with the longest shortest string (sshd's reason 3 or 14 of a
    ``Received disconnect``: ``3: `` or ``14: ``). None where a regex has none, or they
    are more than ``MAX_FINDS`` (each costs a search of the line)."""
    found: set[str] = set()
    for regex in regexes:
        choices = [
            strings
            for strings in required_sets(regex)
            if min(map(len, strings)) >= MIN_FIND
            and not any(s in literal for s in strings for literal in literals)
        ]
        if not choices:
            return None
        found |= max(choices, key=lambda strings: (min(map(len, strings)), -len(strings)))
    if not found or len(found) > MAX_FINDS:
        return None
    return tuple(sorted(found, key=lambda s: (-len(s), s)))


def shared_guard(
    regexes: Sequence[re.Pattern[str]], literals: Sequence[str]
) -> tuple[str, ...] | None:
    """``literal_guard`` where it finds strings, else a set of required strings every one of
    ``regexes`` holds (the longest such), where each regex's own longest are too many
    together: sshd's ``nvalid user`` needle leaves ``Failed publickey for invalid user ``
    and ``[Ii](?:llegal|nvalid) user ``, both followed by `` from ``, which the near misses
    (``Connection closed by invalid user bob 10.0.0.1 port 22``) do not hold."""
    found = literal_guard(regexes, literals)
    if found is not None or len(regexes) < 2:
        return found
    # Not part of what the regexes hold of the literals themselves (the scan found those),
    # but it may be of another literal: `` from `` of ``Received disconnect from ``, a needle
    # the line does not hold (its bit would have left it more regexes).
    owned = [
        s
        for regex in regexes
        for strings in required_sets(regex)
        for s in strings
        if any(literal in s for literal in literals)
    ]
    common: set[frozenset[str]] | None = None
    for regex in regexes:
        usable = {
            strings
            for strings in required_sets(regex)
            if min(map(len, strings)) >= MIN_FIND
            and len(strings) <= MAX_FINDS
            and not any(s in held for s in strings for held in owned)
        }
        common = usable if common is None else common & usable
    if not common:
        return None
    best = max(common, key=lambda strings: (min(map(len, strings)), -len(strings), sorted(strings)))
    return tuple(sorted(best, key=lambda s: (-len(s), s)))


def strings_follow(
    regexes: Sequence[re.Pattern[str]],
    strings: Sequence[str],
    texts: Sequence[str],
    others: Sequence[Sequence[str]] = (),
) -> bool:
    """Whether every match of each of ``regexes`` holds one of ``strings`` after one of
    ``texts`` (a scan needle's literals): ``required_sets`` lists a regex's sets in the order
    of the parts of a match that hold them, so a set whose every string holds one of
    ``strings``, listed after a set whose every string holds a text, holds it after that
    text (sshd's ``Received disconnect from `` before its reason, ``3: `` or ``14: ``).
    False where that is not shown for one regex.

    ``others``: per regex, the literals of the scan's other needles whose line alone the
    regex is left for; a string of the set may hold one of them instead of a text (sshd's
    ``Illegal user `` beside ``Invalid user ``): a match through it holds that needle too,
    and its line keeps that needle's bit whatever becomes of this one's."""
    for k, regex in enumerate(regexes):
        sets = required_sets(regex)
        held = [*texts, *(others[k] if k < len(others) else ())]
        first = next(
            (
                j
                for j, found in enumerate(sets)
                if all(any(t in s for t in held) for s in found)
                and any(t in s for t in texts for s in found)
            ),
            None,
        )
        if first is None or not any(
            all(any(g in s for g in strings) for s in found) for found in sets[first + 1 :]
        ):
            return False
    return True


def finds(strings: Sequence[str]) -> Callable[[str, int, int], bool | None]:
    """A guard: whether ``text[start:end]`` holds one of ``strings`` (None: it holds none)."""

    def holds(text: str, start: int, end: int) -> bool | None:
        find = text.find
        for string in strings:
            if find(string, start, end) >= 0:
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
    strings = shared_guard(regexes, literals)
    return None if strings is None else finds(strings)


# A guard is tried on the first TRIAL lines of its needle mask, then kept where at least
# 1/KEEP_RATIO of them were misses it told. A miss told saves its fused match (about 5k
# machine instructions on sshd's near misses, the line's head most of it); a line it lets
# through pays both; a test of strings costs a closure and a str.find per string (about
# 1.5-2k with four): a guard telling fewer than half of the lines may not pay.
TRIAL = 64
KEEP_RATIO = 2


class Guards:
    """Per needle mask (a bit mask of the ``needles`` a line holds), the guard of the regexes
    such a line may match (``CompiledFilter.line_guard``), judged on its first lines."""

    def __init__(self, compiled: CompiledFilter) -> None:
        self._compiled = compiled
        self._decided: dict[int, Guard] = {}
        self._trials: dict[int, Guard] = {}
        self._lines: dict[int, re.Pattern[str] | tuple[str, ...] | None] = {}

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
            if mask & (mask - 1) == 0 and getattr(found, "__self__", None) is None:
                # A needle's lone mask guarded by strings: where its regexes hold them after
                # the needle, its lines are told by that (``line_regex_after``), in the trial
                # as in the scan (sshd's near misses ``Disconnected from invalid user bob
                # 10.0.0.1 port 22`` hold `` from `` before the needle alone).
                after = self._lines[mask] = self._lines_of(mask, None)
                if isinstance(after, re.Pattern):
                    found = after.search
            self._trials[mask] = self._trial(mask, found)
        return self._trials[mask]

    def lines_of(self, bit: int) -> re.Pattern[str] | tuple[str, ...] | None:
        """For the scan (``line_ends``' ``lines_of``), once the lone mask of needle ``bit``
        kept its guard: the kept search of starts, then the rest of the line (a regex whose
        matches hold the needle), or the kept strings (``literal_guard``: sshd's ``3: `` or
        ``14: `` of a ``Received disconnect``), one of which a line must hold as well: as
        the needle's line regex with them after it (``line_regex_after``) where each of its
        regexes holds them after its literals (``strings_follow``). A
        line holding the needle that fails the guard can match no regex the needle
        leaves: it need not carry the needle's bit (and keeps its other needles')."""
        mask = 1 << bit
        guard = self._decided.get(mask)
        if guard is None:
            return None
        if mask not in self._lines:
            self._lines[mask] = self._lines_of(mask, getattr(guard, "__self__", None))
        return self._lines[mask]

    def _lines_of(self, mask: int, owner: object) -> re.Pattern[str] | tuple[str, ...] | None:
        if isinstance(owner, re.Pattern):
            if "\n" in owner.pattern:
                return None
            kept = re.compile(f"(?:{owner.pattern})[^\n]*")
            starts = _STARTS.get(owner.pattern)
            if starts is not None:
                one_of_lines(kept, *starts)
            return kept
        compiled = self._compiled
        regexes = compiled.regexes_needing(mask)
        chosen = [r for k, (_, r) in enumerate(compiled.regexes) if regexes >> k & 1]
        strings = shared_guard(chosen, compiled.literals) if chosen else None
        if strings is None or any("\n" in s for s in strings):
            return None
        bit = mask.bit_length() - 1
        needle = compiled.scan[bit]
        follow = strings_follow(chosen, strings, needle_texts(needle), self.other_texts(bit))
        after = line_regex_after(needle, strings) if follow else None
        return strings if after is None else after

    def other_texts(self, bit: int) -> list[list[str]]:
        """Per regex the lone mask of needle ``bit`` leaves (in order), the texts of the
        other needles whose lone masks leave it too (``strings_follow``'s ``others``)."""
        compiled = self._compiled
        regexes = compiled.regexes_needing(1 << bit)
        return [
            [
                text
                for other, found in enumerate(compiled.scan)
                if other != bit and compiled.regexes_needing(1 << other) >> k & 1
                for text in needle_texts(found)
            ]
            for k in range(len(compiled.regexes))
            if regexes >> k & 1
        ]

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
