"""How a message must start for ``regex.match`` to match it: the reader child's first test.

``leading_literals`` stops at the first item that is not a small finite set
of strings; here an item whose strings are only partly known still tells how
they start (``(?:password|keyboard-interactive(?:/\\w+)?)``: ``password`` or
``keyboard-interactive``), and an optional group or a small class of
characters (``(?:error: )?``, ``[Ii]``) is a finite set. For sshd's failure and
success regexes that gives 40 starts (``Failed password``, ``error: PAM:
Authentication failure for ``...), so a message starting with none of them
cannot match any of them: 92% of the near-miss corpus's ``Failed publickey
for bob`` lines, which hold the prefilter's ``Failed `` but match nothing,
are told by their start.

Only a necessary condition: a message starting with one may still not match.
``start_classes`` also tells which regexes a message starting so may match: the
alternation of those alone finds the same match, without trying the others
(a 'Failed password' line is not tried against the 'Accepted' and 'PAM: '
regexes; sshd: 14 classes, about a third of the matching's instructions).
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable, Sequence
from re import _constants as sre  # type: ignore[attr-defined]
from typing import Any

from journalban.matching.literals import parsed_pattern

# More starts than this for one regex: the shorter ones already found serve.
MAX_STARTS = 32
_ZERO_WIDTH = (sre.AT, sre.ASSERT, sre.ASSERT_NOT)
_REPEATS = (sre.MAX_REPEAT, sre.MIN_REPEAT, sre.POSSESSIVE_REPEAT)
# (strings one of which every match starts with, whether each match is one of them whole)
_Head = tuple[frozenset[str], bool]
_UNKNOWN: _Head = (frozenset({""}), False)


def message_starts(regexes: Iterable[re.Pattern[str]]) -> tuple[str, ...] | None:
    """Strings one of which every string a ``regex.match`` of one of ``regexes`` matches
    starts with (none of them starting with another); None when a regex may start
    with anything (or matches case-insensitively)."""
    found: set[str] = set()
    for regex in regexes:
        starts = _starts_for(regex.pattern, regex.flags)
        if starts is None:
            return None
        found |= starts
    # A message starting with a longer one starts with the shorter too.
    return tuple(sorted(s for s in found if not any(o != s and s.startswith(o) for o in found)))


def start_classes(regexes: Sequence[re.Pattern[str]]) -> list[tuple[tuple[str, ...], int]] | None:
    """``message_starts`` grouped by the regexes (a bit mask by position) a message starting
    with each may match: a regex none of whose own starts is a prefix of the message's or
    has it as a prefix cannot match it. None where ``message_starts`` is."""
    found = message_starts(regexes)
    if found is None:
        return None
    own = [_starts_for(regex.pattern, regex.flags) or frozenset() for regex in regexes]
    classes: dict[int, list[str]] = {}
    for start in found:
        mask = sum(
            1 << k
            for k, starts in enumerate(own)
            if any(s.startswith(start) or start.startswith(s) for s in starts)
        )
        classes.setdefault(mask, []).append(start)
    return [(tuple(starts), mask) for mask, starts in classes.items()]


@functools.lru_cache(maxsize=256)
def _starts_for(pattern: str, flags: int) -> frozenset[str] | None:
    parsed = parsed_pattern(pattern, flags)
    if parsed is None:
        return None
    if (flags | parsed.state.flags) & re.IGNORECASE:
        return None
    starts, _ = _head(list(parsed))
    return None if "" in starts else starts


def _head(items: Sequence[tuple[Any, Any]]) -> _Head:
    """The starts of a sequence of items: each item's strings appended while they are
    whole, then the starts of the first that is not."""
    found = frozenset({""})
    for op, av in items:
        part, whole = _head_item(op, av)
        longer = frozenset(a + b for a in found for b in part)
        if len(longer) > MAX_STARTS:
            return found, False
        found = longer
        if not whole:
            return found, False
    return found, True


def _head_item(op: Any, av: Any) -> _Head:
    if op is sre.LITERAL:
        return frozenset({chr(av)}), True
    if op in _ZERO_WIDTH:
        return frozenset({""}), True
    if op is sre.SUBPATTERN:
        _, add_flags, del_flags, inner = av
        return _UNKNOWN if add_flags or del_flags else _head(inner)
    if op is sre.ATOMIC_GROUP:
        return _head(av)
    if op is sre.BRANCH:
        heads = [_head(branch) for branch in av[1]]
        union = frozenset().union(*(h for h, _ in heads))
        if len(union) > MAX_STARTS:
            return _UNKNOWN
        return union, all(whole for _, whole in heads)
    if op is sre.IN:
        if all(kind is sre.LITERAL for kind, _ in av) and len(av) <= MAX_STARTS:
            return frozenset(chr(code) for _, code in av), True
        return _UNKNOWN
    if op in _REPEATS:
        low, high, inner = av
        starts, whole = _head(inner)
        if high == 1:  # X? or X{1}: X or (for X?) nothing
            return (starts | {""} if low == 0 else starts), whole
        if low >= 1:  # X{2,}...: starts as X does
            return starts, False
    return _UNKNOWN
