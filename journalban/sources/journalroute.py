"""The reader child's first test of a message, where a jail's lines are told by their start.

A jail whose failures are found only by ``match`` at the message's start
(``JailFinder.starts``: sshd's ``Failed password``, ``error: PAM:
Authentication failure for ``...) and whose session lines start with
literals (``SessionGate.prefixes``: ``Connection closed by ``...) can tell a
candidate by its first bytes: a message starting with neither cannot change
a session or fail, whatever literal it holds further on. ``Route`` tests
that in two steps: its first byte, in a table (about a tenth of the cost of a
call; sshd's ``pam_unix`` lines stop there), then one ``re.match`` of every
start at once, laid out as a tree of their common prefixes: the match ends where
the start does, so its text names the start (``Route.leaves``), and so whether
it is a teaching line's, another session line's or a failure's, and for a
failure the match of its class of starts (``matching.starts.start_classes``):
the alternation of only the regexes that may match a message starting so.
Only where no start of one kind is a prefix of one of another (sshd's are
not), so that a message starts with one start at most.

A class whose every regex needs one of a few strings beyond its start (sshd's
``Received disconnect from``: reason ``3: `` or ``14: ``; the reason-11 lines,
11% of sshd's, fail in the normal mode) may have its starts guarded
(``Route.guard``, once its trial kept the guard): a lookahead at the start's
end, skipping back from the message's end to the strings' common suffix, so a
message holding none of them is no candidate, at no decode and no match of
its class.

Standard library only: the reader child imports it.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from itertools import pairwise

# The native reader's ``_pass`` arguments (``Route.passing``): first bytes, starts, leaves
Passing = tuple[bytes, tuple[bytes, ...], tuple[int, ...]]
PASS_STARTS = 254  # the starts ``_pass`` tells apart at most (its table's bytes, 1 + index)
TEACH, SESSION, FAILURE = 1, 2, 3  # what a start begins: a teaching line, another session line...
# A class of failure starts and the match of the messages starting with one of them.
StartClass = tuple[Sequence[bytes], Callable[[str], "re.Match[str] | None"]]


def first_bytes(starts: Iterable[bytes]) -> tuple[bool, ...]:
    """Per byte value, whether one of ``starts`` begins with it (``table[raw[0]]``)."""
    firsts = {start[0] for start in starts if start}
    return tuple(byte in firsts for byte in range(256))


def prefix_tree(
    starts: Iterable[bytes],
    leaves: list[bytes],
    shut: frozenset[bytes] = frozenset(),
    ahead: Mapping[bytes, bytes] | None = None,
    marked: bool = True,
) -> bytes:
    """A regex matching exactly the strings starting with one of ``starts`` (none a prefix of
    another, none empty), alternatives grouped by their common prefixes (``re`` skips a
    branch by its first byte), an empty group closing each start, appended to ``leaves``
    in the order of the groups. A start in ``shut`` never matches (its group is kept); one
    in ``ahead`` only where its lookahead there (``guard_ahead``) holds too. ``marked``
    False: no groups (a match's end is then the start's: its text names it)."""
    ahead = ahead or {}
    mark = b"()" if marked else b""
    groups: dict[bytes, list[bytes]] = {}
    for start in set(starts):
        groups.setdefault(start[:1], []).append(start)
    parts = []
    for _, group in sorted(groups.items()):
        if len(group) == 1:
            (start,) = group
            leaves.append(start)
            text = b"(?!)" if start in shut else re.escape(start) + ahead.get(start, b"")
            parts.append(text + mark)
            continue
        common = _common_prefix(group)
        rests = [start[len(common) :] for start in group]
        inner: list[bytes] = []
        tree = prefix_tree(
            rests,
            inner,
            frozenset(s[len(common) :] for s in group if s in shut),
            {s[len(common) :]: ahead[s] for s in group if s in ahead},
            marked,
        )
        leaves += [common + rest for rest in inner]
        parts.append(re.escape(common) + b"(?:" + tree + b")")
    return b"|".join(parts)


def guard_ahead(start: bytes, strings: Sequence[bytes]) -> bytes | None:
    """A lookahead, at the end of ``start``, that holds exactly where the message holds one
    of ``strings`` (a class's ``guard``: every message its regexes match holds one), or None
    where it would not be cheap or exact: the strings end with no common suffix (the
    lookahead runs to the message's end and backs off, in C, to each place the suffix
    begins, then looks behind it for each string), or one may begin inside the start."""
    suffix = _common_prefix([s[::-1] for s in strings])[::-1] if strings else b""
    if not suffix or any(
        s in start or any(start.endswith(s[:k]) for k in range(1, len(s))) for s in strings
    ):
        return None
    look = b"(?=(?s:.*)" + re.escape(suffix)
    if suffix not in strings:
        look += b"(?:" + b"|".join(b"(?<=" + re.escape(s) + b")" for s in sorted(strings)) + b")"
    return look + b")"


def _common_prefix(strings: list[bytes]) -> bytes:
    first, last = min(strings), max(strings)  # the others lie between them
    size = 0
    while size < len(first) and first[size] == last[size]:
        size += 1
    return first[:size]


def _prefix_free(strings: Iterable[bytes]) -> bool:
    ordered = sorted(set(strings))  # a string and one starting with it sort side by side
    return all(ordered) and not any(b.startswith(a) for a, b in pairwise(ordered))


def _shortest(strings: Iterable[bytes]) -> list[bytes]:
    """``strings`` without those starting with another (a message starting with the longer
    starts with the shorter)."""
    found = set(strings)
    return [s for s in found if not any(o != s and s.startswith(o) for o in found)]


class Route:
    """``firsts[raw[0]]`` false: no candidate; else ``match(raw)``: None, or a match that
    ends where the start it found does: ``leaves[raw[: m.end()]]`` (never 0) indexes
    ``kinds`` (``TEACH``, ``SESSION``, ``FAILURE``) and ``matchers`` (a failure start's
    class's match; None for a session line's). The trees hold no groups: sshd's 44 empty
    groups, one per start, cost each match about 120 ns (the match copies every group's
    marks), twice what the slice and the lookup of its start cost. A match
    with a ``bind(matchers, index)`` method is told its slots: it may put another
    callable there (a class's alternation compiled at its first message); one with a
    ``watch(route)`` method is told the route: it may ``guard`` its starts.
    ``quiet_firsts`` and ``quiet_match`` the same without the session lines that do not
    teach: what a reader asks while they are of no use (``SessionGate.quiet``). Each of
    the two trees is compiled when first asked for (a reader asks at a batch's start):
    one that stays quiet never compiles the other."""

    def __init__(
        self,
        every: Sequence[bytes],
        others: frozenset[bytes],
        firsts: tuple[bool, ...],
        quiet_firsts: tuple[bool, ...],
        kinds: tuple[int, ...],
        matchers: list[Callable[[str], re.Match[str] | None] | None],
        leaves: Sequence[bytes] = (),
    ) -> None:
        self.firsts, self.quiet_firsts, self.kinds, self.matchers = (
            firsts, quiet_firsts, kinds, matchers,
        )  # fmt: skip
        # Each start by its text: its index in ``kinds`` and ``matchers`` (``prefix_tree``'s
        # order of leaves, from 1)
        self.leaves = {start: index for index, start in enumerate(leaves, 1)}
        # The starts of every kind and the session lines' (shut while quiet), and the
        # guarded starts' lookaheads: what the trees are built of.
        self._every, self._others = tuple(every), others
        self._ahead: dict[bytes, bytes] = {}
        self._trees: list[Callable[[bytes], re.Match[bytes] | None] | None] = [None, None]
        self._passing: list[Passing | None] = [None, None]

    @property
    def match(self) -> Callable[[bytes], re.Match[bytes] | None]:
        return self._tree(0)

    @property
    def quiet_match(self) -> Callable[[bytes], re.Match[bytes] | None]:
        return self._tree(1)

    def _tree(self, quiet: int) -> Callable[[bytes], re.Match[bytes] | None]:
        found = self._trees[quiet]
        if found is None:
            shut = self._others if quiet else frozenset()
            found = re.compile(prefix_tree(self._every, [], shut, self._ahead, False)).match
            self._trees[quiet] = found
        return found

    def passing(self, quiet: bool) -> Passing | None:
        """What the native reader's ``_pass`` steps over entries by (``journalrouted``): the
        first bytes (``pass_table``), the starts the tree (``quiet`` or not) may match, and
        per start its index in ``leaves`` where the tree's match is the start itself (0 where
        it is guarded: its lookahead decides). A message starting with none of them matches
        neither tree (a guard only narrows). None: too many starts for ``_pass``."""
        found = self._passing[quiet]
        if found is None:
            starts = tuple(sorted(s for s in self._every if not (quiet and s in self._others)))
            if len(starts) > PASS_STARTS:
                return None
            table = pass_table(starts)
            leaf_of = tuple(0 if s in self._ahead else self.leaves[s] for s in starts)
            found = self._passing[quiet] = (table, starts, leaf_of)
        return found

    def guard(self, starts: Iterable[bytes], strings: Sequence[bytes]) -> None:
        """From the next batch on, a message starting with one of the failure ``starts`` is
        a candidate only where it holds one of ``strings`` too (a class's ``guard``, kept by
        its trial), where ``guard_ahead`` gives an exact lookahead (else as before)."""
        looks = {start: guard_ahead(start, strings) for start in starts}
        if any(looks.values()):
            self._ahead.update((start, look) for start, look in looks.items() if look)
            self._trees = [None, None]  # compiled again when next asked for
            self._passing = [None, None]  # ... and the starts' leaves (a guarded one: 0)


def pass_table(starts: Sequence[bytes]) -> bytes:
    """Per byte value, 1 + the index of the first of ``starts`` (sorted, 254 at most) that
    begins with it, 0 where none does: where the native reader's ``_pass`` looks for a start."""
    table = bytearray(256)
    for index in range(len(starts) - 1, -1, -1):
        if starts[index]:
            table[starts[index][0]] = index + 1
    return bytes(table)


def route_for(
    prefixes: Sequence[bytes], teach: Sequence[bytes], classes: Sequence[StartClass]
) -> Route | None:
    """The route of a jail's session prefixes (``teach``: those of its teaching lines) and
    classes of failure starts (``JailFinder.start_classes``); None where one is empty or a
    start of one kind is a prefix of one of another."""
    teaching = _shortest(teach)
    others = _shortest(p for p in prefixes if not p.startswith(tuple(teaching)))
    failing = {start: match for group, match in classes for start in group}
    every = [*teaching, *others, *failing]
    if not teaching or not failing or not _prefix_free(every):
        return None
    leaves: list[bytes] = []
    prefix_tree(every, leaves)  # the order of the groups (compiled when asked: Route)
    kinds = [TEACH if s in teaching else SESSION if s in others else FAILURE for s in leaves]
    matchers = [None, *(failing.get(s) for s in leaves)]
    for index, match in enumerate(matchers):
        if (bind := getattr(match, "bind", None)) is not None:
            bind(matchers, index)
    route = Route(
        every, frozenset(others), first_bytes(every), first_bytes((*teaching, *failing)),
        (0, *kinds), matchers, leaves,
    )  # fmt: skip
    for match in {id(m): m for _, m in classes}.values():
        if (watch := getattr(match, "watch", None)) is not None:
            watch(route)
    return route
