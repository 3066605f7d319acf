"""Where `journalban regex` reads its lines: a log file, journal files, one line.

Each reader yields batches ``(lines, times)``: ``times`` is empty for text
whose date is in the line, and holds each entry's time for the journal, whose
MESSAGE carries no date or syslog prefix.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from systemd import journal

Batch = tuple[list[str], list[float]]
JournalGroups = Sequence[Sequence[tuple[str, str]]]

# Reads split at the last newline; a chunk this size stays in the CPU cache
# while the prefilter scans it once per literal.
CHUNK_BYTES = 1 << 20
JOURNAL_BATCH = 20_000
# Inputs smaller than this finish before a progress bar would be read.
PROGRESS_BYTES = 64 << 20
PROGRESS_ENTRIES = 200_000


class Progress:
    """A one-line progress bar on stderr, shown only on a terminal for big inputs."""

    def __init__(self, total: int | None, big: bool) -> None:
        self.total = total
        self.shown = big and sys.stderr.isatty()
        self._last = -1

    def update(self, done: int, unit: str = "") -> None:
        if not self.shown:
            return
        if self.total:
            pct = min(100, done * 100 // self.total)
            if pct == self._last:
                return
            self._last = pct
            bar = "#" * (pct // 4)
            sys.stderr.write(f"\r[{bar:<25}] {pct:3d}%")
        else:
            sys.stderr.write(f"\r{done} {unit}")
        sys.stderr.flush()

    def finish(self) -> None:
        if self.shown:
            sys.stderr.write("\r" + " " * 40 + "\r")
            sys.stderr.flush()


def read_file(path: Path) -> Iterator[Batch]:
    """The file's lines in batches (UTF-8; undecodable bytes replaced)."""
    for text in read_file_text(path):
        yield text.split("\n"), []


def read_file_text(path: Path, start: int = 0, stop: int | None = None) -> Iterator[str]:
    """The file's text in chunks of whole lines, each without its last newline.

    A chunk's lines are ``chunk.split("\n")``; a file ending in a newline has no
    empty last line. UTF-8, undecodable bytes replaced (a cut at a newline
    never splits a character). ``start`` and ``stop``: a part of the file, from
    and to the start of a line (no progress bar is shown for a part).
    """
    size = path.stat().st_size
    whole = start == 0 and stop is None
    progress = Progress(size, whole and size >= PROGRESS_BYTES)
    left = -1 if stop is None else stop - start  # -1: to the end, as the file grows
    done = 0
    tail = b""
    with path.open("rb") as f:
        f.seek(start)
        while left and (chunk := f.read(CHUNK_BYTES if left < 0 else min(CHUNK_BYTES, left))):
            left -= len(chunk) if left > 0 else 0
            done += len(chunk)
            data = tail + chunk
            cut = data.rfind(b"\n")
            if cut < 0:
                tail = data
                continue
            tail = data[cut + 1 :]
            yield data[:cut].decode("utf-8", "replace")
            progress.update(done)
    if tail:
        yield tail.decode("utf-8", "replace")
    progress.finish()


def open_journal(directory: Path | None, groups: JournalGroups) -> journal.Reader:
    """A reader of the system journal (or of the files in ``directory``) through ``groups``.

    Conditions in a group must all hold; the groups are alternatives.
    """
    from systemd import journal  # here: only journal inputs pay for importing it

    if directory is None:
        reader = journal.Reader(flags=journal.LOCAL_ONLY)
    else:
        reader = journal.Reader(path=os.fspath(directory))
    for index, group in enumerate(groups):
        if index:
            reader.add_disjunction()
        for field, value in group:
            reader.add_match(f"{field}={value}")
    reader.seek_head()
    return reader


def read_journal(directory: Path | None, groups: JournalGroups) -> Iterator[Batch]:
    """Every entry's MESSAGE with its time, through the filter's journal matches.

    An entry without MESSAGE gives an empty line, so that entry numbers and
    line numbers agree. The time is the entry's own (when journald received
    it), the agent's (sources.journalbatch says why).
    """
    reader = open_journal(directory, groups)
    progress = Progress(None, True)
    read = 0
    try:
        for lines, times, _ in entry_batches(reader):
            read += len(lines)
            if read >= PROGRESS_ENTRIES:
                progress.update(read, "entries")
            yield lines, times
    finally:
        reader.close()
        progress.finish()


def entry_batches(
    reader: journal.Reader, *, pid: bool = False
) -> Iterator[tuple[list[str], list[float], list[str | None]]]:
    """``reader``'s entries from where it stands, ``JOURNAL_BATCH`` at a time.

    Each batch: the MESSAGEs (an entry without one gives an empty line), their
    times (each entry's own, the agent's) and, with ``pid``, their ``_PID``s
    (None for an entry without one; without ``pid`` that list stays empty).
    """
    # The low-level calls read only the fields we need; get_next() would
    # decode every field of every entry.
    next_entry, get, realtime = reader._next, reader._get, reader._get_realtime
    while True:
        lines: list[str] = []
        times: list[float] = []
        keys: list[str | None] = []
        while len(lines) < JOURNAL_BATCH and next_entry():
            try:
                raw = get("MESSAGE")
            except KeyError:
                raw = b""
            usec = realtime()  # the agent's time for it (sources.journalbatch)
            if pid:
                try:
                    keys.append(get("_PID").decode("ascii", "replace"))
                except KeyError:
                    keys.append(None)
            lines.append(raw.decode("utf-8", "replace"))
            times.append(usec / 1e6)
        if not lines:
            return
        yield lines, times, keys
