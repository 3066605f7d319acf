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
from collections.abc import Iterable, Mapping, Sequence
from re import _constants as sre  # type: ignore[attr-defined]
from re import _parser as sre_parse  # type: ignore[attr-defined]
from typing import Any

from journalban.matching.memfind import _probe, ascii_text, first_index, lines_holding

__all__ = ["_probe"]  # read by test_scan_lines

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


def scan_needle(literal: str) -> str:
    """The part of ``literal`` that groups it with others in one scan (``needles_for``).

    The first word of 5 characters (else the longest), cut to 5: literals
    sharing it (``reject: RCPT from ``, ``reject: MAIL from ``) are found in
    one pass, their needle then widened to all they share.
    """
    words = [w for w in literal.split() if len(w) >= 3]
    if not words:
        return literal
    # The first word that has 5 characters, else the longest; cut to 5.
    word = next((w for w in words if len(w) >= 5), max(words, key=len))
    return word[:5]


# A needle, and the literals it stands for with its offset in each; empty when the
# needle is itself one of the literals (a hit needs no check).
Needle = tuple[str, tuple[tuple[str, int], ...]]


def needles_for(literals: Sequence[str]) -> list[Needle]:
    """The scan needles of ``literals``: one per group of literals sharing a ``scan_needle``,
    widened to the longest text around it they all hold alike, without outer blanks.

    ``str.find`` searches a needle of 6 characters or more by the two-way
    algorithm, whose skips grow with the needle: on the mail corpora one pass
    for ``Password mismatch`` costs about half of one for ``Passw`` (dovecot's
    whole scan 143 -> 121 ms, postfix's 57 -> 47 ms for 40 MB; the sshd
    corpora the same within 3%).
    """
    by_needle: dict[str, list[str]] = {}
    for literal in literals:
        by_needle.setdefault(scan_needle(literal), []).append(literal)
    out: list[Needle] = []
    for short, group in by_needle.items():
        needle = _widened(short, group)
        out.append(
            (needle, () if needle in group else tuple((lit, lit.index(needle)) for lit in group))
        )
    return out


def _widened(needle: str, group: Sequence[str]) -> str:
    """``needle`` grown by the characters every literal of ``group`` has beside its first
    occurrence of it, outer blanks left off (the commonest character slows a search)."""
    at = [lit.index(needle) for lit in group]
    before = 0
    while (
        all(a > before for a in at)
        and len({lit[a - before - 1] for lit, a in zip(group, at, strict=True)}) == 1
    ):
        before += 1
    after = len(needle)
    while all(a + after < len(lit) for lit, a in zip(group, at, strict=True)) and (
        len({lit[a + after] for lit, a in zip(group, at, strict=True)}) == 1
    ):
        after += 1
    widened = group[0][at[0] - before : at[0] + after].strip()
    return widened or needle


def needle_index(scan: Sequence[Needle], literal: str) -> int:
    """The position in ``scan`` of the needle through which ``literal`` is found.

    Raises:
        ValueError: ``literal`` is not one of the literals ``scan`` was made of.
    """
    for position, (needle, group) in enumerate(scan):
        if any(lit == literal for lit, _ in group) if group else needle == literal:
            return position
    raise ValueError(f"{literal!r} is none of the scan's literals")


