"""Session tables across the handovers of a split catch-up (``journalworker.read_round``).

The reader child and its forked helper each keep the jail's session table
(``matching.sessions``: an address taught by one line of a process, counted
by a later line of it). A session taught in one reader's share and counted in
the other's would be missed by the second. So before a reader reads on after
the other's share, its table is taught what the entries before that point
taught: the last ``PRIME_SECONDS`` of entries before it (the table forgets a
session after as long), at most ``PRIME_ENTRIES``, are read through the finder
and nothing of them is handed out. The entries are read from archived files
only, which nothing is appended to, so the window ends exactly where asked.
Standard library only (the reader child imports it).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from journalban.sources.journalworker import Follower

PRIME_SECONDS = 3600.0  # matching.sessions.SESSION_TTL
PRIME_ENTRIES = 50_000


def window_start(reader: Any, first: str | None) -> str | None:
    """The cursor of the window's first entry: the window ends before ``first`` (None: with
    the files' last entry); None when the window is empty."""
    if first is not None:
        reader.seek_cursor(first)
        if not reader._next() or not reader.test_cursor(first) or not reader._previous():
            return None
    else:
        reader.seek_tail()
        if not reader._previous():
            return None
    # On the window's last entry: back to PRIME_SECONDS before it, PRIME_ENTRIES at most.
    until = reader._get_realtime() - int(PRIME_SECONDS * 1e6)
    count = 1
    while count < PRIME_ENTRIES and reader._previous():
        if reader._get_realtime() < until:
            reader._next()  # older than the window: back on its first entry
            break
        count += 1
    cursor: str = reader._get_cursor()
    return cursor


def prime(follower: Follower, files: Sequence[str], first: str | None) -> None:
    """Teach ``follower``'s session table the window before ``first`` in ``files`` (archived).

    Nothing is handed out and the follower's reader, cursor and stop are as before.
    """
    if follower.gate is None or follower.find_hits is None or not files:
        return
    saved = (follower.reader, follower.files, follower.cursor, follower.read_since_open)
    stop = follower.stop
    follower.files = list(files)
    try:
        follower.reader = follower._open()
    except OSError:  # vacuumed meanwhile
        follower.reader, follower.files, follower.cursor, follower.read_since_open = saved
        return
    try:
        begin = window_start(follower.reader, first)
        if begin is not None:
            follower.reader.seek_cursor(begin)
            follower.stop_before(first)
            while follower.read_batch() is not None:
                pass  # the finder's table learns; the hits were handed out by the other reader
    finally:
        follower.reader.close()
        follower.reader, follower.files, follower.cursor, follower.read_since_open = saved
        follower.stop_before(stop)
