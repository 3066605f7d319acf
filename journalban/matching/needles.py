"""The literal scan of a text: the needles a filter's literals are searched by, and the
lines holding them (``line_ends``, the scan behind `journalban regex` and the file
reader child). The literals themselves come from ``literals``."""

from __future__ import annotations

import functools
import os
import re
from collections.abc import Callable, Mapping, Sequence

from journalban.matching.memfind import _COMMON, AsciiText, ascii_text, first_index, lines_holding


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
    _join_alone(by_needle)
    out: list[Needle] = []
    for short, group in by_needle.items():
        needle = _widened(short, group)
        out.append(
            (needle, () if needle in group else tuple((lit, lit.index(needle)) for lit in group))
        )
    return out


# A literal alone in its group joins another group only where what they then share is
# this long (``memfind._MEMMEM_CHARS``: the search stays memmem's).
_JOINED_CHARS = 8


def _join_alone(by_needle: dict[str, list[str]]) -> None:
    """Move each literal alone in its group (``by_needle``, by ``scan_needle``) into another
    group sharing one of its other words, where the needle they then share is at least
    ``_JOINED_CHARS`` long and at most one character shorter than that group's own: one
    pass finds both (dovecot's ``proxy dest auth failed``, in no line of its corpus, cost
    a pass of its own, some 60M instructions, beside ``auth failed, ``'s; now both are
    searched as ``auth failed``). A group of literals at different offsets takes a line
    regex with lookbehinds (``_line_regex``), so its lines are the same."""
    for short, group in list(by_needle.items()):
        if len(group) != 1 or len(by_needle) < 2:
            continue
        literal = group[0]
        words = [w[:5] for w in literal.split() if len(w) >= 5]
        for word in words:
            other = by_needle.get(word)
            if word == short or other is None or "\n" in literal:
                continue
            joined = _widened(word, [*other, literal])
            if len(joined) >= max(_JOINED_CHARS, len(_widened(word, other)) - 1):
                other.append(literal)
                del by_needle[short]
                break


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
    line regex where its hits are dense (and to test each line by where they are sparse),
    whose every match holds the needle: the lines
    holding the needle that it does not find go without the needle's bit (``X``: a
    guard's search of starts, which such a line fails, ``engine._text_hits``; or the needle's
    literals with a guard's strings after them, ``line_regex_after``); or strings
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
        first = _first(text, raw, word)
        if first < 0:
            continue  # most needles, most texts: one pass at str.find's speed
        kept = lines_of.get(bit) if lines_of else None
        held = None
        if isinstance(kept, tuple):  # the lines holding one of these strings as well
            held = lines_holding(
                text, raw, needle_texts(needle), kept, text.rfind("\n", 0, first) + 1
            )
        # Hits that come densely are cheaper through the regex; a few, through str.find.
        regex = _line_regex(needle)
        if regex is not None and isinstance(kept, re.Pattern):
            regex = kept
        if held is not None:
            ends = held
        elif _NATIVE is not None:
            # Every line in C (``_linescan``), dense or sparse, at memmem's speed.
            if isinstance(kept, re.Pattern):
                ends = _kept_native(text, needle, kept, first)
            else:
                ends = _ends_native(text, needle, first)
        else:
            ends = _ends_python(text, needle, regex, kept, first, size)
        if not found:
            found = dict.fromkeys(ends, flag)
            get = found.get
            continue
        for end in ends:
            found[end] = get(end, 0) | flag
    return found


def _ends_python(
    text: str,
    needle: Needle,
    regex: re.Pattern[str] | None,
    kept: re.Pattern[str] | tuple[str, ...] | None,
    first: int,
    size: int,
) -> list[int]:
    """The ends of the lines holding the needle from its first occurrence ``first`` on, by
    ``regex`` (its line regex, or ``kept``) where they come densely, else by a loop of
    finds (in C where it is built) and ``kept`` tested on each line found."""
    if regex is not None and _dense(text, needle[0], first, size, _shifted(needle)):
        start = text.rfind("\n", 0, first) + 1
        return [m.end() for m in regex.finditer(text, start)]
    ends = _ends_native(text, needle, first)
    return ends if kept is None or isinstance(kept, tuple) else _kept_lines(text, ends, kept)


