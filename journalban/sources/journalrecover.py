"""The reader child's start after children died on an entry: step over it, or skip it.

libsystemd 252 aborts on a damaged zstd-compressed DATA object (its
``decompress_startswith_zstd`` assertion) and a file cut under its mapping is
SIGBUS: a reader child that reaches such an entry dies, and one started again
from the committed cursor dies at the same entry. The agent's restart policy
(``agent.sourcing.Restarts``) tells the next child, in its request:

- ``step``: hand the first entries after the cursor out one per frame, so that
  the agent commits each one and, should this child die too, the committed
  cursor is the entry before the one that killed it;
- ``skip``: when a stepping child died there again without handing anything,
  pass over the entry after the cursor without reading any of its fields (a
  ``SKIPPED`` frame with its cursor and file, which the agent logs and counts
  as an unreadable line), then step on;
- ``shun`` (``Request.shun``, ``journalshun``): when the skipping child died
  too, moving to that entry, the file holding it is never opened again.

Such a child reads its catch-up alone (no helper: nothing read back before its
position to prime one), and does not sample the journal's tail (journalworker).
Neither touches the loop of a child started normally. Standard library and
systemd-python only (it runs in the reader child).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from journalban.sources.journalbatch import FIRST_ENTRIES
from journalban.sources.journalfiles import cursor_seqnum, journal_files
from journalban.sources.journalshun import header_of
from journalban.sources.journalwire import SKIPPED, Frame

if TYPE_CHECKING:
    from journalban.sources.journalworker import Follower


def recover(follower: Follower) -> None:
    """Skip and step as the request says, from where ``seek_start`` placed the reader.

    Raises:
        BrokenPipeError: the parent is gone.
    """
    request = follower.request
    # Its catch-up read alone: no helper, whose share would be primed by reading back up to
    # an hour of entries before it (journalprime), over the one that killed a reader maybe.
    follower.probed = follower.unsplit = True
    if request.skip:
        skip_one(follower)
    if request.step:
        step(follower, request.step)


def skip_one(follower: Follower) -> None:
    """Pass over the next entry: only its cursor is read (from the entry's own header, not
    its fields, where the damage that kills a reader lies)."""
    reader = follower.reader
    if not reader._next():
        return  # nothing after the cursor (any more): nothing to skip
    cursor = reader._get_cursor()
    follower.cursor = cursor
    follower.read_since_open += 1
    path = file_of(cursor, follower.request.directory)
    follower.send(Frame(cursor, 1, 1, kind=SKIPPED, messages=[path]))


def step(follower: Follower, entries: int) -> None:
    """Hand out up to ``entries`` entries one frame each."""
    done = 0
    while done < entries:
        follower.limit = 1
        frame = follower.read_batch()
        if frame is None:
            break
        follower.send(frame)
        done += frame.read
    follower.limit = min(follower.request.batch_size, FIRST_ENTRIES)


def file_of(cursor: str, directory: str | None) -> str:
    """The journal file(s) whose sequence numbers hold the entry at ``cursor`` ("" when none
    does; "A or B" for files sharing a sequence-number source, as journald's system and user
    files do). Only the files' headers are read, with pread: not through libsystemd, nor a
    mapping of a file that may be the damaged one."""
    found = cursor_seqnum(cursor)
    if found is None:
        return ""
    seqnum_id, seqnum = found
    holding = [path for path in sorted(journal_files(directory) or ())
               if holds(path, seqnum_id, seqnum)]  # fmt: skip
    return " or ".join(holding)


def holds(path: str, seqnum_id: str, seqnum: int) -> bool:
    """Whether the journal file's header says it holds that sequence number of that source."""
    found = header_of(path)
    return found is not None and found.source == seqnum_id and found.head <= seqnum <= found.tail
