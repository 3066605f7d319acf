"""The journal reader child with the jail's matcher inside.

``python -m journalban.agent.journalreader`` is ``sources.journalworker``
with a finder of failures: it builds the jail's ``LineMatcher`` from the
request's ``matcher`` (a ``MatcherSpec``) and hands out only the failures of
each batch, with the cursor and count of the entries read. The agent then
only decides, while matching runs beside the reading on the other core.
"""

from __future__ import annotations

import sys
from collections.abc import Mapping
from typing import Any

from journalban.clock import SystemClock
from journalban.events import LineBatch
from journalban.matching.sessions import SessionTable
from journalban.matching.spec import MatcherSpec
from journalban.sources import journalworker
from journalban.sources.isolated import python_module

WORKER = python_module("journalban.agent.journalreader")


def finder(spec: Mapping[str, Any]) -> journalworker.FindHits:
    """The failures among a batch's candidate messages, found by the jail's matcher."""
    clock = SystemClock()
    data = dict(spec)
    stored = data.pop("session_rows", None) or []
    matcher = MatcherSpec.from_json(data).build(clock.now)
    rules = matcher.filter.fdef.sessions
    table = None
    if rules is not None:
        table = SessionTable(rules)
        table.restore(stored, clock.now())

    def find_hits(
        messages: list[str], times: list[float], keys: list[str | None]
    ) -> journalworker.FoundHits:
        batch = LineBatch("", messages, "", times, prefixed=False, read=len(messages))
        hits = matcher.hits(batch)
        changed: list[tuple[str, str | None]] = []
        if table is not None and keys:
            for message, when, key in zip(messages, times, keys, strict=True):
                if (hit := table.feed(message, key, when)) is not None:
                    hits.append(hit)
            changed = table.changes()
        now = clock.now()
        return (
            [h[0] for h in hits],
            [h[1] for h in hits],
            # A journal entry always has a time; ``now`` only stands in for the type.
            [now if h[2] is None else h[2] for h in hits],
            [h[3] for h in hits],
            [h[4] for h in hits],
            changed,
        )

    return find_hits


if __name__ == "__main__":
    sys.exit(journalworker.main(finder))