def _kept_native(text: str, needle: Needle, kept: re.Pattern[str], first: int) -> list[int]:
    """The lines ``kept`` finds from the needle's first line on (as the dense path's
    ``finditer``): where it finds the lines holding one of some strings (``one_of_lines``,
    a guard's search of starts), those strings in C; else the needle's lines in C, then
    ``kept`` over them (``_kept_lines``)."""
    after = _AFTER_OF.get(kept.pattern)
    if after is not None and after[0] == needle and _AFTER_LINES is not None:
        _, tail, rests = after
        start = text.rfind("\n", 0, first) + 1
        literals, offsets = _literals_of(needle)
        word = needle[0]
        ends = _AFTER_LINES(text, word, literals, offsets, start, _pivot(word), tail, rests, _AFTER)
        if ends is not None:
            return ends
    one_of = _ONE_OF.get(kept.pattern)
    if one_of is not None and _NATIVE is not None:
        common, strings = one_of
        start = text.rfind("\n", 0, first) + 1
        ends = _NATIVE(text, common, strings, (0,) * len(strings), start, _pivot(common))
        if ends is not None:
            return ends
    return _kept_lines(text, _ends_native(text, needle, first), kept)


# Kept regexes (by pattern) that find exactly the lines holding one of some strings: the
# strings' common start, and the strings (``one_of_lines``).
_ONE_OF: dict[str, tuple[str, tuple[str, ...]]] = {}


def one_of_lines(kept: re.Pattern[str], common: str, strings: Sequence[str]) -> None:
    """Note that ``kept`` (a ``lines_of`` regex: ``(?:COMMON(?:REST|...))[^\n]*``, a guard's
    search of starts) finds exactly the lines holding one of ``strings``, each starting with
    ``common``: the C loop then looks for them itself (``_kept_native``)."""
    if common and strings and all(s.startswith(common) and "\n" not in s for s in strings):
        _ONE_OF[kept.pattern] = (common, tuple(strings))


def _kept_lines(text: str, ends: list[int], kept: re.Pattern[str]) -> list[int]:
    """Those of ``ends`` whose line ``kept`` (a regex of one line: ``[^\n]`` looks,
    lookbehinds on its literals) finds something in, as the dense path's regex keeps them.

    In C (``_linescan``), the lines are joined and ``kept`` runs over them alone: sre steps
    about 5 instructions a character to its literal's start, over a tenth of the text
    (sshd-near-miss's ``Failed``: 53,066 lines of 300,000) instead of all of it; else a
    search per line."""
    if _NATIVE is not None and ends:
        from journalban.matching._linescan import join_lines, pick_lines

        joined = join_lines(text, ends)
        if joined is not None:
            return pick_lines(text, ends, [m.end() for m in kept.finditer(joined)])
    rfind, search = text.rfind, kept.search
    return [end for end in ends if search(text, rfind("\n", 0, end) + 1, end)]


def _first(text: str, raw: AsciiText | None, word: str) -> int:
    """``text.find(word)``: in C from the word's rarest character (``_pivot``) where the C
    module is built, else by ``memfind.first_index``."""
    if _FIND is not None:
        at = _FIND(text, word, 0, _pivot(word))
        if at is not None:
            return at
    return first_index(text, raw, word)


def _ends_native(text: str, needle: Needle, first: int) -> list[int]:
    """``_ends_by_find``, by its C loop where that is built and takes the text."""
    if _NATIVE is not None:
        ends = _NATIVE(text, needle[0], *_literals_of(needle), first, _pivot(needle[0]))
        if ends is not None:
            return ends
    return _ends_by_find(text, needle, first)


_EndsByFind = Callable[[str, str, tuple[str, ...], tuple[int, ...], int, int], list[int] | None]
# See _pivot.
_PIVOT_RANK = 30


def _native_scan() -> _EndsByFind | None:
    """The C loop of ``_ends_by_find`` (``journalban.matching._linescan``); None where the
    module is not built (a pip install without a compiler) or JOURNALBAN_NATIVE_SCAN=0."""
    if os.environ.get("JOURNALBAN_NATIVE_SCAN", "1") == "0":
        return None
    try:
        from journalban.matching._linescan import ends_by_find
    except ImportError:
        return None
    return ends_by_find


