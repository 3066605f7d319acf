"""A batch's failures decided in slices, so the event loop turns between them.

A journal batch holds up to 5,000 lines; deciding its failures in one piece
(the counter, the detectors, the bans an account under attack brings at once)
took 0.1-0.9 s of the loop under load with 100,000 bans, and every D-Bus
caller waited for it. Deciding the same hits in consecutive parts gives the
same outcome as the source handing them over as consecutive batches: only the
last part counts the batch's lines and carries its session rows; every part
carries the batch's position, written in the same transaction. The first part
carries the addresses the reader child parsed for them all (``LineBatch.addresses``).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator, Sequence
from typing import Final

from journalban.events import Hit, LineBatch

# Hits decided between two turns of the event loop.
DECIDE_SLICE: Final = 250


def hit_slices(
    batch: LineBatch, hits: Sequence[Hit], size: int = DECIDE_SLICE
) -> Iterator[LineBatch]:
    """``batch`` as parts of at most ``size`` hits each (``part.hits``), in order."""
    if len(hits) <= size:
        yield dataclasses.replace(batch, hits=hits)
        return
    last = (len(hits) - 1) // size * size
    for start in range(0, last, size):
        yield dataclasses.replace(
            batch, lines=(), times=(), read=0, unreadable=0, truncated=0, sessions=(),
            hits=hits[start : start + size], addresses=() if start else batch.addresses,
        )  # fmt: skip
    yield dataclasses.replace(batch, hits=hits[last:], addresses=())
