"""A needle's first occurrence in a text: by the C library's ``memmem`` in an ASCII
text, else by ``str.find`` through a part of the needle (``_probe``).

``str.find`` (CPython's default search) tests the character under the
needle's last one and, where it differs, skips by one or by the needle's
length after a 64-bit bloom test of the next character: a needle of many
letters fills the bloom, and a common last one (``because``'s ``e``) stops it
at most places. glibc's ``memmem`` shifts by a table of the needle's
character pairs: on the sshd corpora a pass for a long needle found nowhere
(``not allowed because``, ``refused connect from``, ``llegal user``) costs
about half of ``str.find``'s (35 MB: 7.8 -> 3.6 ms, 7.5 -> 4.6, 11.8 -> 3.4).
Most of the file scan's needles occur in no text, so each costs such a pass.

Only for ASCII texts (``str.isascii`` is a flag): their UTF-8 bytes are their
characters, so a byte offset is the character's. Without ``memmem`` (another
C library) ``ascii_text`` is None and ``first_index`` keeps to ``str.find``.
"""

from __future__ import annotations

import functools
import os
import sys
from collections.abc import Callable, Sequence
from typing import cast

from journalban.libc import libc_function

_MemMem = Callable[[int, int, bytes, int], int | None]


@functools.cache
def _memmem() -> _MemMem | None:
    """The C library's ``memmem`` (None: it has none), looked up when first asked.

    ``ctypes`` is imported then: a journal reader child whose route decides (sshd's
    jail) never asks, and ``ctypes`` was 0.2 MB of its memory (issue 19).
    """
    import ctypes

    found = libc_function("memmem")
    if found is None:
        return None
    found.restype = ctypes.c_void_p
    found.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_char_p, ctypes.c_size_t]
    return cast(_MemMem, found)


@functools.cache
def _ascii_offset() -> int | None:
    """Where a compact ASCII ``str``'s characters begin, from its ``id`` (CPython's
    ``PyASCIIObject`` header: ``sys.getsizeof("")`` less the terminating NUL), once seen to
    hold on a string made here; None: not so in this interpreter."""
    import ctypes  # loaded by _memmem already

    offset = sys.getsizeof("") - 1
    sample = "".join(("memmem ", str(os.getpid()), " probe"))  # made at run time, compact
    if sys.implementation.name != "cpython" or sys.getsizeof(sample) != offset + len(sample) + 1:
        return None
    # Within the sample's own allocation whatever its layout: offset + len + 1 bytes.
    seen = ctypes.string_at(id(sample) + offset, len(sample) + 1)
    return offset if seen == sample.encode("ascii") + b"\0" else None


class AsciiText:
    """An ASCII text's bytes, searched by ``memmem``: ``find(needle)`` is
    ``text.find(needle)`` for an ASCII ``needle``.

    A compact ASCII ``str`` (every text read from a file) holds its characters as those
    bytes, one per character and NUL-terminated: ``memmem`` reads them in place
    (``_ascii_offset``), where an encoded copy cost a pass over every burst (dovecot's
    44.5 MB: about 45M instructions in the file reader child); any other ``str`` is
    encoded."""

    __slots__ = ("_base", "_memmem", "_raw", "_size")

    def __init__(self, text: str, memmem: _MemMem) -> None:
        import ctypes  # loaded by _memmem already

        offset = _ascii_offset() if type(text) is str else None
        # Compact ASCII: its size is the header's and one byte a character and the NUL.
        if offset is not None and sys.getsizeof(text) == offset + len(text) + 1:
            self._raw: str | bytes = text  # kept alive while memmem reads it
            self._base = id(text) + offset
        else:
            raw = text.encode("ascii")
            self._raw = raw
            self._base = ctypes.cast(ctypes.c_char_p(raw), ctypes.c_void_p).value or 0
        self._size = len(text)
        self._memmem = memmem

    def find(self, needle: str, start: int = 0) -> int:
        """``text.find(needle, start)`` for ``start`` from 0 to the text's length; -1
        outside (memmem must never be given a length that wraps around)."""
        if not 0 <= start <= self._size:
            return -1
        # The bytes live in self._raw while memmem reads them.
        at = self._memmem(self._base + start, self._size - start, _encoded(needle), len(needle))
        return -1 if at is None else at - self._base


