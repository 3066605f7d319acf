"""Entries holding none of a jail's literals stepped over in C (``_journalfile`` ``_scan``).

A jail without a route of starts (dovecot's, postfix's: ``journalbatch.read_batch``'s
general loop) reads most of its entries only to find that their MESSAGE holds none of
the prefilter's literals: a ``_next()``, a ``_get("MESSAGE")`` (a bytes object), the
literal scan (``literalscan``) and the loop's own steps, in Python. The native reader
(``journalnative``, a catch-up's archived parts) asks the same question in C instead:
``Reader._scan`` steps over the entries whose MESSAGE holds none of the literals (or
that hold no MESSAGE), and stands on the next one that holds one, or stops before any
entry it is not sure of (as ``_pass`` does), which the loop then reads as before.

The C searches each literal from one of its bytes, its *pivot* (``literalscan.pivots``:
the rarest, by the journal's own messages where a sample is given): per byte of the
message one look in a table, and at a pivot byte a comparison of each literal searched
from it. A message holds a literal exactly when the C says so: the literals are the
prefilter's own, stripped as ``literal_scan`` strips them.
"""

from __future__ import annotations

from collections.abc import Sequence

from journalban.sources.literalscan import pivots

# (table: bytes[256], literals, at: 2 bytes a literal): _scan's arguments but the count
# and the time (see the C's wanted_literal).
Literals = tuple[bytes, tuple[bytes, ...], bytes]
# The C's bounds: 255 literals (a table byte), offsets under 65,536 (2 bytes)
MOST_LITERALS = 255
LONGEST = 65_535


def scan_literals(
    literals: Sequence[str], sample: bytes = b"", counts: dict[int, int] | None = None
) -> Literals | None:
    """``_scan``'s table of ``literals`` (a prefilter); None where the scan does not apply
    (as ``literal_scan``: no literal, one not ASCII or empty once stripped) or the C's
    bounds are passed."""
    if not literals or not all(literal.isascii() for literal in literals):
        return None
    ordered = sorted({literal.strip().encode() for literal in literals}, key=len, reverse=True)
    if b"" in ordered or len(ordered) > MOST_LITERALS or len(ordered[0]) > LONGEST:
        return None
    at = pivots(ordered, sample, counts)
    # Those searched from the same byte together: the C reads them from the table's index on
    # while their pivot is that byte.
    by_pivot = sorted(ordered, key=lambda literal: (literal[at[literal]], literal))
    table = bytearray(256)
    for index, literal in enumerate(by_pivot):
        byte = literal[at[literal]]
        if not table[byte]:
            table[byte] = index + 1
    offsets = b"".join(at[literal].to_bytes(2, "little") for literal in by_pivot)
    return bytes(table), tuple(by_pivot), offsets


def holds(message: bytes, scan: Literals) -> bool:
    """What ``_scan`` tells of ``message``, in Python (the tests' model of the C)."""
    table, literals, at = scan
    for j, byte in enumerate(message):
        k = table[byte] - 1
        while 0 <= k < len(literals):
            literal, off = literals[k], int.from_bytes(at[2 * k : 2 * k + 2], "little")
            if off >= len(literal) or literal[off] != byte:
                break
            if off <= j and message[j - off : j - off + len(literal)] == literal:
                return True
            k += 1
    return False
