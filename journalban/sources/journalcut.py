"""Journal files cut short: libsystemd 252 leaves them out of a directory reader, silently.

A journal file shorter than its header says (its header's size and arena's against the
file's size: a file cut by hand, by a full disk's repair, by a copy that stopped) is
refused by libsystemd 252 at open (``ENODATA``: ``journal_file_verify_header``), every
entry of it, even those before the cut: a reader of that file alone fails, and a
directory reader leaves the file out without an error, so its entries were neither read
nor counted. The reader child looks at the journal's files' headers (``pread``, never a
mapping) each time it opens its directory reader (``tell_cut``): each file cut that it has
not told yet is logged once at warning (while it is there, a reader child started again
tells it again, counting only what is after its position and after what an earlier child
counted: the agent keeps that, ``CUT`` frames, in the state), with how many of its entries after the position are lost
(by sequence numbers; for a file of another sequence-number source, by the entries'
times: all of them, or none), counted as unreadable in the next frame. The native reader
(journalnative) tells the files it finds cut itself (``note_damaged``), counting the
entries selected for the jail: not told twice. Standard library only (the reader child).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from typing import TYPE_CHECKING

from journalban.sources.journalfiles import cursor_seqnum, journal_files
from journalban.sources.journalshun import Header, entries_after, header_of, warn
from journalban.sources.journalwire import CUT, Frame, cursor_realtime_usec

if TYPE_CHECKING:
    from journalban.sources.journalworker import Follower


def tell_cut(follower: Follower, paths: Sequence[str] | None) -> None:
    """Log and count the files of ``paths`` (None: the request's directory's) cut short
    that ``follower`` has not told yet (``Follower.cut_told``: their identities), but what
    an earlier child counted of them (``Request.cut_counted``: up to their tail then), and
    tell the agent how far each is counted (a ``CUT`` frame; a child's first one, sent
    when anything was counted before, lists every file cut now: the agent forgets the
    others).

    Raises:
        BrokenPipeError: the parent is gone.
    """
    counted = follower.request.cut_counted
    told: list[str] = []
    for path, header in _untold(follower, paths):
        follower.cut_told.add(header.identity)
        lost = lost_after(header, follower.cursor, follower.request.since_usec)
        if header.identity in counted:  # (a file cut holding the journal's last entries)
            lost = min(lost, max(0, header.tail - counted[header.identity]))
        follower.lost += lost
        told.append(f"{header.identity} {header.tail}")
        warn(
            "journal file %s is shorter than its header says (cut, damaged): libsystemd does "
            "not read it at all; its %d entries after the position are lost, counted as "
            "unreadable; the other files are read on", path, lost)  # fmt: skip
    if told or (counted and not follower.cut_sent):
        follower.cut_sent = True
        follower.send(Frame(follower.cursor or "", 0, kind=CUT, messages=told))


def newly_cut(follower: Follower, paths: Sequence[str] | None) -> bool:
    """Whether a file of ``paths`` (None: the request's directory's) is cut short and not
    told yet: one cut since the follower's reader opened it, its pages past the new end
    mapped maybe (a read there is SIGBUS)."""
    return any(True for _ in _untold(follower, paths))


def _untold(follower: Follower, paths: Sequence[str] | None) -> Iterator[tuple[str, Header]]:
    request = follower.request
    if paths is None:
        if request.namespace is not None:
            return
        paths = journal_files(request.directory)
    for path in sorted(paths or ()):
        header = header_of(path)
        if header is not None and header.cut and header.identity not in follower.cut_told:
            yield path, header


def lost_after(header: Header, cursor: str | None, since_usec: int) -> int:
    """How many of a file's entries come after ``cursor`` (None: those since ``since_usec``,
    a first start's), by its header alone (``journalshun.entries_after``): by sequence
    numbers for a file of the cursor's source, by the entries' times (the cursor's) for
    another's."""
    if cursor is None:
        return entries_after(header, None, since_usec)
    return entries_after(header, cursor_seqnum(cursor), cursor_realtime_usec(cursor) or 0)


def encode_counted(counted: Mapping[str, int]) -> str:
    """The state's row of the files cut whose loss was counted (empty: none, the row
    deleted); JSON, an identity's last sequence number counted."""
    import json

    return json.dumps(dict(sorted(counted.items()))) if counted else ""


def decode_counted(key: str, text: str) -> dict[str, int]:
    """The row as stored (a damaged one: none, logged; their loss may be counted again)."""
    import json

    try:
        rows = json.loads(text)
        return {str(identity): int(tail) for identity, tail in rows.items()}
    except (ValueError, TypeError, AttributeError):
        warn("source %s: the journal files cut short it counted, as stored (%r), cannot be "
             "read: forgotten", key, text[:120])  # fmt: skip
        return {}
