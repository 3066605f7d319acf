"""Following the systemd journal: one sd-journal reader per jail, woken by its fd.

The reader only touches the fields a jail needs, through systemd-python's
low-level calls (``_next``, ``_get``): the high-level ``get_next()`` decodes
every field of every entry and is about ten times slower.
"""

from __future__ import annotations

import asyncio
import select
from collections.abc import AsyncIterator, Mapping, Sequence

from systemd import journal

from journalban.clock import Clock
from journalban.events import LineBatch

# Large enough to amortise a yield to the loop during a backlog, small enough
# (about 10 ms of reading) to keep the loop responsive.
DEFAULT_BATCH_SIZE = 5000


def cursor_realtime_usec(cursor: str) -> int | None:
    """The entry's wall-clock time (µs) written into a journal cursor, if present."""
    for part in cursor.split(";"):
        if part.startswith("t="):
            try:
                return int(part[2:], 16)
            except ValueError:
                return None
    return None


class JournalSource:
    """Reads the entries one jail matches, from a saved cursor on, forever.

    ``matches`` are groups of ``FIELD: value`` conditions: inside a group they
    must all hold, and an entry is read when any group holds. ``position`` is
    the cursor of the last entry already handled; without one, reading starts
    ``findtime`` seconds back. ``directory`` reads journal files from a
    directory, ``namespace`` a journal namespace; neither means the local
    system journal.
    """

    def __init__(
        self,
        key: str,
        *,
        clock: Clock,
        findtime: float,
        matches: Sequence[Mapping[str, str]] = (),
        position: str | None = None,
        directory: str | None = None,
        namespace: str | None = None,
        batch_size: int = DEFAULT_BATCH_SIZE,
    ) -> None:
        self.key = key
        self._clock = clock
        self._findtime = findtime
        self._matches = [dict(group) for group in matches]
        self._cursor = position
        self._directory = directory
        self._namespace = namespace
        self._batch_size = batch_size
        self._reader: journal.Reader | None = None
        self._wakeup: asyncio.Future[None] | None = None
        self._closed = False
        self.invalidations = 0

    def _open(self) -> journal.Reader:
        if self._directory is not None:
            reader = journal.Reader(path=self._directory)
        elif self._namespace is not None:
            reader = journal.Reader(namespace=self._namespace)
        else:
            reader = journal.Reader(flags=journal.LOCAL_ONLY)
        # sd_journal_get_fd() sets up the inotify watches: ask for it before
        # the first read, so nothing appended after that read goes unnoticed.
        reader.fileno()
        for index, group in enumerate(self._matches):
            if index:
                reader.add_disjunction()
            for field, value in group.items():
                reader.add_match(f"{field}={value}")
        return reader

    def _seek_start(self, reader: journal.Reader) -> None:
        """Place the reader so that ``_next()`` returns the first entry to hand out."""
        cursor = self._cursor
        if cursor is None:
            reader.seek_realtime(self._clock.now() - self._findtime)
            return
        reader.seek_cursor(cursor)
        if reader._next() and reader.test_cursor(cursor):
            return  # on the entry handled last: the next _next() is new
        # That entry is gone (vacuumed, or no longer matched): the oldest entry
        # still there, skipping those older than it, which were handled before.
        when = cursor_realtime_usec(cursor)
        if when is None:
            reader.seek_head()
        else:
            reader.seek_realtime(when)

    def _reposition(self, reader: journal.Reader) -> None:
        """After files came or went, stand on the last entry handed out again."""
        cursor = self._cursor
        if cursor is None:
            return
        reader.seek_cursor(cursor)
        if reader._next() and reader.test_cursor(cursor):
            return
        # Its file was removed: the next _next() goes to the first entry
        # after where it stood.
        reader.seek_cursor(cursor)

    def _read_batch(self, reader: journal.Reader) -> LineBatch | None:
        lines: list[str] = []
        times: list[float] = []
        unreadable = 0
        read = 0
        limit = self._batch_size
        next_entry = reader._next
        get = reader._get
        realtime = reader._get_realtime
        while read < limit and next_entry():
            read += 1
            try:
                raw = get("MESSAGE")
            except KeyError:
                continue  # no message, nothing to match; still moves the cursor
            try:
                source_usec = int(get("_SOURCE_REALTIME_TIMESTAMP"))
            except (KeyError, ValueError):
                source_usec = realtime()
            try:
                text = raw.decode("utf-8")
            except UnicodeDecodeError:
                text = raw.decode("utf-8", "replace")
                unreadable += 1
            lines.append(text)
            times.append(source_usec / 1e6)
        if not read:
            return None
        self._cursor = reader._get_cursor()
        return LineBatch(
            source=self.key,
            lines=lines,
            times=times,
            position=self._cursor,
            prefixed=False,
            arrival=self._clock.now(),
            unreadable=unreadable,
        )

    async def _wait_for_change(self, reader: journal.Reader) -> None:
        """Sleep until the journal's fd is ready, or sd-journal's own timeout passes."""
        loop = asyncio.get_running_loop()
        wakeup: asyncio.Future[None] = loop.create_future()
        self._wakeup = wakeup

        def ready() -> None:
            if not wakeup.done():
                wakeup.set_result(None)

        fd = reader.fileno()
        events = reader.get_events()
        watch_write = bool(events & select.POLLOUT)
        if watch_write:
            loop.add_writer(fd, ready)
        else:
            loop.add_reader(fd, ready)
        # sd_journal_get_timeout() asks for a timed wake only when its fd is
        # not reliable (journal files on a network file system).
        timeout_ms = reader.get_timeout_ms()
        try:
            await asyncio.wait_for(wakeup, None if timeout_ms < 0 else timeout_ms / 1000)
        except TimeoutError:
            pass
        finally:
            self._wakeup = None
            if watch_write:
                loop.remove_writer(fd)
            else:
                loop.remove_reader(fd)

    async def batches(self) -> AsyncIterator[LineBatch]:
        """Batches of matching entries; waits on the journal's fd when caught up."""
        if self._closed:
            return
        reader = self._reader = self._open()
        try:
            self._seek_start(reader)
            while not self._closed:
                batch = self._read_batch(reader)
                if batch is not None:
                    yield batch
                    # Let other tasks run between batches of a backlog.
                    await asyncio.sleep(0)
                    continue
                await self._wait_for_change(reader)
                if self._closed:
                    return
                if reader.process() == journal.INVALIDATE:
                    self.invalidations += 1
                    self._reposition(reader)
        finally:
            self._reader = None
            reader.close()

    def close(self) -> None:
        """Stop following; a pending ``batches()`` ends instead of waiting."""
        self._closed = True
        if self._wakeup is not None:
            # batches() is waiting on the fd: it wakes, unregisters the fd and
            # closes the reader itself.
            if not self._wakeup.done():
                self._wakeup.set_result(None)
        elif self._reader is not None:
            self._reader.close()
            self._reader = None
