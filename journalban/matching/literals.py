"""Literal strings a regex cannot match without: the prefilter, derived per mode.

For each failregex we find sets of strings such that every match contains
one string of the set (``Failed ``; ``llegal user `` or ``nvalid user ``). A
mode's prefilter is the union of one such set per regex of the mode, so a
line holding none of them cannot match in that mode: scanning a batch for a
few literals at C speed then skips most lines.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable, Sequence
from re import _constants as sre  # type: ignore[attr-defined]
from re import _parser as sre_parse  # type: ignore[attr-defined]
from typing import Any

from journalban.matching.memfind import _probe
from journalban.matching.needles import Needle, line_ends, needle_index, needles_for, scan_needle

# Read by test_scan_lines; the scan's names, where the rest of the package found them.
__all__ = ["Needle", "_probe", "line_ends", "needle_index", "needles_for", "scan_needle"]

# Products of alternatives grow fast; past this a set is not worth scanning for.
MAX_SET = 32
_ZERO_WIDTH = (sre.AT, sre.ASSERT, sre.ASSERT_NOT)


def _finite(items: Iterable[Any]) -> set[str] | None:
    """Every string ``items`` can match, when that is a small set of literals."""
    out = {""}
    for op, av in items:
        part = _finite_item(op, av)
        if part is None:
            return None
        out = {a + b for a in out for b in part}
        if len(out) > MAX_SET:
            return None
    return out


def _finite_item(op: Any, av: Any) -> set[str] | None:
    if op is sre.LITERAL:
        return {chr(av)}
    if op is sre.SUBPATTERN:
        _, add_flags, del_flags, inner = av
        return None if add_flags or del_flags else _finite(inner)
    if op is sre.ATOMIC_GROUP:
        return _finite(av)
    if op is sre.BRANCH:
        out: set[str] = set()
        for branch in av[1]:
            part = _finite(branch)
            if part is None:
                return None
            out |= part
        return out if len(out) <= MAX_SET else None
    if op in _ZERO_WIDTH:
        return {""}
    return None


def _required(items: Sequence[Any]) -> list[set[str]]:
    """Sets of strings of which every match of ``items`` contains one."""
    found: list[set[str]] = []
    run = {""}
    for op, av in items:
        part = _finite_item(op, av)
        if part is not None and len(run) * len(part) <= MAX_SET:
            run = {a + b for a in run for b in part}
            continue
        found.append(run)
        run = {""} if part is None else part
        if part is not None:
            continue
        # A part that must match (not optional) still holds required strings.
        if op is sre.SUBPATTERN and not av[1] and not av[2]:
            found.extend(_required(av[3]))
        elif op is sre.ATOMIC_GROUP:
            found.extend(_required(av))
        elif op in (sre.MAX_REPEAT, sre.MIN_REPEAT, sre.POSSESSIVE_REPEAT) and av[0] >= 1:
            found.extend(_required(av[2]))
        elif op is sre.BRANCH:
            choices = [best_set(_required(branch), ()) for branch in av[1]]
            if all(choices):
                union = set().union(*(c for c in choices if c))
                if len(union) <= MAX_SET:
                    found.append(union)
    found.append(run)
    return [s for s in found if s and "" not in s]


def best_set(candidates: list[set[str]], hints: Sequence[str]) -> set[str] | None:
    """The candidate most likely to be rare: one the filter's own prefilter names, then longest."""

    def score(strings: set[str]) -> tuple[bool, int, int]:
        hinted = all(any(h in s for h in hints) for s in strings)
        return hinted, min(map(len, strings)), -len(strings)

    return max(candidates, key=score) if candidates else None


def required_literals(regex: re.Pattern[str], hints: Sequence[str] = ()) -> set[str] | None:
    """Strings of which every match of ``regex`` contains one, or None when unknown."""
    found = _required_for(regex.pattern, regex.flags, tuple(hints))
    return None if found is None else set(found)


