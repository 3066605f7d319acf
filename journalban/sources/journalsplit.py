"""How a catch-up over archived journal files is shared between the reader child and its helper.

Both read at once, one per core (``journalworker.read_round``), and the agent
takes their frames in the journal's order. The catch-up's wall time is the
longer of the two shares, so they must be equal in *entries*: the child reads
from the start up to a cut, the helper from the cut to the end of the
archived files, and the child then reads on in the files still written to
(``live``). The cut falls inside a file where it must (a catch-up of one
archived file is shared too): entries are counted by their sequence numbers,
which need no reading, and the cut is the first of the jail's entries at or
after the sequence number that halves the work (``Part.stop`` for the child,
``Part.start`` for the helper). Standard library only (the child imports it).
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Sequence
from dataclasses import dataclass

from journalban.sources.journalfiles import FileRange

# The helper's frames wait in the parent's memory: a split covers at most this
# much journal file (about a million sshd entries, 10-40 MB of frames held).
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


@dataclass(frozen=True)
class Cut:
    """Where the helper's share of a round begins: group ``index``, from sequence number ``seqnum``."""

    index: int
    seqnum: int


def group_entries(group: Sequence[FileRange], begin: int) -> int:
    """Entries of a group from sequence number ``begin`` on (all units: a stand-in for the jail's)."""
    first = max(min(r.first for r in group), begin)
    return max(0, max(r.last for r in group) - first + 1)


def find_cut(
    groups: Sequence[Sequence[FileRange]], begin: int, live: int, split_at: int
) -> Cut | None:
    """Where the helper starts so that both read as many entries; None: not worth a helper.

    ``begin``: the sequence number of the first entry to hand out; ``live``:
    the entries this reader reads after the groups (files still written to).
    """
    counts = [group_entries(group, begin) for group in groups]
    total = sum(counts)
    if total < max(split_at, 2):
        return None
    mine = max(0, (total - live) // 2)  # this reader's share of the groups
    for index, (group, count) in enumerate(zip(groups, counts, strict=True)):
        if mine < count:
            return Cut(index, max(min(r.first for r in group), begin) + mine)
        mine -= count
    return None


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


def parts_of(
    groups: Sequence[Sequence[FileRange]], start: str | None, cut: Cut | None, at: str | None
) -> list[Part]:
    """The round's parts in order: the child's up to the cut, then the helper's.

    ``at``: the cursor of the jail's first entry at or after the cut's
    sequence number in its group (None: there is none, the helper starts with
    the next group). The first part seeks to ``start``.
    """
    parts: list[Part] = []
    for index, group in enumerate(groups):
        files = tuple(r.path for r in group)
        first = start if index == 0 else None
        if cut is None or index < cut.index:
            parts.append(Part(files, False, first))
        elif index > cut.index:
            parts.append(Part(files, True, first))
        elif at is None:  # nothing of the jail's from the cut on in this group
            parts.append(Part(files, False, first))
        else:  # the child's part may be empty (the cut is at its start): it stops at once
            parts += [Part(files, False, first, at), Part(files, True, at)]
    return parts
