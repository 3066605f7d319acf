"""Compiling regexes in a form Python's engine runs faster, with the same meaning.

The engine runs a repeated group (``(?:X)?``, ``(?:X){2,7}`` where X is more
than one character) through its general repeat machinery, which costs several
hundred machine instructions even when X fails at once. A two-way alternative
``(?:X|)`` tries the same things in the same order as ``(?:X)?`` (X first,
then nothing), and ``XX(?:X){0,5}`` the same as ``(?:X){2,7}``; both are far
cheaper. A fused line regex holds dozens of such groups.
"""

from __future__ import annotations

import re
from re import _compiler as sre_compile  # type: ignore[attr-defined]
from re import _constants as sre  # type: ignore[attr-defined]
from re import _parser as sre_parse  # type: ignore[attr-defined]
from typing import Any

_REPEATS = (sre.MAX_REPEAT, sre.MIN_REPEAT, sre.POSSESSIVE_REPEAT)
_UNROLL = 4  # copies of a repeated group written out at most


def compile_tuned(pattern: str) -> re.Pattern[str]:
    """``re.compile(pattern)`` with optional groups rewritten as alternatives.

    The result's ``pattern`` attribute is None (it was compiled from a tree).

    Raises:
        re.error: the pattern does not compile.
    """
    tree = sre_parse.parse(pattern, 0)
    compiled: re.Pattern[str] = sre_compile.compile(_tuned(tree), 0)
    return compiled


def _tuned(sub: Any) -> Any:
    out: list[tuple[Any, Any]] = []
    for op, av in sub.data:
        if op is sre.SUBPATTERN:
            group, add_flags, del_flags, body = av
            av = (group, add_flags, del_flags, _tuned(body))
        elif op is sre.BRANCH:
            av = (av[0], [_tuned(b) for b in av[1]])
        elif op in _REPEATS:
            low, high, body = av
            body = _tuned(body)
            if op is sre.MAX_REPEAT and low == 0 and high == 1 and not sre_compile._simple(body):
                # Greedy X? tries X, then the empty string: the same as X|(nothing).
                out.append((sre.BRANCH, (None, [body, sre_parse.SubPattern(sub.state, [])])))
                continue
            if op is sre.MAX_REPEAT and 1 <= low <= _UNROLL and _unrollable(body):
                # X{2,7} is XX(?:X){0,5}: the same choices, tried in the same order,
                # and an address that is not IPv6 fails at once, not in the repeat machinery.
                group = (sre.SUBPATTERN, (None, 0, 0, body))
                rest = high if high == sre.MAXREPEAT else high - low
                out.extend([group] * low)
                if rest:
                    tail = sre_parse.SubPattern(sub.state, [(op, (0, rest, body))])
                    out.extend(_tuned(tail).data)
                continue
            av = (low, high, body)
        elif op is sre.ATOMIC_GROUP:
            av = _tuned(av)
        elif op in (sre.ASSERT, sre.ASSERT_NOT):
            av = (av[0], _tuned(av[1]))
        elif op is sre.GROUPREF_EXISTS:
            group, yes, no = av
            av = (group, _tuned(yes), None if no is None else _tuned(no))
        out.append((op, av))
    return sre_parse.SubPattern(sub.state, out)


def _unrollable(body: Any) -> bool:
    """A repeated body that can be written out: more than one character, never empty, no
    capturing group (a copy would need the same group twice)."""
    return not sre_compile._simple(body) and body.getwidth()[0] >= 1 and not _captures(body.data)


def _captures(items: Any) -> bool:
    for op, av in items:
        if op is sre.SUBPATTERN and (av[0] is not None or _captures(av[3])):
            return True
        if op is sre.BRANCH and any(_captures(b) for b in av[1]):
            return True
        if op in _REPEATS and _captures(av[2]):
            return True
        if op is sre.ATOMIC_GROUP and _captures(av):
            return True
        if op in (sre.ASSERT, sre.ASSERT_NOT) and _captures(av[1]):
            return True
        if op is sre.GROUPREF_EXISTS and (
            _captures(av[1]) or (av[2] is not None and _captures(av[2]))
        ):
            return True
    return False


def compile_parsed(pattern: str, flags: int, tree: Any) -> re.Pattern[str]:
    """``re.compile(pattern, flags)`` from ``tree``, sre's parse of that same pattern and
    flags (read only: compiling does not change it), so that a regex compiled and analysed
    is parsed once. The same object as re.compile's (equal code, groups and flags), bar
    re's cache."""
    import _sre  # type: ignore[import-not-found]

    code = sre_compile._code(tree, flags)
    state = tree.state
    indexgroup: list[str | None] = [None] * state.groups
    for name, index in state.groupdict.items():
        indexgroup[index] = name
    compiled: re.Pattern[str] = _sre.compile(
        pattern, flags | state.flags, code, state.groups - 1, state.groupdict, tuple(indexgroup)
    )
    return compiled
