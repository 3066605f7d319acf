"""The reader child's first test of a message, where a jail's lines are told by their start.

A jail whose failures are found only by ``match`` at the message's start
(``JailFinder.starts``: sshd's ``Failed password``, ``error: PAM:
Authentication failure for ``...) and whose session lines start with
literals (``SessionGate.prefixes``: ``Connection closed by ``...) can tell a
candidate by its first bytes: a message starting with neither cannot change
a session or fail, whatever literal it holds further on. ``Route`` tests
that in two steps: its first byte, in a table (about a tenth of the cost of a
call; most of the mail and auth corpora's other lines stop there), then one
``re.match`` of every start at once, laid out as a tree of their common
prefixes, which also says whether a session prefix or a failure start
matched (``TEACH``, ``SESSION``, ``FAILURE``, tried in that order: a message
starting with a session prefix and a failure start is a session line, as
when ``bytes.startswith(prefixes)`` was tested first).

Standard library only: the reader child imports it.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

# The route's ``lastindex``: which kind of start matched (a teaching line's, another
# session line's, a failure's).
TEACH, SESSION, FAILURE = 1, 2, 3


def first_bytes(starts: Iterable[bytes]) -> tuple[bool, ...]:
    """Per byte value, whether one of ``starts`` begins with it (``table[raw[0]]``)."""
    firsts = {start[0] for start in starts if start}
    return tuple(byte in firsts for byte in range(256))


def prefix_tree(starts: Iterable[bytes]) -> bytes:
    """A regex matching exactly the strings starting with one of ``starts``: alternatives
    grouped by their common prefixes (``re`` skips a branch by its first byte)."""
    found = set(starts)
    if b"" in found:
        return b""
    groups: dict[bytes, list[bytes]] = {}
    for start in found:
        groups.setdefault(start[:1], []).append(start)
    parts = []
    for _, group in sorted(groups.items()):
        common = _common_prefix(group)
        rests = {start[len(common) :] for start in group}
        if b"" in rests:  # one is the common prefix itself: it is enough
            parts.append(re.escape(common))
        else:
            parts.append(re.escape(common) + b"(?:" + prefix_tree(rests) + b")")
    return b"|".join(parts)


def _common_prefix(strings: list[bytes]) -> bytes:
    first, last = min(strings), max(strings)  # the others lie between them
    size = 0
    while size < len(first) and first[size] == last[size]:
        size += 1
    return first[:size]


@dataclass(frozen=True)
class Route:
    """``firsts[raw[0]]`` false: no candidate; else ``match(raw)``: None, or a match whose
    ``lastindex`` is ``TEACH``, ``SESSION`` or ``FAILURE``. ``quiet_firsts`` and
    ``quiet_match`` the same without the session lines that do not teach (``TEACH`` or
    ``FAILURE``): what a reader asks while they are of no use (``SessionGate.quiet``)."""

    firsts: tuple[bool, ...]
    match: Callable[[bytes], re.Match[bytes] | None]
    quiet_firsts: tuple[bool, ...]
    quiet_match: Callable[[bytes], re.Match[bytes] | None]


def route_for(
    prefixes: Sequence[bytes], teach: Sequence[bytes], starts: Sequence[bytes]
) -> Route | None:
    """The route of a jail's session prefixes (``teach``: those of its teaching lines) and
    failure starts; None where one is empty."""
    if not prefixes or not teach or not starts or b"" in (*prefixes, *teach, *starts):
        return None
    others = [prefix for prefix in prefixes if not prefix.startswith(tuple(teach))]
    never = b"(?!)"  # keeps the groups' numbers
    trees = [prefix_tree(teach), prefix_tree(others) if others else never, prefix_tree(starts)]
    every = re.compile(b"|".join(b"(" + tree + b")" for tree in trees))
    quiet = re.compile(b"|".join(b"(" + tree + b")" for tree in (trees[0], never, trees[2])))
    return Route(
        first_bytes((*prefixes, *starts)), every.match, first_bytes((*teach, *starts)), quiet.match
    )