# Looked up once, at import; tests set both to None to run the pure-Python path.
_NATIVE: _EndsByFind | None = _native_scan()
_FIND: Callable[[str, str, int, int], int | None] | None = None
_AFTER_LINES: Callable[..., list[int] | None] | None = None
if _NATIVE is not None:
    from journalban.matching._linescan import after_lines as _AFTER_LINES
    from journalban.matching._linescan import find as _FIND


@functools.lru_cache(maxsize=512)
def _pivot(word: str) -> int:
    """The offset in ``word`` of its rarest character (``memfind._COMMON``'s order, any
    other rarer), which the C loop looks for first by memchr; -1 (memmem) where every
    character is among the ``_PIVOT_RANK`` commonest (memchr would stop too often)."""

    def rank(c: str) -> int:
        found = _COMMON.find(c)
        return len(_COMMON) if found < 0 else found

    best = max(range(len(word)), key=lambda k: (rank(word[k]), -k), default=-1)
    return best if best >= 0 and rank(word[best]) >= _PIVOT_RANK else -1


@functools.lru_cache(maxsize=512)
def _literals_of(needle: Needle) -> tuple[tuple[str, ...], tuple[int, ...]]:
    """The needle's literals and its offset in each, as ``_linescan.ends_by_find`` takes them."""
    return tuple(lit for lit, _ in needle[1]), tuple(off for _, off in needle[1])


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


def _dense(text: str, word: str, first: int, size: int, counted: bool = False) -> bool:
    """Whether the needle ``word``'s hits (the first at ``first``) are dense enough in
    ``text`` for the line regex to cost less than str.find's loop; ``counted``: judged by
    their count as a long needle's are, whatever its length (literals at several offsets:
    dovecot's ``auth failed``, one line in about 4 KiB, took the line regex in most bursts
    by the short needles' rule, 58M instructions more than the loop over the corpus)."""
    if len(word) < _LONG and not counted:
        second = text.find(word, text.find("\n", first) % (size + 1) + 1)
        return 0 <= second - first < size >> _DENSE
    window = min(_PROBE, size - first)
    count = text.count(word, first, first + window)
    return count > 1 and count * _GAP > window


@functools.lru_cache(maxsize=512)
def _shifted(needle: Needle) -> bool:
    """Whether the needle's literals hold it at different offsets (``_join_alone``)."""
    return len({off for _, off in needle[1]}) > 1


@functools.lru_cache(maxsize=512)
def _by_offset(needle: Needle) -> tuple[tuple[int, tuple[str, ...]], ...]:
    """The needle's literals by the offset of the needle in them, from the first offset."""
    offsets = sorted({off for _, off in needle[1]})
    return tuple((off, tuple(lit for lit, at in needle[1] if at == off)) for off in offsets)


def needle_texts(needle: Needle) -> list[str]:
    """The texts a line holding ``needle`` holds one of: its literals, or its word alone."""
    return [lit for lit, _ in needle[1]] if needle[1] else [needle[0]]


@functools.lru_cache(maxsize=512)
def _line_regex(needle: Needle) -> re.Pattern[str] | None:
    """``LITERALS[^\\n]*``: a needle's literals, then the rest of their line (None: no common start)."""
    word, literals = needle
    texts = sorted({lit for lit, _ in literals}) if literals else [word]
    if any("\n" in t for t in texts):
        return None
    if _shifted(needle):
        # Literals at different offsets (``_join_alone``): the needle, then per literal a
        # lookbehind of its text up to the needle's end and its rest.
        parts = sorted(
            (f"(?<={re.escape(lit[: off + len(word)])})" if off else "")
            + re.escape(lit[off + len(word) :])
            for lit, off in literals
        )
        return re.compile(re.escape(word) + "(?:" + "|".join(parts) + ")[^\n]*")
    prefix = texts[0]
    for other in texts[1:]:
        while not other.startswith(prefix):
            prefix = prefix[:-1]
    if len(prefix) < min(_MIN_PREFIX, min(map(len, texts))):
        return None
    rests = [t[len(prefix) :] for t in texts]
    alternatives = "" if "" in rests else "(?:" + "|".join(map(re.escape, rests)) + ")"
    return re.compile(re.escape(prefix) + alternatives + "[^\n]*")


