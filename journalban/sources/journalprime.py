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

from journalban.sources.journalwire import cursor_realtime_usec

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

    Only the lines holding a session literal are fed to the table (as the
    finder feeds them), with their time and session key; nothing is handed
    out and the follower's reader is left as it was.
    """
    gate, field = follower.gate, follower.request.session_field
    if gate is None or field is None or not files:
        return
    try:
        reader = follower.open_files(files)
    except OSError:  # vacuumed meanwhile
        return
    try:
        begin = window_start(reader, first)
        if begin is None:
            return
        reader.seek_cursor(begin)
        stop, stop_usec = first or "", None if first is None else cursor_realtime_usec(first) or 0
        next_entry, get, realtime = reader._next, reader._get, reader._get_realtime

        def when() -> float:
            return realtime() / 1e6  # the entry's own time, as the readers' (journalbatch)

        while next_entry():
            if stop_usec is not None and realtime() >= stop_usec and reader.test_cursor(stop):
                break
            try:
                raw = get("MESSAGE")
            except KeyError:
                continue
            gate.learn(raw, get, field, when)
    finally:
        reader.close()