@functools.lru_cache(maxsize=512)
def _encoded(needle: str) -> bytes:
    return needle.encode("ascii")


def ascii_text(text: str) -> AsciiText | None:
    """``text``'s bytes for ``memmem``; None: not ASCII, or no ``memmem`` here."""
    if not text.isascii():
        return None
    memmem = _memmem()
    return None if memmem is None else AsciiText(text, memmem)


# Characters of log text from the most common on (a rough order: it only steers the
# speed); any other (capitals, most punctuation) is rarer than all of them.
_COMMON = " etaoinsrhldcu.0123456789mpfgywb,v:-k/=[]()"
# Only words shorter than this have a probe (literals._LONG: str.find's two-way search).
_PROBED_BELOW = 12
# A probe is this long: str.find skips ahead by about its length where its last
# character is not in the text.
_PROBE_CHARS = 4


@functools.lru_cache(maxsize=512)
def _probe(word: str) -> tuple[str, int]:
    """A part of ``word`` that ``str.find`` passes over a text faster where ``word`` is
    absent, and its offset in ``word``; (word, -1): none.

    ``str.find`` (the default search, and two-way's shift table) tests the character
    under the needle's last one and skips when it is not in the needle: a common last
    character (``llegal user``'s ``r``, ``PAM:``'s ``:``) stops it at most places. The
    probe ends at the rarest character of the word (``lleg``, ``PAM``): absent, it says
    the word is absent after one faster pass (sshd-near-miss's 35 MB: 12.2 -> 6.3 ms and
    6.8 -> 4.7 ms); present, the word is searched from just before it. Only for words
    shorter than ``_PROBED_BELOW`` (two-way skips far enough on longer ones)."""
    if len(word) >= _PROBED_BELOW or len(word) < _PROBE_CHARS - 1:
        return word, -1

    def rarity(c: str) -> int:
        found = _COMMON.find(c)
        return len(_COMMON) if found < 0 else found

    end = max(range(2, len(word)), key=lambda k: (rarity(word[k]), -k))
    if rarity(word[end]) <= rarity(word[-1]) or word[end] == " ":
        return word, -1
    begin = max(0, end + 1 - _PROBE_CHARS)
    return word[begin : end + 1], begin


# A needle this long (and ASCII) is looked for by memmem where the text is ASCII
# (memfind): shorter ones through their probe with str.find, which costs less there.
_MEMMEM_CHARS = 8


def first_index(text: str, raw: AsciiText | None, word: str) -> int:
    """``text.find(word)``: by ``raw`` (the text's bytes) for a long ASCII word, else
    through the word's probe."""
    if raw is not None and len(word) >= _MEMMEM_CHARS and word.isascii():
        return raw.find(word)
    probe, at = _probe(word)
    if at < 0:
        return text.find(word)
    # The first occurrence of the probe is at or after the word's first's.
    first = text.find(probe)
    return first if first < 0 else text.find(word, max(0, first - at))


# lines_holding gives up past one occurrence of its strings per this many characters.
_RARE = 1024


def lines_holding(
    text: str, raw: AsciiText | None, texts: Sequence[str], strings: Sequence[str], start: int
) -> list[int] | None:
    """The ends (newline or the text's end) of the lines from ``start`` on holding one of
    ``strings`` and one of ``texts``, each once; None where the strings come more often than
    once per ``_RARE`` characters (the caller's search of ``texts`` costs less then).

    A guard's strings (sshd's ``3: `` or ``14: ``) are rare where the needle's lines
    are dense (39,462 reason-11 ``Received disconnect`` lines on sshd-near-miss, 694
    lines with a reason of 3 or 14): a pass for each and a look at their lines cost
    less than a line regex over the needle's."""
    size = len(text)
    find = text.find if raw is None else raw.find
    budget = max(64, (size - start) // _RARE)
    out: set[int] = set()
    for string in strings:
        at = find(string, start) if start <= size else -1
        while at >= 0:
            budget -= 1
            if budget < 0:
                return None
            begin = text.rfind("\n", start, at) + 1 or start
            end = text.find("\n", at + len(string))
            if end < 0:
                end = size
            if end not in out and any(text.find(t, begin, end) >= 0 for t in texts):
                out.add(end)
            if end >= size:
                break
            at = find(string, end + 1)
    return list(out)
