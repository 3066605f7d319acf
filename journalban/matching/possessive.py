"""Possessive repeats (``x*+``, ``x++``, ``x?+``, ``x{m,n}+``) in a regex.

Python 3.11.0-3.11.4 match a possessive repeat wrongly when the repeated
subpattern can backtrack (CPython gh-106052: ``re.fullmatch('(?:ab?c)*+', 'a')``
matches); Debian 12 ships 3.11.2. The atomic group of the greedy repeat,
``(?>x*)``, is what a possessive repeat means and matches rightly there. The
shipped filters use only that form (tests/unit/test_possessive_repeats.py);
a regex the user writes is refused on those interpreters (``matching.tags``).
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from re import _constants as sre  # type: ignore[attr-defined]
from re import _parser as sre_parse  # type: ignore[attr-defined]
from typing import Any

# The first CPython 3.11 whose engine matches possessive repeats rightly.
FIXED_IN = (3, 11, 5)
POSSESSIVE_SAFE = sys.version_info >= FIXED_IN
# A possessive repeat's text ends with one of these (a cheap test before parsing).
_MARKS = ("*+", "++", "?+", "}+")


def holds_possessive(pattern: str, flags: int = 0) -> bool:
    """Whether ``pattern`` (which compiles) holds a possessive repeat."""
    if not any(mark in pattern for mark in _MARKS):
        return False
    return tree_holds_possessive(sre_parse.parse(pattern, flags))


def matched_wrongly(pattern: str) -> bool:
    """Whether ``pattern`` holds a possessive repeat and this Python matches one wrongly:
    a regex to refuse (``tags.compile_plain``) or not to carry over (``migrate.datepat``)."""
    return not POSSESSIVE_SAFE and holds_possessive(pattern)


def tree_holds_possessive(tree: Any) -> bool:
    """Whether sre's parse ``tree`` holds a POSSESSIVE_REPEAT, at any depth."""
    for op, av in tree:
        if op is sre.POSSESSIVE_REPEAT:
            return True
        if any(tree_holds_possessive(sub) for sub in _subpatterns(av)):
            return True
    return False


def _subpatterns(av: Any) -> Iterator[Any]:
    if isinstance(av, sre_parse.SubPattern):
        yield av
    elif isinstance(av, (tuple, list)):
        for item in av:
            yield from _subpatterns(item)