def line_ends(
    text: str,
    needles: Sequence[Needle],
    lines_of: Mapping[int, re.Pattern[str] | tuple[str, ...]] | None = None,
) -> dict[int, int]:
    """The lines holding a literal: each line's end (its newline, or the text's end), with
    a bit mask of the needles (by position) through which they were found.

    Per needle, str.find looks for its first occurrence (most needles occur in no
    text: one pass at C speed). Where hits come densely, the rest of the text is
    searched by a regex of the needle's literals followed by the rest of the line
    (``_line_regex``): the engine skips to a literal in C and its match ends where
    the line does, so a line found costs one list item instead of a loop of Python
    around str.find; sparse hits (or literals without a common start) take that loop.

    ``lines_of``: per needle (by position), a regex ``X[^\n]*`` to take instead of its
    line regex where its hits are dense, whose every match holds the needle: the lines
    holding the needle that it does not find go without the needle's bit (``X``: a
    guard's search of starts, which such a line fails, ``engine._text_hits``); or strings
    (a guard's ``literal_guard``), one of which a line must hold as well to carry the
    needle's bit: looked for first where they are rare (``memfind.lines_holding``).
    """
    found: dict[int, int] = {}
    get = found.get
    size = len(text)
    raw = ascii_text(text) if len(needles) > 1 else None
    for bit, needle in enumerate(needles):
        flag = 1 << bit
        word = needle[0]
        first = first_index(text, raw, word)
        if first < 0:
            continue  # most needles, most texts: one pass at str.find's speed
        kept = lines_of.get(bit) if lines_of else None
        held = None
        if isinstance(kept, tuple):  # the lines holding one of these strings as well
            texts = [lit for lit, _ in needle[1]] if needle[1] else [word]
            held = lines_holding(text, raw, texts, kept, text.rfind("\n", 0, first) + 1)
        # Hits that come densely are cheaper through the regex; a few, through str.find.
        regex = _line_regex(needle)
        if regex is not None and isinstance(kept, re.Pattern):
            regex = kept
        if held is not None:
            ends = held
        elif regex is not None and _dense(text, needle[0], first, size):
            start = text.rfind("\n", 0, first) + 1
            ends = [m.end() for m in regex.finditer(text, start)]
        else:
            ends = _ends_by_find(text, needle, first)
        if not found:
            found = dict.fromkeys(ends, flag)
            get = found.get
            continue
        for end in ends:
            found[end] = get(end, 0) | flag
    return found


# Literals sharing a start shorter than this are searched with str.find instead.
_MIN_PREFIX = 3
# Hits closer than 1/2**_DENSE of the text (more than about 64 a text) count as dense.
_DENSE = 6
# A needle this long is searched by str.find at about 0.25 ns a character (its skips grow
# with it) against the line regex's 0.4-0.5 (sre steps through the text for its prefix);
# str.find's loop costs about 0.3 us a hit on top, so the regex pays only from about one hit
# per _GAP characters, counted over the _PROBE characters from its first.
_LONG = 12
_GAP = 2048
_PROBE = 8192


def _dense(text: str, word: str, first: int, size: int) -> bool:
    """Whether the needle ``word``'s hits (the first at ``first``) are dense enough in
    ``text`` for the line regex to cost less than str.find's loop."""
    if len(word) < _LONG:
        second = text.find(word, text.find("\n", first) % (size + 1) + 1)
        return 0 <= second - first < size >> _DENSE
    window = min(_PROBE, size - first)
    count = text.count(word, first, first + window)
    return count > 1 and count * _GAP > window


@functools.lru_cache(maxsize=512)
def _line_regex(needle: Needle) -> re.Pattern[str] | None:
    """``LITERALS[^\\n]*``: a needle's literals, then the rest of their line (None: no common start)."""
    word, literals = needle
    texts = sorted({lit for lit, _ in literals}) if literals else [word]
    if any("\n" in t for t in texts):
        return None
    prefix = texts[0]
    for other in texts[1:]:
        while not other.startswith(prefix):
            prefix = prefix[:-1]
    if len(prefix) < min(_MIN_PREFIX, min(map(len, texts))):
        return None
    rests = [t[len(prefix) :] for t in texts]
    alternatives = "" if "" in rests else "(?:" + "|".join(map(re.escape, rests)) + ")"
    return re.compile(re.escape(prefix) + alternatives + "[^\n]*")


def _ends_by_find(text: str, needle: Needle, pos: int) -> list[int]:
    """The ends of the lines holding one of the needle's literals, by str.find from ``pos``
    (the needle's first occurrence)."""
    word, literals = needle
    out: list[int] = []
    find = text.find
    starts = text.startswith
    # Literals at one offset (postfix's 11 ``reject: X from ``): one startswith per hit.
    literal, offset = tuple(lit for lit, _ in literals), literals[0][1] if literals else 0
    if len({off for _, off in literals}) > 1:
        literal = ()
    while pos >= 0:
        if literal:
            if pos < offset or not starts(literal, pos - offset):
                pos = find(word, pos + 1)
                continue
        elif literals and not any(pos >= off and starts(lit, pos - off) for lit, off in literals):
            pos = find(word, pos + 1)
            continue
        end = find("\n", pos)
        if end < 0:
            out.append(len(text))
            break
        out.append(end)
        pos = find(word, end + 1)
    return out


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
