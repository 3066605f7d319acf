"""A mode's failregexes as one alternation, alone or fused behind a line-head regex.

One alternation tries every regex in order in C instead of a Python loop.
Fused behind the head regex of a source's date format (``(?>HEAD)(?:ALT)?``)
a candidate line costs a single match: the date, the syslog prefix and the
failregex at once. Fusing is only done where it cannot change a regex's
meaning: the regex sees the message as a string of its own, so anything that
looks before its first character (``^`` after the start, ``\\b``, a
lookbehind) must be preceded by message characters it is sure to consume.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from re import _constants as sre  # type: ignore[attr-defined]
from re import _parser as sre_parse  # type: ignore[attr-defined]
from typing import Any

from journalban.matching.literals import parsed_pattern
from journalban.matching.regexopt import compile_tuned

_GROUP_NAME = re.compile(r"\(\?P([<=])([A-Za-z_]\w*)([>)])")
_NUMBERED_BACKREF = re.compile(r"\\[1-9]|\(\?\(\d")
_AT_START = (sre.AT_BEGINNING, sre.AT_BEGINNING_STRING, sre.AT_BEGINNING_LINE)
# Zero-width tests that look at the character before the position.
_LOOKS_BACK = (
    *_AT_START,
    sre.AT_BOUNDARY, sre.AT_NON_BOUNDARY, sre.AT_UNI_BOUNDARY, sre.AT_UNI_NON_BOUNDARY,
    sre.AT_LOC_BOUNDARY, sre.AT_LOC_NON_BOUNDARY,
)  # fmt: skip
_REPEATS = (sre.MAX_REPEAT, sre.MIN_REPEAT, sre.POSSESSIVE_REPEAT)


@dataclass(frozen=True, slots=True)
class Branch:
    """One regex inside the alternation: its number and its renamed groups."""

    group: str  # the outer group around the regex: ``_rK``
    number: int  # index into the filter's failregex list
    groups: tuple[tuple[str, str], ...]  # (name in the alternation, the regex's own name)
    host: str | None  # the alternation's name of the regex's ``host`` group
    user: str | None = None  # ... of its ``user`` group
    mark: int = 0  # what a match means: FAILURE, or SUCCESS for a successregex (see events)


@dataclass(frozen=True, slots=True)
class Alternation:
    """Each regex's embeddable text (``parts``); ``branches`` by outer group names ``_rK``."""

    parts: tuple[str, ...]
    branches: dict[str, Branch]
    fusable: bool  # every regex keeps its meaning behind a head regex

    @property
    def pattern(self) -> str:
        """The alternation of every regex."""
        return "|".join(self.parts)

    def subset(self, regexes: int) -> str:
        """The alternation of the regexes whose positions are set in bit mask ``regexes``."""
        return "|".join(part for k, part in enumerate(self.parts) if regexes >> k & 1)


def combine(
    regexes: Sequence[tuple[int, re.Pattern[str]]], marks: Mapping[int, int] | None = None
) -> Alternation | None:
    """One alternation of ``regexes`` (tried in order), or None when one cannot be embedded.

    The alternation may still fail to compile (a conditional on a renamed group):
    compile it with ``compile_quickly``, which says so with None.

    Each regex's groups get a suffix so their names stay unique; the outer
    group ``_rK`` closes last, so ``lastgroup`` names the regex that matched.
    A regex with global flags or numbered back-references cannot be embedded.
    ``marks``: by regex number, what its match means (default: a failure).
    """
    if not regexes:
        return None
    parts = []
    branches: dict[str, Branch] = {}
    fusable = True
    for k, (number, regex) in enumerate(regexes):
        if regex.flags & ~re.UNICODE or _NUMBERED_BACKREF.search(regex.pattern):
            return None
        body = _GROUP_NAME.sub(rf"(?P\1\2__{k}\3", regex.pattern)
        headless = _without_anchor(regex)
        if headless is None:
            fusable = False
        else:
            # match() anchors at the message's start already: the leading ^ adds nothing.
            body = body[len(regex.pattern) - len(headless) :]
        renamed = tuple((f"{name}__{k}", name) for name in regex.groupindex)
        host = f"host__{k}" if "host" in regex.groupindex else None
        user = f"user__{k}" if "user" in regex.groupindex else None
        parts.append(f"(?P<_r{k}>{body})")
        mark = marks.get(number, 0) if marks is not None else 0
        branches[f"_r{k}"] = Branch(f"_r{k}", number, renamed, host, user, mark)
    return Alternation(tuple(parts), branches, fusable)


