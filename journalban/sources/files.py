"""Following log files (maillog, multilog) through rotation, by inotify or polling."""

from __future__ import annotations

import contextlib
import glob
import os
from collections.abc import AsyncIterator, Callable, Iterator, Sequence
from typing import TYPE_CHECKING

from journalban.clock import Clock
from journalban.events import LineBatch
from journalban.sources.base import LineTimeReader
from journalban.sources.inotify import (
    IN_IGNORED,
    IN_Q_OVERFLOW,
    Inotify,
    InotifyUnavailable,
)
from journalban.sources.position import FileMark, decode_marks, encode_marks, head_hash
from journalban.sources.readback import readback_offset
from journalban.sources.tail import Lines, TailedFile

if TYPE_CHECKING:
    import asyncio


# ``FileSource.blocking_batches``'s wait: block until the descriptor (inotify's, or
# None) is readable or the timeout (None: none) passes; False to stop reading.
Wait = Callable[[int | None, float | None], bool]

# One read burst of one file becomes one batch: about 7000 mail log lines.
BURST_BYTES = 1 << 20

# ``FileSource.splitter``: the batches of a live file's backlog when it reads
# them another way (the file reader child: on two cores, ``agent.filesplit``),
# leaving the file standing after the last; None to read it burst by burst.
Splitter = Callable[["FileSource", TailedFile], Iterator[LineBatch] | None]


def _find_generation(mark: FileMark) -> tuple[str, int] | None:
    """Where the file of ``mark`` is now (its path, or a rotated name beside it)."""
    try:
        stat = os.stat(mark.path)
        if (stat.st_dev, stat.st_ino) == (mark.device, mark.inode):
            return mark.path, stat.st_size
    except OSError:
        pass
    directory = os.path.dirname(mark.path) or "."
    with contextlib.suppress(OSError), os.scandir(directory) as entries:
        for entry in entries:
            if entry.inode() == mark.inode and entry.is_file(follow_symlinks=False):
                stat = entry.stat(follow_symlinks=False)
                if stat.st_dev == mark.device:
                    return entry.path, stat.st_size
    return None


