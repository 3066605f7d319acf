"""The collector during a start's catch-up: what the deciding keeps, frozen as it comes.

At start a source reads its backlog (the journal since the saved cursor, a file
since its saved offset) faster than the agent decides it: the decisions queue is
full and each batch waits for room. What the deciding builds meanwhile (bans,
addresses, the jails' counts: mostly tuples) lives on, and the collector's young
and middle collections walked each of those objects on its way to the oldest
generation: 5-9% of the agent's CPU on the sshd corpora from the journal (issue
19, parentcpu). While a source's batch had to wait for room, the agent is behind
that source: everything alive then is frozen (``gc.freeze``, cheap: the
generations' lists are joined, and the young count starts again), so no
collection walks it. Frozen objects are still freed by their reference counts;
only a cycle among them stays until the agent exits.

The agent is behind a source when a batch of it finds others queued before it, or
when the batch is full (``FULL_READ`` lines or more: a backlog's frames are, a
live log's gathered for 20 ms are not; the queue alone is empty whenever the
reader child is briefly slower than the deciding, and the deciding takes a group
of queued batches at a time). A source's catch-up ends once ``QUIET`` of its
batches in a row were not behind; once every source's has ended, nothing is frozen any more and the live
agent collects as before (cli.run's thresholds). Nothing is unfrozen: that would
give the collector back what ``restoring`` froze at start (a million objects and
more at 100,000 bans, a collection of them holding D-Bus callers for seconds), and
find next to nothing: once sshd's or sshd-flood's backlog was committed, one after
``gc.unfreeze`` found 23 unreachable objects, in 46 and 185 ms (docs/benchmarks.md, fixes16).
The cycles a catch-up can strand are bounded: once ``FREEZE_LIMIT`` objects have
been frozen by catch-ups, freezing stops, whatever a log keeps bringing.
"""

from __future__ import annotations

import asyncio
import gc
from typing import Any

from journalban.events import LineBatch

# Young objects at most put out of the collector's sight by catch-ups (sshd's backlog
# from the journal, 12,500 bans, freezes about 105,000; what a cycle among them keeps
# stays until the agent exits, so the bound is that of memory a log could strand).
FREEZE_LIMIT = 1_000_000
# Batches in a row that were not behind: the source's catch-up ended.
QUIET = 8
# Lines a batch stands for at least to be a backlog's (a backlog's journal frames read
# ``journalwire.DEFAULT_BATCH_SIZE`` entries, 2,000, after a first of 500 and one of
# 1,000; a file child's bursts 256 KB to 1 MB of lines).
FULL_READ = 1000


def behind(batch: LineBatch, queue: asyncio.Queue[Any]) -> bool:
    """Whether ``batch``, about to be queued, shows the agent behind its source."""
    return not queue.empty() or (batch.read if batch.read >= 0 else len(batch.lines)) >= FULL_READ


class CatchUps:
    """The catch-ups of the agent's sources, and the freezing during them."""

    def __init__(self, limit: int = FREEZE_LIMIT, quiet: int = QUIET) -> None:
        self._open: dict[str, int] = {}  # source -> its batches in a row that found no queue
        self._ended: set[str] = set()
        self._limit = limit
        self._quiet = quiet
        self._frozen = 0

    def started(self, key: str) -> None:
        """A source begins reading (its backlog first). A source started again after a
        failure, or added by a reload, catches up too, unless its first one ended."""
        if key not in self._ended:
            self._open.setdefault(key, 0)

    def queued(self, key: str, *, behind: bool) -> None:
        """A batch of ``key`` is queued; ``behind``: others were queued before it, not
        yet decided. Freezes what is alive while the source's catch-up is open."""
        quiet = self._open.get(key)
        if quiet is None:
            return
        quiet = 0 if behind else quiet + 1
        if quiet >= self._quiet:
            del self._open[key]
            self._ended.add(key)
            return
        self._open[key] = quiet
        if self._frozen >= self._limit:
            return
        # The young generation's count: the objects it holds, about (allocations less
        # deallocations since its last collection or freeze). Not ``gc.get_freeze_count``:
        # it walks every frozen object (2.5 ms a call at sshd-near-miss's size).
        self._frozen += max(gc.get_count()[0], 1)
        gc.freeze()

    def stopped(self, key: str) -> None:
        """A source stopped (a reload removed its jail): its catch-up, if open, ends."""
        self._open.pop(key, None)

    @property
    def catching_up(self) -> bool:
        return bool(self._open)

    @property
    def frozen(self) -> int:
        """Objects frozen by the catch-ups so far (young ones; what the middle and oldest
        generations held at the first freeze is not counted)."""
        return self._frozen
