"""Journal files a source's reader children never open: shunned after readers died moving in
them (``agent.sourcing.Restarts``).

When even a child told to skip the entry after the committed cursor dies with
nothing handed, it died moving to that entry (a damaged entry header or entry
array, a page that faults, a damaged object libsystemd decompresses looking a
match up): the file holding that entry is found by the files' headers alone,
read with ``pread`` (never through libsystemd, nor a mapping), and shunned: the
rest of it is lost, logged and counted as unreadable. A skip in a file where
``SKIPS_PER_FILE`` entries were skipped already (entries sharing one damaged
data object each kill a reader, four restarts each) shuns it as well. The
reader child reads the directory as the list of its other files
(``unshunned``). A file is shunned by its identity (``identity_of``: its header's
file_id, sequence-number source and first sequence number), not its path: journald
renames the file it rotates, and writes a new one at the old path. Standard library
only (the child imports it when shunning).
"""

from __future__ import annotations

import os
import struct
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from journalban.sources.journalfiles import (
    JOURNAL_SIGNATURE,
    STATE_ARCHIVED,
    cursor_seqnum,
    journal_files,
)
from journalban.sources.journalwire import cursor_realtime_usec

if TYPE_CHECKING:
    import tempfile

    from journalban.sources.journalwire import Request
# Entries of one file skipped (each killed its readers) before the next one found there
# shuns the rest of the file.
SKIPS_PER_FILE = 2


@dataclass(frozen=True)
class Shunned:
    """A journal file shunned: its identity (``identity_of``), its path when last seen, and
    the last sequence number of it counted as lost (its tail then)."""

    identity: str
    path: str
    tail: int


def shun_plan(
    key: str,
    cursor: str | None,
    directory: str | None,
    shunned: Collection[str],
    *,
    skip: bool,
    shun: bool,
    skips: Mapping[str, int],
) -> tuple[bool, Shunned | None, int]:
    """(whether the next child still skips, the file it shuns too or None, how many of its
    entries are lost) for a source at ``cursor`` (``shunned``: the identities of the files
    shunned already); logged at warning."""
    if skip and skips:
        found = file_after(cursor, directory, shunned)
        if found is not None and skips.get(found[0], 0) >= SKIPS_PER_FILE:
            warn("source %s: %d entries of journal file %s skipped already, another "
                 "kills its readers: shunning the rest of it",
                 key, skips[found[0]], found[0])  # fmt: skip
            skip, shun = False, True
    if not shun:
        return skip, None, 0
    found = file_after(cursor, directory, shunned)
    if found is None:
        warn("source %s: its reader children died moving to the entry after cursor "
             "%s, even to skip it, and no journal file holding it was found: reading "
             "on", key, cursor)  # fmt: skip
        return skip, None, 0
    path, lost, header = found
    warn("source %s stops reading journal file %s: its reader children died moving "
         "to the entry after cursor %s, even to skip it (a damaged journal file?); its "
         "%d entries from there on are lost, counted as unreadable; no reader of this "
         "agent opens it again%s", key, path, cursor, lost, still_written(header))  # fmt: skip
    return skip, Shunned(header.identity, path, header.tail), lost


def still_written(header: Header) -> str:
    """What a warning of a file shunned adds when the file is still written to (not
    archived): what is appended to it is lost as well, until the journal is rotated."""
    if header.archived:
        return ""
    return ("; it is still written to: what is appended to it is lost too (counted as "
            "unreadable as it is appended) until the journal is rotated "
            "(journalctl --rotate)")  # fmt: skip


def tails_of(told: Sequence[str]) -> dict[str, int]:
    """The files' last sequence numbers a reader child told (``"IDENTITY TAIL"`` each, in a
    ``GREW`` or ``CUT`` frame); a malformed one left out."""
    tails: dict[str, int] = {}
    for text in told:
        identity, _, number = text.partition(" ")
        if number.isdigit():
            tails[identity] = int(number)
    return tails


def file_after(
    cursor: str | None, directory: str | None, shunned: Collection[str] = ()
) -> tuple[str, int, Header] | None:
    """The journal file holding the entry after ``cursor`` (the first entry when None), how
    many entries it holds from there on, and its header, by the files' headers alone
    (``holds``): the file a reader dies in when it cannot even step over that entry; else
    one read to its end (0 entries). None: none is found (the files of the identities
    ``shunned`` are not looked at)."""
    headers = [(path, found) for path in sorted(journal_files(directory) or ())
               if (found := header_of(path)) is not None
               and found.identity not in shunned]  # fmt: skip
    at = None if cursor is None else cursor_seqnum(cursor)
    candidates: list[tuple[int, str, int, Header]] = []
    if at is not None:
        # The files of the cursor's sequence-number source holding entries after it
        candidates = [(h.head, path, lost, h) for path, h in headers
                      if h.source == at[0] and (lost := entries_after(h, at, 0))]  # fmt: skip
    if not candidates:
        # None of them: by the entries' times, all or none, every file (the cursor's
        # source's too, unlike journalcut.lost_after's rule)
        since = -1 if cursor is None else (cursor_realtime_usec(cursor) or -1)
        candidates = [(h.first, path, lost, h) for path, h in headers
                      if (lost := entries_after(h, None, since))]  # fmt: skip
    if not candidates:
        # None holds an entry after it: a file read to its end already is where readers die
        # (libsystemd's directory reader moves in each file at every step), shunned at no
        # loss; of another sequence-number source than the cursor's (its own may be written
        # on), the oldest first.
        candidates = [(h.first, path, 0, h) for path, h in headers
                      if at is None or h.source != at[0]]  # fmt: skip
    if not candidates:
        return None
    _, path, entries, header = min(candidates, key=lambda found: found[:3])
    return path, entries, header