class FileSource:
    """Follows the files matching ``patterns`` (globs), each from where it stood.

    ``position`` is the text of a previous batch's position; without one (a
    first start) each file is read back ``findtime`` seconds by the dates
    ``line_time`` finds in its lines, or from its end when it finds none.
    Batches carry whole lines, still prefixed with their dates.
    """

    def __init__(
        self,
        patterns: Sequence[str] | str,
        *,
        clock: Clock,
        findtime: float,
        line_time: LineTimeReader,
        position: str | None = None,
        key: str | None = None,
        use_inotify: bool = True,
        poll_interval: float = 1.0,
        rescan_interval: float = 10.0,
        retire_after: float = 30.0,
        burst_bytes: int = BURST_BYTES,
    ) -> None:
        self.patterns = [patterns] if isinstance(patterns, str) else list(patterns)
        self.key = key or "file:" + ",".join(self.patterns)
        self._clock = clock
        self._findtime = findtime
        self._line_time = line_time
        self._position = position
        self._use_inotify = use_inotify
        self._poll_interval = poll_interval
        self._rescan_interval = rescan_interval
        self._retire_after = retire_after
        self._burst_bytes = burst_bytes
        self._live: dict[str, TailedFile] = {}  # by the path the glob found
        self._retired: list[TailedFile] = []  # rotated away, read to their end
        self._inotify: Inotify | None = None
        self._watched: dict[str, int] = {}
        self._wakeup: asyncio.Future[None] | None = None
        self._closed = False
        self.splitter: Splitter | None = None

    @property
    def uses_inotify(self) -> bool:
        return self._inotify is not None

    # -- finding files ----------------------------------------------------

    def _matching_paths(self) -> list[str]:
        found: list[str] = []
        for pattern in self.patterns:
            found.extend(p for p in sorted(glob.glob(pattern)) if os.path.isfile(p))
        return found

    def _resume(self, position: str) -> None:
        """Reopen the files of a saved position, wherever rotation took them."""
        matching = set(self._matching_paths())
        try:
            marks = decode_marks(position)
        except ValueError as exc:
            # logging only here: the file reader child does without it (1.1 MB).
            import logging

            logging.getLogger(__name__).warning(
                "%s: %s; reading back findtime instead", self.key, exc
            )
            self._discover(first_start=True)
            return
        for mark in marks:
            found = _find_generation(mark)
            if found is None:
                continue  # rotated away and gone: what it still held is lost
            path, size = found
            tailed = TailedFile.open(path, mark.offset, mark.skipping)
            if tailed is None:
                continue
            if size < mark.offset or (mark.head is not None and head_hash(tailed.fd) != mark.head):
                tailed.restart()  # truncated (and maybe refilled) while we were away
            if path in matching and path not in self._live:
                self._live[path] = tailed
            else:
                tailed.path = path
                tailed.retired_at = self._clock.monotonic()
                self._retired.append(tailed)

    def _start_new(self, path: str, first_start: bool) -> None:
        """Begin a file not in the position: read back findtime, or all of it."""
        tailed = TailedFile.open(path)
        if tailed is None:
            return
        if first_start:
            size = os.fstat(tailed.fd).st_size
            cutoff = self._clock.now() - self._findtime
            tailed.offset = readback_offset(tailed.fd, size, cutoff, self._line_time)
            tailed.head = head_hash(tailed.fd) if tailed.offset else None
        self._live[path] = tailed

    def _discover(self, first_start: bool = False) -> None:
        known = {(t.device, t.inode) for t in [*self._live.values(), *self._retired]}
        for path in self._matching_paths():
            if path in self._live:
                continue
            with contextlib.suppress(OSError):
                stat = os.stat(path)
                if (stat.st_dev, stat.st_ino) not in known:
                    self._start_new(path, first_start)

    def _check_rotation(self) -> None:
        """Notice renamed, replaced and truncated files among the live ones."""
        for path, tailed in list(self._live.items()):
            try:
                stat = os.stat(path)
            except OSError:
                stat = None
            if stat is None or not tailed.same_file(stat):
                # create / multilog: renamed away, maybe a new file in its place.
                del self._live[path]
                tailed.retired_at = self._clock.monotonic()
                self._retired.append(tailed)
                if stat is not None:
                    self._start_new(path, first_start=False)
            elif tailed.rewritten():
                tailed.restart()  # copytruncate, or truncation by hand

    # -- reading ----------------------------------------------------------

    def batch_of(self, tailed: TailedFile, lines: Lines) -> LineBatch:
        """The batch of ``lines`` just read from ``tailed``, with the position after them."""
        marks = [t.mark() for t in [*self._retired, *self._live.values()]]
        return LineBatch(
            source=self.key,
            lines=lines.joined(),
            position=encode_marks(marks, current=tailed.path),
            times=(),
            prefixed=True,
            arrival=self._clock.now(),
            unreadable=lines.unreadable,
            truncated=lines.truncated,
        )

    def _round(self) -> Iterator[LineBatch]:
        """One pass: rotation checks, then a burst of each file with new lines."""
        self._check_rotation()
        # A rotated file's tail comes before its successor's first lines.
        for tailed in list(self._retired):
            lines = tailed.read(self._burst_bytes)
            if lines:
                yield self.batch_of(tailed, lines)
                continue
            retired_at = tailed.retired_at or 0.0
            if self._clock.monotonic() - retired_at >= self._retire_after:
                last = tailed.flush()
                self._retired.remove(tailed)
                tailed.close()
                if last:
                    yield self.batch_of(tailed, last)
        for tailed in list(self._live.values()):
            split = None if self.splitter is None else self.splitter(self, tailed)
            if split is not None:
                handed = False
                for batch in split:
                    handed = True
                    yield batch
                if handed:
                    continue  # (else read on here, as without a split)
            lines = tailed.read(self._burst_bytes)
            if lines:
                yield self.batch_of(tailed, lines)

    # -- waiting ----------------------------------------------------------

    def _watch_directories(self, inotify: Inotify) -> bool:
        """Watch every directory a pattern can match; False if some may come later."""
        complete = True
        for pattern in self.patterns:
            parent = os.path.dirname(pattern) or "."
            if glob.has_magic(parent):
                complete = False  # new directories are found by a timed rescan
            directories = glob.glob(parent)
            if not directories:
                complete = False
            for directory in directories:
                if directory not in self._watched:
                    try:
                        self._watched[directory] = inotify.watch(directory)
                    except OSError:
                        complete = False
        return complete

    def _open_inotify(self) -> None:
        if not self._use_inotify:
            return
        try:
            self._inotify = Inotify()
        except InotifyUnavailable:
            self._inotify = None

    def _timeout(self) -> float | None:
        """How long to wait for a watched directory's change before looking anyway."""
        inotify = self._inotify
        if inotify is None:
            return self._poll_interval
        timeout = None if self._watch_directories(inotify) else self._rescan_interval
        if self._retired:
            # Late writes to a rotated file notify nothing we watch by name.
            timeout = min(timeout or self._poll_interval, self._poll_interval)
        return timeout

    async def _wait(self) -> None:
        """Until a watched directory changes, or the next timed look is due."""
        import asyncio  # not in the file reader child, which reads without a loop

        loop = asyncio.get_running_loop()
        wakeup: asyncio.Future[None] = loop.create_future()
        self._wakeup = wakeup
        inotify = self._inotify
        timeout = self._timeout()
        if inotify is not None:

            def ready() -> None:
                if not wakeup.done():
                    wakeup.set_result(None)

            loop.add_reader(inotify.fd, ready)
        try:
            await asyncio.wait_for(wakeup, timeout)
        except TimeoutError:
            pass
        finally:
            self._wakeup = None
            if inotify is not None:
                loop.remove_reader(inotify.fd)
                self._drain_events(inotify)

    def _drain_events(self, inotify: Inotify) -> None:
        for wd, mask, _name in inotify.read_events():
            if mask & (IN_IGNORED | IN_Q_OVERFLOW):
                # A watched directory went away (or events were lost): watch afresh.
                self._watched = {d: w for d, w in self._watched.items() if w != wd}

    async def batches(self) -> AsyncIterator[LineBatch]:
        """Batches of new lines, one per file per read burst, forever."""
        import asyncio

        if self._closed:
            return
        self.open_watches()
        try:
            for batch in self._rounds():
                if batch is None:
                    await self._wait()
                    self._discover()
                else:
                    yield batch
                    await asyncio.sleep(0)
        finally:
            self._release()

    def blocking_batches(self, wait: Wait) -> Iterator[LineBatch]:
        """``batches`` without an event loop (the file reader child, which then imports no
        asyncio): between rounds that found nothing, ``wait`` blocks (see ``Wait``)."""
        if self._closed:
            return
        self.open_watches()
        try:
            for batch in self._rounds():
                if batch is not None:
                    yield batch
                    del batch  # (not held while the next burst is read)
                    continue
                inotify = self._inotify
                try:
                    go_on = wait(None if inotify is None else inotify.fd, self._timeout())
                finally:
                    if inotify is not None:
                        self._drain_events(inotify)
                if not go_on:
                    return
                self._discover()
        finally:
            self._release()

    def open_watches(self) -> None:
        """Open the inotify instance and watch the files' directories, once (the reading
        does it first): the file reader child does it while it waits for the agent's
        ``GO`` (ctypes' import and the instance, 1-2 ms that came before its first read)."""
        if self._inotify is None:
            self._open_inotify()
        if self._inotify is not None:
            self._watch_directories(self._inotify)

    def _rounds(self) -> Iterator[LineBatch | None]:
        """The reading ``batches`` and ``blocking_batches`` share: each round's batches,
        then None after a round that found nothing (their cue to wait and look again);
        it ends once the source is closed."""
        self._start_reading()
        while not self._closed:
            produced = False
            for batch in self._round():
                yield batch
                del batch  # (not held while the next burst is read)
                produced = True
                if self._closed:
                    return
            if not produced:
                yield None

    def _start_reading(self) -> None:
        """Find the files: from the committed position if there is one, else first start."""
        if self._position is None:
            self._discover(first_start=True)
        else:
            self._resume(self._position)
            self._discover()  # files that appeared while we were stopped

    def _release(self) -> None:
        for tailed in [*self._live.values(), *self._retired]:
            tailed.close()
        self._live.clear()
        self._retired.clear()
        if self._inotify is not None:
            self._inotify.close()
            self._inotify = None

    def close(self) -> None:
        """Stop following; a pending ``batches()`` ends instead of waiting."""
        self._closed = True
        if self._wakeup is not None:
            if not self._wakeup.done():
                self._wakeup.set_result(None)
        else:
            self._release()
