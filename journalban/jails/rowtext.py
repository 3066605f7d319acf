"""Detector values as the JSON text of their state rows, without ``json.dumps``.

Every failure changes a row or two (an address's buckets, a prefix's
networks) and each is encoded at the next commit: ``json.dumps`` costs a
Python call chain per value, more than the value's text. These give the same
text as ``json.dumps`` for the two shapes detectors keep (checked against it
in tests/unit/test_row_text.py), and hand anything else to it.

A key is written by ``quoted``: json.dumps's own quoting of a string (its C
function: the quotes, escapes and ``\\u`` forms of ``ensure_ascii``), so any
key is written as json.dumps writes it, with one scan in C. (A check that the
key needs no escaping, ``frozenset.issuperset``, cost three times as much: a
prefix's row on every new prefix of a flood.)
"""

from __future__ import annotations

import json
from collections.abc import Callable
from json.encoder import encode_basestring_ascii
from math import isfinite

# A string as json.dumps writes it (ensure_ascii, the default): quoted and escaped.
quoted: Callable[[str], str] = encode_basestring_ascii


def ints_text(values: list[int]) -> str:
    """``json.dumps(values)`` for a list of ints (the buckets' flat pairs): a list's
    ``str`` is that text for ints (``int.__repr__``, ", " between), a third faster."""
    return str(values)


def times_text(times: dict[str, float]) -> str:
    """``json.dumps(times)`` for finite times (an account's or a prefix's networks); a time
    that is not finite goes through ``json.dumps``."""
    parts = []
    for key, when in times.items():
        if not isfinite(when):
            return json.dumps(times)
        parts.append(f"{quoted(key)}: {when!r}")
    return "{" + ", ".join(parts) + "}"


def number_text(value: float) -> str:
    """``json.dumps(value)`` for a finite float or an int: its ``repr`` (a time, an end of hold)."""
    if type(value) in (float, int) and isfinite(value):
        return repr(value)
    return json.dumps(value)


def time_text(key: str, when: float) -> str:
    """``times_text({key: when})``, without the dict (a prefix where one network failed)."""
    if not isfinite(when):
        return json.dumps({key: when})
    return f"{{{quoted(key)}: {when!r}}}"
