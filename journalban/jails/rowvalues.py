"""What a detector's stored row must hold, checked as the detector is restored from it.

A row of the right shape can still hold what no detector writes (a hand, a
disk): a bucket list of strings, NaN or negative counts, an end of hold that
is text or NaN, networks that are no network text. Loaded, such a value raised
TypeError or ValueError later, in the middle of a batch being decided, or made
the detector misbehave quietly (a NaN end of attack mode never starts one
again, an infinite one bans every failing address for ever, a network that is
no text is never banned). Each check raises ``DamagedRow``, a ValueError:
``state.detection.restore_rows`` counts and skips the row with the warning it
gives a row that is not JSON (tests/unit/test_detector_row_values.py).

The checks cost a type test per number and ``inet_pton`` per network; the rows are
decoded by ``json_value``, which saves more than that (docs/detection.md).
"""

from __future__ import annotations

import json
import math
import socket
from collections.abc import Callable, Iterable
from typing import Any

from journalban.addresses import stored_network
from journalban.errors import AddressError


def json_value(text: str) -> Any:
    """``json.loads(text)``, a third of its cost for the detectors' own texts: the C scanner
    at once, without ``loads``' Python around it (two whitespace matches, three calls:
    650 ns of 850 a slow row). Any text it does not take whole (whitespace around it, not
    JSON) goes to ``json.loads``, which reads it or raises its own error."""
    try:
        found, end = _scan(text, 0)
        if end == len(text):
            return found
    except StopIteration:
        pass
    return json.loads(text)


class DamagedRow(ValueError):
    """A stored detector value of the right shape holding what its detector never writes."""


def bucket_list(value: object, *, empty: bool = False) -> list[int]:
    """``value`` when it is a bucket list as ``jails.buckets`` keeps it: ints in (bucket,
    count) pairs, buckets increasing, counts at least 1 (``empty``: no pair at all is
    allowed too, as attack mode's after it started). Not bounded in length: failures out
    of order keep newer buckets than the window of the one counted (jails.buckets)."""
    if type(value) is list and len(value) == 2:  # one bucket (most keys): no set, no sort
        bucket, count = value
        if type(bucket) is int and type(count) is int and count >= 1:
            return value
    if type(value) is not list or len(value) % 2:
        raise DamagedRow(f"not a bucket list: {value!r:.80}")
    if not value:
        if empty:
            return value
        raise DamagedRow("an empty bucket list")
    if {*map(type, value)} != _INT:  # (bool is not int here: true/false are no count)
        raise DamagedRow(f"a bucket list holding other than integers: {value!r:.80}")
    if min(value[1::2]) < 1:
        raise DamagedRow(f"a bucket count below 1: {value!r:.80}")
    buckets = value[::2]
    if sorted({*buckets}) != buckets:
        raise DamagedRow(f"buckets not in increasing order: {value!r:.80}")
    return value


def finite_time(value: object) -> float:
    """``value`` as a time (or an end of hold): a JSON number, finite (no bool, no text)."""
    if type(value) is float:
        if math.isfinite(value):
            return value
    elif type(value) is int:
        try:
            return float(value)
        except OverflowError:
            pass
    raise DamagedRow(f"not a finite time: {value!r:.80}")


def network_text(text: object) -> str:
    """``text`` when it is a network as the agent writes it ("a.b.c.d/32", "2001:db8::/64")."""
    if type(text) is str:
        tail = text[-3:]
        try:  # the agent's own keys (nearly every network) checked in C
            if tail == "/32":
                socket.inet_pton(socket.AF_INET, text[:-3])
                return text
            if tail == "/64" and socket.inet_pton(socket.AF_INET6, text[:-3])[8:] == _ZERO64:
                return text
        except OSError:
            pass  # an IPv6 /32, or not an address: the general way below
        try:
            stored_network(text, remember=False)
            return text
        except (AddressError, ValueError):
            pass
    raise DamagedRow(f"not a network: {text!r:.80}")


def network_times(value: object) -> dict[str, float]:
    """``value`` when it is {network text: finite time} (an account's or a prefix's networks)."""
    if type(value) is not dict:
        raise DamagedRow(f"not a map of networks: {value!r:.80}")
    for network, when in value.items():
        network_text(network)
        if type(when) is not float or not -_INF < when < _INF:  # (NaN is not between)
            value[network] = finite_time(when)  # an int is a time too; anything else raises
    return value


def newest_at_most(now: float, times: Iterable[float]) -> float:
    """The newest of a detector's stored ``times``, at most ``now`` (``now`` for none): what
    a restore keeps is judged from it. The agent reads on from the position committed with
    those rows, and the lines there are as old as they are (a backlog: a restart while
    catching up, a start after a downtime), however old by the clock. (A NaN newest: ``now``.)"""
    newest = max(times, default=now)
    return newest if newest < now else now


_INT = {int}
# (text, index) -> (value, end): the decoder's own scanner (an attribute typeshed omits)
_scan: Callable[[str, int], tuple[Any, int]] = json.JSONDecoder().scan_once  # type: ignore[attr-defined]
_INF = math.inf
_ZERO64 = bytes(8)  # a /64's host half