@functools.lru_cache(maxsize=512)
def parsed_pattern(pattern: str, flags: int) -> Any:
    """sre's parse of ``pattern`` (None: it does not parse), shared by the analyses of a
    filter's regexes here and in ``matching.starts``: the parse is most of their cost.
    Read only."""
    try:
        return sre_parse.parse(pattern, flags)
    except (re.error, RecursionError):
        return None


def forget_parses() -> None:
    """Drop the parse trees ``parsed_pattern`` keeps, once a process has built its
    matchers and sources: they serve nothing after (0.3 MB of the agent's memory with
    sshd's filter, issue 19). A later analysis parses again."""
    parsed_pattern.cache_clear()


@functools.lru_cache(maxsize=1024)
def _required_for(pattern: str, flags: int, hints: tuple[str, ...]) -> frozenset[str] | None:
    # Cached: a filter's prefilter and its per-regex covers parse the same regexes.
    found = best_set([set(s) for s in _required_sets_for(pattern, flags)], hints)
    return None if found is None else frozenset(found)


def required_sets(regex: re.Pattern[str]) -> tuple[frozenset[str], ...]:
    """Every set of strings ``_required`` finds: each match of ``regex`` holds one string
    of each set (none where it is unknown, or the regex is case-insensitive)."""
    return _required_sets_for(regex.pattern, regex.flags)


@functools.lru_cache(maxsize=512)
def _required_sets_for(pattern: str, flags: int) -> tuple[frozenset[str], ...]:
    parsed = None if flags & re.IGNORECASE else parsed_pattern(pattern, flags)
    if parsed is None:
        return ()
    return tuple(frozenset(found) for found in _required(list(parsed)))


def mode_literals(
    regexes: Iterable[re.Pattern[str]], hints: Sequence[str] = ()
) -> list[str] | None:
    """The prefilter for a set of regexes: None when one of them has no required literal."""
    union: set[str] = set()
    for regex in regexes:
        found = required_literals(regex, hints)
        if found is None:
            return None
        union |= found
    # A string holding another is found through the shorter one.
    return sorted(s for s in union if not any(o != s and o in s for o in union))


def literal_covers(
    regexes: Sequence[re.Pattern[str]], literals: Sequence[str], hints: Sequence[str] = ()
) -> list[int] | None:
    """Per regex, a bit mask of the ``literals`` (by position) one of which each match holds.

    ``literals`` must be the regexes' ``mode_literals``: a line holding none of
    a regex's literals cannot match it. None when a regex has no such literals.
    """
    covers = []
    for regex in regexes:
        found = required_literals(regex, hints)
        if found is None:
            return None
        mask = sum(1 << i for i, lit in enumerate(literals) if any(lit in s for s in found))
        if not mask:
            return None
        covers.append(mask)
    return covers


def leading_literals(regexes: Iterable[re.Pattern[str]]) -> tuple[str, ...] | None:
    """Strings one of which every string a ``regex.match`` of one of ``regexes`` matches
    starts with; None when a regex may start otherwise (or case-insensitively).

    A message starting with none of them cannot ``match`` any of the regexes: a
    reader tests that with ``bytes.startswith`` instead of scanning the whole message.
    """
    out: set[str] = set()
    for regex in regexes:
        found = _leading_for(regex.pattern, regex.flags)
        if found is None:
            return None
        out |= found
    return tuple(sorted(out))


@functools.lru_cache(maxsize=256)
def _leading_for(pattern: str, flags: int) -> frozenset[str] | None:
    parsed = parsed_pattern(pattern, flags)
    if parsed is None:
        return None
    if (flags | parsed.state.flags) & re.IGNORECASE:
        return None
    starts = {""}
    for op, av in parsed:
        # Zero-width items (``^``, lookarounds) are {""}: the start goes on after them.
        part = _finite_item(op, av)
        if part is None:
            break
        longer = {a + b for a in starts for b in part}
        if len(longer) > MAX_SET:
            break
        starts = longer
    return None if "" in starts else frozenset(starts)
