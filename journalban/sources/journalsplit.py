"""How a catch-up over archived journal files is shared between the reader child and its helper.

Both read at once, one per core (``journalworker.read_round``), and the agent
takes their frames in the journal's order, one reader's turn after the
other's. The shares are equal in *entries*, counted by sequence numbers (no
reading): the child reads its turns and then the files still written to
(``live``), the helper the rest. Each reader's share is cut into several turns
that alternate (``TURNS``), so that the agent decides one turn while the
other reader reads on, instead of finding one reader's whole share waiting
when the other's ends (a tail of its deciding on one core while the other
idles). Turns start and stop at sequence numbers (``Part``): a seqnum-only
cursor, at which sd-journal seeks to the jail's first entry at or after it,
so cuts fall inside files where they must and both readers agree on them
without reading. Standard library only (the child imports it).
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Sequence
from dataclasses import dataclass

from journalban.sources.journalfiles import FileRange

# A split covers at most this much journal file (about a million sshd entries). (The
# helper's frames that wait for their turn are bounded in the agent's memory by its
# stream, sources.journal.STREAM_LIMIT, and beyond it wait in the helper's pipe.)
ROUND_BYTES = 512 << 20


@dataclass(frozen=True)
class Part:
    """Entries of one group of files that one reader hands out in one go.

    ``start``: the cursor to seek to first (None: the files' head); ``stop``:
    the cursor of the first entry not to hand out (None: the files' end).
    ``helped``: read by the helper, which this reader hands over to.
    """

    files: tuple[str, ...]
    helped: bool = False
    start: str | None = None
    stop: str | None = None


# Turns per reader in a split round: more keep the agent busier while both
# read; each costs a reader opened and a handover (about a millisecond). A
# jail with sessions takes one turn each, the helper's first (``turns``): each
# reader keeps its own session table, so a session taught before a handover and
# counted after it is missed by the other reader (the fewer handovers, the fewer
# such sessions).
TURNS = 4
TURN_ENTRIES = 20_000  # at least, per turn
# A jail with detectors (``Request.split_most_hits``): the entries the child reads
# alone first, to tell whether the agent's deciding or the reading bounds the
# catch-up. With detectors the agent spends about 6 µs per failure handed out, a
# reader about 2.2 µs per jail entry (authlog-mixed's timeline, 2026-12-06; 8-11 and
# 2.5-3.5 µs before): where a third of the entries are handed out (sshd,
# authlog-mixed) the agent bounds it, and a helper only takes a core from it
# (authlog-mixed from the journal: one reader 0.245 s wall, split 0.287 s, medians of
# nine pairs); at an eighth (sshd-near-miss) the split wins.
PROBE_ENTRIES = 10_000
SPLIT_MOST_HITS = 0.2  # handed out per entry, at most, for a split with detectors


def split_pays(read: int, handed: int, most_hits: float) -> bool:
    """Whether a split pays after a probe that read ``read`` entries and handed out
    ``handed`` of them: only where the reading, not the agent's deciding, bounds it."""
    return read > 0 and handed <= most_hits * read


def group_entries(group: Sequence[FileRange], begin: int) -> int:
    """Entries of a group from sequence number ``begin`` on (all units: a stand-in for the jail's)."""
    first = max(min(r.first for r in group), begin)
    return max(0, max(r.last for r in group) - first + 1)


def turns(total: int, live: int, split_at: int, most: int = TURNS) -> list[tuple[int, int, bool]]:
    """The round's turns as (from, to, helped) offsets in its ``total`` entries; one unhelped
    turn when not worth a helper. ``live``: the entries the child reads after the round;
    ``most``: turns per reader at most."""
    if total < max(split_at, 2):
        return [(0, total, False)]
    mine = max(0, (total - live) // 2)
    if most == 1:
        # One turn each (a jail with sessions): the helper's first, then this child's,
        # which reads on into the files still written to. The helper then ends once its
        # share is read, not once the agent has taken it (its frames beyond the agent's
        # bound wait in its pipe: it would live to the end of the catch-up, 6 MB of the
        # tree's peak on sshd-near-miss), and this child's session table runs on from its
        # turn into those files.
        theirs = total - mine
        return [(0, theirs, True), (theirs, total, False)] if mine else [(0, total, True)]
    count = max(1, min(most, total // (2 * TURN_ENTRIES)))
    found: list[tuple[int, int, bool]] = []
    at = 0
    for index in range(1, count + 1):
        ends = ((index * mine + (index - 1) * (total - mine)) // count, index * total // count)
        for end, helped in zip(ends, (False, True), strict=True):
            if end > at and found and found[-1][2] == helped:
                found[-1] = (found[-1][0], end, helped)  # the other reader has no turn between
            elif end > at:
                found.append((at, end, helped))
            at = max(at, end)
    return found


def parts_of(
    groups: Sequence[Sequence[FileRange]],
    begin: tuple[str, int],
    start: str | None,
    live: int,
    split_at: int,
    most: int = TURNS,
) -> list[Part]:
    """The round's parts in the journal's order, each within one group of files.

    ``begin``: the sequence-number source and number of the round's first
    entry, ``start`` its cursor (None: the first group's head); ``most``:
    turns per reader at most.
    """
    seqnum_id, first = begin
    counts = [group_entries(group, first) for group in groups]
    parts: list[Part] = []
    for lo, hi, helped in turns(sum(counts), live, split_at, most):
        offset = 0
        for index, (group, count) in enumerate(zip(groups, counts, strict=True)):
            low, high = max(lo, offset), min(hi, offset + count)
            if low < high:
                head = max(min(r.first for r in group), first)
                begins = seqnum_cursor(seqnum_id, head + low - offset) if low > offset else None
                if begins is None and index == 0:
                    begins = start
                ends = (
                    seqnum_cursor(seqnum_id, head + high - offset)
                    if high < offset + count
                    else None
                )
                parts.append(Part(tuple(r.path for r in group), helped, begins, ends))
            offset += count
    return parts


def rounds(groups: list[list[FileRange]]) -> list[list[list[FileRange]]]:
    """Consecutive runs of groups of about ``ROUND_BYTES`` each (a split per run)."""
    found: list[list[list[FileRange]]] = [[]]
    size = 0
    for group in groups:
        group_size = files_size([r.path for r in group])  # vacuumed meanwhile: read later
        if found[-1] and size + group_size > ROUND_BYTES:
            found.append([])
            size = 0
        found[-1].append(group)
        size += group_size
    return found


def files_size(paths: Sequence[str]) -> int:
    """Bytes on disk of the files (those gone meanwhile count nothing)."""
    total = 0
    for path in paths:
        with contextlib.suppress(OSError):
            total += os.path.getsize(path)
    return total


def seqnum_cursor(seqnum_id: str, seqnum: int) -> str:
    """A cursor of a sequence number alone: sd-journal seeks to the first entry at or after it."""
    return f"s={seqnum_id};i={seqnum:x}"