def entries_after(header: Header, at: tuple[str, int] | None, since_usec: int) -> int:
    """How many of a file's entries come after a position, by its header alone: by sequence
    numbers when ``at`` (a cursor's source and sequence number, ``cursor_seqnum``) is of the
    file's source; else (``at`` None, or another source's) by the entries' times against
    ``since_usec``: all of them, or none (a file's entries are not ordered by time against
    another source's sequence numbers). Each caller says which: ``journalcut.lost_after``
    (a cut file's loss: by times only for another source's file, or a first start's
    ``since``) and ``file_after`` (the file a reader dies in: by times for every file when
    no file of the cursor's source holds an entry after it)."""
    if at is not None and at[0] == header.source:
        return max(0, header.tail - max(at[1], header.head - 1))
    return header.entries if header.last > since_usec else 0


@dataclass(frozen=True, slots=True)
class Header:
    """What ``header_of`` reads of a journal file's header."""

    source: str  # its sequence-number source (seqnum_id), hex
    tail: int  # the last entry's sequence number
    head: int  # the first entry's
    entries: int
    first: int  # the first entry's realtime, µs
    last: int  # the last entry's
    identity: str  # file_id, seqnum_id and head: this file, whatever its path (``identity_of``)
    cut: bool  # shorter than its header says (its header's and arena's sizes against fstat)
    archived: bool  # rotated: nothing is appended to it any more


def header_of(path: str) -> Header | None:
    """A journal file's header (journal-def.h's Header), read with pread; None: no journal
    file, or unreadable."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC | os.O_NOFOLLOW)
    except OSError:
        return None
    try:
        header = os.pread(fd, _FULL.size, 0)
        size = os.fstat(fd).st_size
    except OSError:
        return None
    finally:
        os.close(fd)
    if len(header) < _FULL.size or header[:8] != JOURNAL_SIGNATURE:
        return None
    file_id: bytes
    source: bytes
    _, state, file_id, source, header_size, arena, entries, tail, head, _, first, last = (
        _FULL.unpack(header)
    )
    identity = f"{file_id.hex()}-{source.hex()}-{head:x}"
    # (journald sizes a file before it says so in the header: one it wrote is never shorter)
    cut = header_size + arena > size
    archived = state == STATE_ARCHIVED
    return Header(source.hex(), tail, head, entries, first, last, identity, cut, archived)


def identity_of(path: str) -> str | None:
    """The identity of the journal file at ``path``: its file_id (random, made with the
    file, kept when journald renames it at a rotation), its sequence-number source and its
    first entry's sequence number; another file at that path (rotated, vacuumed, written
    again) has another. None: no journal file, or unreadable."""
    found = header_of(path)
    return None if found is None else found.identity


# journal-def.h's Header up to tail_entry_realtime: its state (at 16), file_id (24), the
# sequence-number source (its seqnum_id, 72), the header's and the arena's sizes (88, 96),
# the number of entries (152), the last and first entries' sequence numbers (160, 168), the
# entry array (176), the first and last entries' realtime (184, 192).
_FULL = struct.Struct("<8s8xB7x16s32x16sQQ48xQQQQQQ")


def unshunned(request: Request) -> list[str] | None:
    """The journal's files but those of the identities of ``Request.shun`` (None: they are
    not known; then the directory is read as it is)."""
    return look(request)[0]


def look(request: Request) -> tuple[list[str] | None, dict[str, int]]:
    """The journal's files but the shunned ones (``unshunned``), and the last sequence
    number of each shunned file still there (how far one still written to got: the agent
    counts what was appended as unreadable, ``GREW`` frames), in one pass over the files'
    headers (the reader child looks each time it wakes while it shuns files: 0.3 ms for 20
    files here, as the list alone took before)."""
    found = journal_files(request.directory) if request.namespace is None else None
    if found is None or not request.shun:
        return found, {}
    kept: list[str] = []
    tails: dict[str, int] = {}
    for path in found:
        header = header_of(path)
        if header is not None and header.identity in request.shun:
            tails[header.identity] = header.tail
        else:
            kept.append(path)
    return kept, tails


def without(paths: list[str], shunned: Collection[str]) -> list[str]:
    """``paths`` but the files of the identities ``shunned`` (their headers read: about
    4 µs a file)."""
    if not shunned:
        return paths
    return [path for path in paths if identity_of(path) not in shunned]


_EMPTY: list[tempfile.TemporaryDirectory[str]] = []


def empty_directory() -> str:
    """A directory of no journal file, removed when the child ends."""
    import tempfile

    if not _EMPTY:
        _EMPTY.append(tempfile.TemporaryDirectory(prefix="journalban-none-"))
    return _EMPTY[0].name


def warn(message: str, *args: object) -> None:
    """Log at warning (``logging`` imported only then: the reader child imports this module
    whenever it opens its journal, journalcut, and has no other use for it)."""
    import logging

    logging.getLogger("journalban.sources").warning(message, *args)
