"""Detector values as the JSON text of their state rows, without ``json.dumps``.

Every failure changes a row or two (an address's buckets, a prefix's
networks) and each is encoded at the next commit: ``json.dumps`` costs a
Python call chain per value, more than the value's text. These give the same
text as ``json.dumps`` for the two shapes detectors keep (checked against it
in tests/unit/test_row_text.py), and hand anything else to it.
"""

from __future__ import annotations

import json
import math


def ints_text(values: list[int]) -> str:
    """``json.dumps(values)`` for a list of ints (the buckets' flat pairs): a list's
    ``str`` is that text for ints (``int.__repr__``, ", " between), a third faster."""
    return str(values)


def times_text(times: dict[str, float]) -> str:
    """``json.dumps(times)`` for network texts and finite times (an account's or a prefix's
    networks). Network texts need no escaping; any other key goes through ``json.dumps``."""
    parts = []
    for key, when in times.items():
        if not PLAIN.issuperset(key) or not math.isfinite(when):
            return json.dumps(times)
        parts.append(f'"{key}": {when!r}')
    return "{" + ", ".join(parts) + "}"


def number_text(value: float) -> str:
    """``json.dumps(value)`` for a finite float or an int: its ``repr`` (a time, an end of hold)."""
    if type(value) in (float, int) and math.isfinite(value):
        return repr(value)
    return json.dumps(value)


def time_text(key: str, when: float) -> str:
    """``times_text({key: when})``, without the dict (a prefix where one network failed)."""
    if not PLAIN.issuperset(key) or not math.isfinite(when):
        return json.dumps({key: when})
    return f'{{"{key}": {when!r}}}'


PLAIN = frozenset("0123456789abcdefABCDEF.:/")