def line_regex_after(needle: Needle, strings: Sequence[str]) -> re.Pattern[str] | None:
    """The needle's line regex (``_line_regex``) for the lines where one of ``strings``
    follows one of its literals (or more than ``_AFTER`` characters do):
    ``LITERALS(?=[^\n]{0,128}X(?<=(?:A|.B)X)|[^\n]{128})[^\n]*``, ``X`` the strings'
    common end, each rest padded to one width with ``.`` (a lookbehind is of fixed width);
    None where there is no line regex, no common end, or a literal shorter than the pad (it
    must fall within the line, on the literal's characters) or than ``_AFTER_LITERAL``.

    A guard's strings where the line's regexes hold them after the needle's literals
    (``guards.strings_follow``): sre skips to the literals in C and, from each, steps back
    from the line's end only over the occurrences of ``X``'s first character, where two
    ``memmem`` passes over the whole text for short strings (sshd's ``3: ``, ``14: ``)
    cost nearly twice as much (``lines_holding``)."""
    regex = _line_regex(needle)
    if regex is None or _shifted(needle) or any("\n" in s or not s for s in strings):
        return None
    end = strings[0]
    for other in strings[1:]:
        while not other.endswith(end):
            end = end[1:]
    if not end:
        return None
    rests = sorted({s[: len(s) - len(end)] for s in strings})
    width = max(map(len, rests))
    if min(map(len, needle_texts(needle))) < max(width, _AFTER_LITERAL):
        return None
    behind = "|".join("." * (width - len(r)) + re.escape(r) for r in rests)
    tail = re.escape(end)
    head = regex.pattern.removesuffix("[^\n]*")
    # Within _AFTER characters of the literal, or past them: a line with more is let through
    # (the candidate's guard tells it), so that a failed look costs at most _AFTER steps.
    ahead = f"[^\n]{{0,{_AFTER}}}{tail}(?<=(?:{behind}){tail})|[^\n]{{{_AFTER}}}"
    found = re.compile(f"{head}(?={ahead})[^\n]*")
    _AFTER_OF[found.pattern] = (needle, end, tuple(rests))
    return found


# line_regex_after's patterns: the needle, the strings' common end and their rests, for
# the C loop to tell the same lines (``_kept_native``).
_AFTER_OF: dict[str, tuple[Needle, str, tuple[str, ...]]] = {}


# line_regex_after looks this far past a literal for the strings. sre tries the look at
# every occurrence of a literal in a line where it fails, each time to the line's end: a
# crafted line of 64 KiB holding ``Received disconnect from`` 2,600 times would cost some
# 85M steps unbounded; bounded, a character costs at most _AFTER / _AFTER_LITERAL steps.
_AFTER = 128
# Only for literals this long at least.
_AFTER_LITERAL = 8


def _ends_by_find(text: str, needle: Needle, pos: int) -> list[int]:
    """The ends of the lines holding one of the needle's literals, by str.find from ``pos``
    (the needle's first occurrence)."""
    word, literals = needle
    out: list[int] = []
    find = text.find
    starts = text.startswith
    # Literals at one offset (postfix's 11 ``reject: X from ``): one startswith per hit.
    literal, offset = tuple(lit for lit, _ in literals), literals[0][1] if literals else 0
    # At several (``_join_alone``): one per offset, in a loop (a generator left unfinished
    # by ``any`` is closed by an exception: dovecot +20M instructions).
    by_offset = _by_offset(needle) if _shifted(needle) else ()
    while pos >= 0:
        if by_offset:
            for off, held in by_offset:
                if pos >= off and starts(held, pos - off):
                    break
            else:
                pos = find(word, pos + 1)
                continue
        elif literal and (pos < offset or not starts(literal, pos - offset)):
            pos = find(word, pos + 1)
            continue
        end = find("\n", pos)
        if end < 0:
            out.append(len(text))
            break
        out.append(end)
        pos = find(word, end + 1)
    return out