def fuse(
    head: re.Pattern[str], alternation: Alternation, regexes: int = -1
) -> re.Pattern[str] | None:
    """``head`` then, optionally, the alternation: one match reads a line's head and message.

    ``regexes`` (a bit mask of positions) leaves out regexes that cannot match.
    The head is atomic, so the message starts where the head alone would end;
    when no regex matches, the match still succeeds with the head alone.
    """
    if not alternation.fusable or head.pattern is None:
        return None
    pattern = f"(?>{head.pattern})(?:{alternation.subset(regexes)})?"
    return compile_quickly(pattern)


def compile_quickly(pattern: str) -> re.Pattern[str] | None:
    """The pattern compiled for speed (see regexopt), or plainly, or None when it is bad."""
    try:
        return compile_tuned(pattern)
    except (re.error, RecursionError):
        pass
    try:
        return re.compile(pattern)
    except re.error:
        return None


def _without_anchor(regex: re.Pattern[str]) -> str | None:
    """The regex's text without a leading ``^``, when it means the same behind a head."""
    text = regex.pattern
    # The parse the filter's literal and start analyses made of the same regex (cached).
    parsed = parsed_pattern(text, regex.flags)
    if parsed is None:
        return None
    items = list(parsed)
    if items and items[0] == (sre.AT, sre.AT_BEGINNING):
        if not text.startswith("^"):
            return None
        items, text = items[1:], text[1:]
    return text if _blind_to_head(items, parsed.state, 0) else None


def _blind_to_head(items: Sequence[Any], state: Any, before: int) -> bool:
    """True when no item looks further back than the ``before`` characters it follows."""
    for item in items:
        op, av = item
        if op is sre.AT:
            if av in _LOOKS_BACK and before < 1:
                return False
        elif op in (sre.ASSERT, sre.ASSERT_NOT):
            direction, body = av
            if direction < 0:
                if before < body.getwidth()[1] or _has_anchor(body):
                    return False
            elif not _blind_to_head(body, state, before):
                return False
        elif op is sre.SUBPATTERN:
            if not _blind_to_head(av[3], state, before):
                return False
        elif op is sre.ATOMIC_GROUP:
            if not _blind_to_head(av, state, before):
                return False
        elif op is sre.BRANCH:
            if not all(_blind_to_head(b, state, before) for b in av[1]):
                return False
        elif op in _REPEATS:
            if not _blind_to_head(av[2], state, before):
                return False
        elif op is sre.GROUPREF_EXISTS:
            _, yes, no = av
            if not _blind_to_head(yes, state, before) or (
                no is not None and not _blind_to_head(no, state, before)
            ):
                return False
        before += sre_parse.SubPattern(state, [item]).getwidth()[0]
    return True


def _has_anchor(items: Any) -> bool:
    for op, av in items:
        if op is sre.AT and av in _LOOKS_BACK:
            return True
        if op is sre.SUBPATTERN and _has_anchor(av[3]):
            return True
        if op in (sre.ATOMIC_GROUP,) and _has_anchor(av):
            return True
        if op is sre.BRANCH and any(_has_anchor(b) for b in av[1]):
            return True
        if op in _REPEATS and _has_anchor(av[2]):
            return True
        if op in (sre.ASSERT, sre.ASSERT_NOT) and _has_anchor(av[1]):
            return True
        if op is sre.GROUPREF_EXISTS and (
            _has_anchor(av[1]) or (av[2] is not None and _has_anchor(av[2]))
        ):
            return True
    return False
