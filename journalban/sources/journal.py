"""Following the systemd journal: one reader child process per source, read through a pipe.

Reading costs about 2-3 µs per entry inside libsystemd, as much as matching
and deciding together, so a child process (``journalworker``) does all the
sd-journal work on the other core and hands over, in frames, only the entries
that hold one of the filter's literals (the others cannot match), with the
cursor of the last entry read. The event loop watches the pipe, the child
watches the journal's fd: no polling sleep on either side.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import subprocess
import sys
from collections.abc import AsyncIterator, Mapping, Sequence
from typing import IO

from journalban.clock import Clock
from journalban.errors import SourceError
from journalban.events import LineBatch
from journalban.sources.journalworker import (
    DEFAULT_REOPEN_EVERY,
    FRAME_HEADER,
    Frame,
    Request,
    cursor_realtime_usec,
)

__all__ = ["DEFAULT_BATCH_SIZE", "JournalSource", "cursor_realtime_usec"]

# Entries read per frame: large enough to amortise a frame and a batch in the
# agent during a backlog, small enough (a few ms of reading) to keep it flowing.
DEFAULT_BATCH_SIZE = 5000
WORKER = [sys.executable, "-m", "journalban.sources.journalworker"]
PIPE_BYTES = 1 << 20  # a few frames in flight: the child reads on while the agent commits


def _pipes(child: subprocess.Popen[bytes]) -> tuple[IO[bytes], IO[bytes]]:
    if child.stdin is None or child.stdout is None:
        raise SourceError("journal reader started without pipes")
    return child.stdin, child.stdout


class JournalSource:
    """Reads the entries one jail matches, from a saved cursor on, forever.

    ``matches`` are groups of ``FIELD: value`` conditions: inside a group they
    must all hold, and an entry is read when any group holds. ``position`` is
    the cursor of the last entry already handled; without one, reading starts
    ``findtime`` seconds back. ``directory`` reads journal files from a
    directory, ``namespace`` a journal namespace; neither means the local
    system journal. ``prefilter`` holds the filter's literals: every message
    a failregex can match holds one of them, and only those messages are
    handed out (``LineBatch.read`` counts every entry read). Empty hands out
    every entry.
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
        prefilter: Sequence[str] = (),
        reopen_every: int = DEFAULT_REOPEN_EVERY,
    ) -> None:
        self.key = key
        self._clock = clock
        self._findtime = findtime
        self._matches = [dict(group) for group in matches]
        self._cursor = position
        self._directory = directory
        self._namespace = namespace
        self._batch_size = batch_size
        self._prefilter = tuple(prefilter)
        self._reopen_every = reopen_every
        self._child: subprocess.Popen[bytes] | None = None
        self._closed = False
        self.invalidations = 0

    @property
    def child_pid(self) -> int | None:
        """The reader child's pid while ``batches()`` runs (for tests and status)."""
        return None if self._child is None else self._child.pid

    def _request(self) -> Request:
        since = self._clock.now() - self._findtime
        return Request(
            matches=self._matches,
            directory=self._directory,
            namespace=self._namespace,
            cursor=self._cursor,
            since_usec=max(0, int(since * 1e6)),
            batch_size=self._batch_size,
            prefilter=self._prefilter,
            reopen_every=self._reopen_every,
        )

    def _spawn(self) -> subprocess.Popen[bytes]:
        child = subprocess.Popen(WORKER, stdin=subprocess.PIPE, stdout=subprocess.PIPE)
        stdin, stdout = _pipes(child)
        with contextlib.suppress(OSError):  # above fs.pipe-max-size without privileges
            fcntl.fcntl(stdout.fileno(), fcntl.F_SETPIPE_SZ, PIPE_BYTES)
        # stdin stays open: its EOF tells the child that this side is gone.
        stdin.write(self._request().encode())
        stdin.flush()
        return child

    def _batch(self, frame: Frame) -> LineBatch:
        self._cursor = frame.cursor
        self.invalidations = frame.invalidations
        return LineBatch(
            source=self.key,
            lines=frame.messages,
            times=frame.times,
            position=frame.cursor,
            prefixed=False,
            arrival=self._clock.now(),
            unreadable=frame.unreadable,
            read=frame.read,
        )

    async def batches(self) -> AsyncIterator[LineBatch]:
        """Batches of matching entries; waits on the child's pipe when caught up.

        Raises:
            SourceError: the reader child died (the agent restarts the source
                from the position it committed).
        """
        if self._closed:
            return
        child = self._child = self._spawn()
        loop = asyncio.get_running_loop()
        stream = asyncio.StreamReader(limit=PIPE_BYTES, loop=loop)
        transport, _ = await loop.connect_read_pipe(
            lambda: asyncio.StreamReaderProtocol(stream, loop=loop), _pipes(child)[1]
        )
        try:
            while not self._closed:
                try:
                    header = await stream.readexactly(FRAME_HEADER.size)
                    body = await stream.readexactly(FRAME_HEADER.unpack(header)[0])
                except asyncio.IncompleteReadError:
                    if self._closed:
                        return
                    raise SourceError(
                        f"journal reader of {self.key} exited ({child.wait()})"
                    ) from None
                if self._closed:
                    return
                yield self._batch(Frame.decode(body))
        finally:
            transport.close()
            self._stop(child)

    def _stop(self, child: subprocess.Popen[bytes]) -> None:
        """Kill and reap the child: it holds nothing that needs an orderly exit."""
        if child.poll() is None:
            child.kill()
        child.wait()
        if child.stdin is not None:
            with contextlib.suppress(OSError):  # a pipe the dead child no longer reads
                child.stdin.close()
        if self._child is child:
            self._child = None

    def close(self) -> None:
        """Stop following; a pending ``batches()`` ends instead of waiting."""
        self._closed = True
        if self._child is not None:
            # The pending read sees EOF; batches() closes the pipe transport.
            self._stop(self._child)
