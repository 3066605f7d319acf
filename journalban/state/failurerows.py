"""A jail's pending failures from its ``failure_log`` rows, a damaged row skipped and counted.

Each committed batch appends one row: the networks it cleared (banned, so
their older failures no longer count; format 4 packs them, ``cleared_text``)
and the failures it counted, as JSON lists. At start they are read back, oldest first, into the per-address
counters. A row a hand or a disk left as something else (not JSON, a failure
that is not [network text, finite time]) raised at start, and the agent
exited; now each of its two lists is read on its own (a readable ``cleared``
still clears), the unreadable one skipped, and the count named in a warning.
"""

from __future__ import annotations

import json
import logging
import math
from collections.abc import Iterable

from journalban.state.detection import UNREADABLE
from journalban.state.detectorlog import PACKED, SEP

log = logging.getLogger("journalban.state")


def pending_failures(rows: Iterable[tuple[object, object]], jail: str) -> list[tuple[str, float]]:
    """(network text, time) of the failures still counted, oldest first, from a jail's
    ``(cleared, failures)`` rows in the order they were written."""
    times: dict[str, list[float]] = {}
    skipped = 0
    for cleared, failures in rows:
        try:
            gone = networks(cleared)
        except UNREADABLE:
            skipped += 1
        else:
            for network in gone:
                times.pop(network, None)
        try:
            found = _failures(failures)
        except UNREADABLE:
            skipped += 1
            continue
        for network, when in found:
            times.setdefault(network, []).append(when)
    if skipped:
        log.warning(
            "unreadable failure rows: %d stored list(s) of jail %s's failure log could not be "
            "read and were skipped", skipped, jail,
        )  # fmt: skip
    pending = [(network, when) for network, spent in times.items() for when in spent]
    pending.sort(key=lambda f: f[1])
    return pending


def cleared_text(cleared: list[str]) -> str:
    """A batch's cleared networks as stored (format 4): ``PACKED`` and the texts with
    ``SEP`` between them (a network's text holds neither); none, or a text holding
    ``SEP``, as a JSON list (as formats 0 to 3 wrote them)."""
    if cleared:
        text = SEP.join(cleared)
        if text.count(SEP) == len(cleared) - 1:
            return PACKED + text
    return json.dumps(cleared)


def networks(text: object) -> list[str]:
    """A row's cleared networks (``cleared_text``). Raises: ValueError, TypeError (not a
    list of texts)."""
    if type(text) is str and text[:1] == PACKED:
        return text[1:].split(SEP)
    found = json.loads(text)  # type: ignore[arg-type]  # (not text: TypeError, skipped)
    if type(found) is not list or ({*map(type, found)} - _STR):
        raise ValueError(f"not a list of networks: {text!r:.80}")
    return found


def _failures(text: object) -> list[tuple[str, float]]:
    found = json.loads(text)  # type: ignore[arg-type]
    if type(found) is not list:
        raise ValueError(f"not a list of failures: {text!r:.80}")
    out = []
    for network, when in found:  # (not pairs: ValueError or TypeError, skipped)
        # (a time that is text or null fails the comparison with TypeError, NaN is not between)
        if type(network) is not str or not -_INF < when < _INF:
            raise ValueError(f"not a failure: {[network, when]!r:.80}")
        out.append((network, float(when)))
    return out


_STR = {str}
_INF = math.inf
