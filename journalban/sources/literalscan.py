"""The reader child's prefilter: does a raw MESSAGE hold any of the filter's literals?

Python's ``re`` searches an alternation of literals by trying the whole
alternation at every position whose byte can start one of them: with
literals starting with common letters (``a``, ``p``, ``t``, ``u``...) that is
a third of a message's positions, and the scan costs more than reading the
entry. Each literal is searched here from its rarest byte instead (its
*pivot*): the alternation starts with the pivots, and a lookbehind checks the
bytes before it, so ``re`` stops only where a rare byte is. The pattern finds
exactly the messages holding a literal, as ``b"|".join(literals)`` would
(``tests/unit/test_literal_scan.py`` checks both on every filter); on the
benchmark corpora it costs 10-35% less, and less again with the rarest bytes
counted in a sample of the journal's own messages (``sample_messages``).
Standard library and systemd-python only: the reader child imports it.
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from journalban.sources.sdreader import Reader

# Bytes of log messages from the most common on; any byte not here (capitals,
# most punctuation) is rarer than all of them. A rough English and log order:
# it only steers the speed, never the result.
COMMON_BYTES = b" etaoinsrhldcu.0123456789mpfgywb,v:-k/=[]()"
# Read from the journal's end when the child starts: which bytes its messages hold
# most (about 2 ms).
SAMPLE_ENTRIES = 1000


def weight(byte: int, counts: dict[int, int] | None) -> int:
    """How common ``byte`` is: its count in the sample, else its place in ``COMMON_BYTES``."""
    if counts is not None:
        return counts.get(byte, 0)
    found = COMMON_BYTES.find(bytes((byte,)))
    return 0 if found < 0 else len(COMMON_BYTES) - found


def pivots(
    literals: Sequence[bytes], sample: bytes = b"", counts: dict[int, int] | None = None
) -> dict[bytes, int]:
    """Each literal's pivot (an offset in it): together, bytes as rare as can be.

    ``re`` stops wherever a message holds any of the pivot bytes, so what counts is
    how often all of them together occur: a greedy cover picks the byte that stands
    for the most literals not yet covered per occurrence in ``sample`` (by
    ``COMMON_BYTES`` without one), until every literal holds a picked byte. ``counts``:
    the sample's byte counts found so far (filled here): a second scan of the same
    sample counts no byte twice (34 passes over 120 KB for dovecot's literals).
    """
    if sample:
        if counts is None:
            counts = {}
        for byte in set(b"".join(literals)) - counts.keys():
            counts[byte] = sample.count(byte)
    else:
        counts = None
    uncovered = set(literals)
    picked: list[int] = []
    while uncovered:
        candidates = set(b"".join(uncovered))
        best = max(
            sorted(candidates),
            key=lambda b: (
                sum(1 for lit in uncovered if b in lit) / (weight(b, counts) + 1),
                -weight(b, counts),
            ),
        )
        picked.append(best)
        uncovered = {lit for lit in uncovered if best not in lit}
    found: dict[bytes, int] = {}
    for literal in literals:
        byte = min((b for b in picked if b in literal), key=lambda b: weight(b, counts))
        found[literal] = literal.index(byte)
    return found


def pivoted(literal: bytes, at: int) -> bytes:
    """A pattern matching exactly ``literal``, starting at its byte ``at``."""
    head = re.escape(literal[at : at + 1])
    # The lookbehind (fixed width) checks the bytes before the pivot, the pivot included.
    behind = b"(?<=" + re.escape(literal[: at + 1]) + b")" if at else b""
    return head + behind + re.escape(literal[at + 1 :])


def literal_scan(
    literals: Sequence[str], sample: bytes = b"", counts: dict[int, int] | None = None
) -> re.Pattern[bytes] | None:
    """A bytes regex finding any literal in a raw MESSAGE; None hands out every entry.

    ``sample``: messages like those to be scanned, which tell the rarest bytes
    (``counts``: its byte counts, shared with other scans of it, see ``pivots``).

    Only ASCII literals: an ASCII byte survives decoding with errors="replace"
    unchanged, so the raw bytes hold a literal exactly when the text does.
    """
    if not literals or not all(literal.isascii() for literal in literals):
        return None
    # A message holding a literal holds it without its outer blanks (and a
    # blank is the commonest byte of all).
    ordered = sorted({literal.strip().encode() for literal in literals}, key=len, reverse=True)
    if b"" in ordered:
        return None  # an empty literal is in every message
    at = pivots(ordered, sample, counts)
    return re.compile(b"|".join(pivoted(literal, at[literal]) for literal in ordered))


def sample_messages(reader: Reader, entries: int = SAMPLE_ENTRIES) -> bytes:
    """The MESSAGE bytes of the reader's last ``entries`` entries (it is left at its tail)."""
    reader.seek_tail()
    found: list[bytes] = []
    while len(found) < entries and reader._previous():
        with contextlib.suppress(KeyError):
            found.append(reader._get("MESSAGE"))
    return b"\n".join(found)


# The first look's stand-in for every pivot byte (see first_look).
_STOP = 0
# first_look pays where at most this share of messages holds a literal: it costs a
# translated copy of each message and, for those it finds, the exact scan as well.
SPARSE = 0.2


def sparse(scan: re.Pattern[bytes], sample: bytes) -> bool:
    """Whether few of the sample's messages hold a literal (at most ``SPARSE`` of them)."""
    messages = sample.split(b"\n")
    found = sum(1 for message in messages if scan.search(message) is not None)
    return bool(sample) and found <= SPARSE * len(messages)


def first_look(
    literals: Sequence[str], sample: bytes = b"", counts: dict[int, int] | None = None
) -> tuple[bytes, Callable[[bytes], re.Match[bytes] | None]] | None:
    """A cheaper first look at a message: ``(table, search)``, where
    ``search(raw.translate(table))`` is None only when ``raw`` holds none of the
    literals; ``literal_scan`` then says exactly (a message both find).

    ``re`` searches an alternation starting with several bytes by asking a
    generic set test at every byte of the message (about 45 instructions a
    byte); one starting with a single byte, with a tight loop. The table maps
    every pivot byte (``pivots``) to one byte (``_STOP``), and each literal,
    translated alike, is searched from its pivot: a message holding a literal
    holds it translated. At each stop the bytes after the pivot come first, so
    most alternatives fail on their first byte. None where one pivot serves
    every literal (``literal_scan`` is as fast) or no scan applies.
    """
    if not literals or not all(literal.isascii() for literal in literals):
        return None
    ordered = sorted({literal.strip().encode() for literal in literals}, key=len, reverse=True)
    if b"" in ordered:
        return None
    at = pivots(ordered, sample, counts)
    stops = {literal[at[literal]] for literal in ordered}
    if len(stops) < 2:
        return None
    table = bytes(_STOP if byte in stops else byte for byte in range(256))
    alternatives = []
    for literal in ordered:
        translated = literal.translate(table)
        rest = re.escape(translated[at[literal] + 1 :])
        behind = b"(?<=" + re.escape(translated) + b")" if at[literal] else b""
        alternatives.append(re.escape(bytes((_STOP,))) + rest + behind)
    return table, re.compile(b"|".join(alternatives)).search
