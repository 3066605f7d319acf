"""Whether a catch-up of a jail with detectors is split: its first entries read alone.

A split catch-up (``journalsplit``) puts a helper beside the reader child so
that both cores read. That pays where the reading bounds the catch-up; with
detectors on, the agent's deciding may bound it instead (it spends more per
failure than a reader per entry), and a helper then only takes a core from
the agent. For such a jail (``Request.split_most_hits``) the child first hands
out ``PROBE_ENTRIES`` entries alone, counting the failures among them, and
splits the rest only where few enough were failures (``split_pays``); else it
reads on alone, as below ``split_at``. The probe's entries are handed out like
any others, in order, and the finder keeps what they taught its session
table: a helper forked after them starts from that table (``read_round``).
Standard library only (the reader child imports it).
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import TYPE_CHECKING

from journalban.sources.journalfiles import FileRange
from journalban.sources.journalsplit import PROBE_ENTRIES, group_entries, split_pays

if TYPE_CHECKING:
    from journalban.sources.journalworker import Follower


def probing(follower: Follower, groups: Sequence[Sequence[FileRange]], begin: int) -> bool:
    """Whether ``follower`` reads the catch-up's first entries alone before splitting it:
    once, for a jail that asks (``split_most_hits``) and archived files long enough to
    split (``groups`` from sequence number ``begin``: ``journalsplit.turns``'s bound)."""
    request = follower.request
    if request.split_most_hits is None or follower.probed or follower.channel is None:
        return False
    total = sum(group_entries(group, begin) for group in groups)
    return total >= max(request.split_at, 2)


def probe(follower: Follower) -> bool:
    """Hand out the catch-up's first ``PROBE_ENTRIES`` entries (or what there is); whether
    a split pays for the rest.

    Raises:
        BrokenPipeError: the parent is gone.
    """
    follower.probed = True
    read, handed, _ = probe_read(follower)
    return split_pays_after(follower, read, handed)


def probe_read(
    follower: Follower, before: int = 0, limit: int | None = None
) -> tuple[int, int, bool]:
    """Hand out entries from where the follower's reader stands until the probe's
    ``PROBE_ENTRIES`` were read (``before`` of them by another reader; a frame's worth
    beyond, at most), or ``limit`` (one frame's: the probe's first): (read, handed out,
    whether the reader ran out first).

    Raises:
        BrokenPipeError: the parent is gone.
    """
    read = handed = 0
    most = PROBE_ENTRIES - before if limit is None else min(limit, PROBE_ENTRIES - before)
    while read < most:
        frame = follower.read_batch()
        if frame is None:
            return read, handed, True
        follower.send(frame)
        follower.sent_at = time.monotonic()
        read += frame.read
        # (with a finder the frame carries its hits, and no messages)
        handed += len(frame.messages) if frame.hits is None else len(frame.hits)
        if follower.read_since_open >= follower.request.reopen_every:
            follower.reopen()
    return read, handed, False


def split_pays_after(follower: Follower, read: int, handed: int) -> bool:
    """Whether a split pays after a probe that read ``read`` entries and handed out ``handed``."""
    most = follower.request.split_most_hits
    return most is not None and split_pays(read, handed, most)
