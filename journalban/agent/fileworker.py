"""A file jail's reading and matching in a child process, on the other core.

For a busy log file, finding the failures (scanning for the filter's
literals, the regexes, the dates) costs more than deciding on them. A file
jail therefore runs its ``FileSource`` and its ``LineMatcher`` in a child,
``python -m journalban.agent.fileworker``, and the agent receives only the
failures, with the position after each batch; it commits positions, counts
and bans as for any other source, so a crash of either side loses nothing
and counts nothing twice (the child starts again from the committed position).

The request is one JSON line on the child's stdin, which then stays open:
its EOF (the agent closed the source, or died) ends the child. Each frame on
stdout (``journalban.sources.frames``) is a ``marshal`` tuple
``(position, lines read, unreadable, truncated, lines, addresses, times)``
of the batch's failures.
"""

from __future__ import annotations

import asyncio
import json
import marshal
import os
import sys
import time
from collections.abc import AsyncIterator, Sequence
from dataclasses import asdict, dataclass

from journalban.clock import Clock, SystemClock
from journalban.errors import SourceError
from journalban.events import LineBatch
from journalban.matching.dates import DateReader
from journalban.matching.engine import LineMatcher
from journalban.matching.sessions import SessionTable, file_session_hits
from journalban.matching.spec import MatcherSpec, unpickle_filter
from journalban.sources.child import ChildProcess
from journalban.sources.files import BURST_BYTES as FILE_BURST_BYTES
from journalban.sources.files import FileSource
from journalban.sources.frames import pack_frame
from journalban.sources.isolated import python_module

WORKER = python_module("journalban.agent.fileworker")
BUFFER_LIMIT = 1 << 16  # frames are read whole (readexactly): the pipe holds the backlog
# Bytes read per batch: the agent holds a few batches at a time; smaller
# bursts keep both processes' memory down at no measurable cost in speed.
BURST_BYTES = 1 << 18


@dataclass(frozen=True)
class FileJob:
    """What the child reads (see ``FileSource``) and how it matches."""

    key: str
    files: Sequence[str]
    findtime: float
    position: str | None
    matcher: MatcherSpec
    # Stored session rows (matching.sessions), committed with ``position``.
    sessions: Sequence[Sequence[str]] = ()
    # The agent's own FilterDef of the jail (``spec.pickle_filter``): the child then
    # neither reads nor parses the filter's YAML, nor imports PyYAML.
    filter_def: str | None = None

    def encode(self) -> bytes:
        return json.dumps(asdict(self)).encode() + b"\n"

    @classmethod
    def decode(cls, line: bytes) -> FileJob:
        data = json.loads(line)
        data["matcher"] = MatcherSpec.from_json(data["matcher"])
        return cls(**data)


class FileWorkerSource:
    """A file jail's source whose batches come with their failures already found.

    Raises (from ``batches``):
        SourceError: the child died; the agent restarts the source.
    """

    def __init__(self, job: FileJob, clock: Clock) -> None:
        self.key = job.key
        self._job = job
        self._clock = clock
        self._child: ChildProcess | None = None
        self._closed = False

    async def batches(self) -> AsyncIterator[LineBatch]:
        if self._closed:
            return
        child = self._child = ChildProcess(WORKER, self._job.encode(), BUFFER_LIMIT)
        try:
            await child.connect()
            while (body := await child.body()) is not None:
                yield self._batch(body)
            if not self._closed:
                raise SourceError(f"the reader of {self.key} exited (code {child.stop()})")
        finally:
            child.stop()

    def _batch(self, body: bytes) -> LineBatch:
        fields = marshal.loads(body)  # noqa: S302 (our own child)
        position, read, unreadable, truncated, lines, hosts, times, users, marks = fields[:9]
        sessions = [(str(k), v) for k, v in fields[9]]
        return LineBatch(
            source=self.key,
            lines=lines,
            position=position,
            prefixed=True,
            arrival=self._clock.now(),
            unreadable=unreadable,
            truncated=truncated,
            read=read,
            hits=list(zip(lines, hosts, times, users, marks, strict=True)),
            sessions=sessions,
        )

    def close(self) -> None:
        """Stop reading; a pending ``batches()`` ends."""
        self._closed = True
        if self._child is not None:
            self._child.stop()  # the pipe's EOF ends a pending batches()


def dated_file_source(
    files: Sequence[str],
    clock: Clock,
    findtime: float,
    position: str | None,
    key: str,
    burst_bytes: int = FILE_BURST_BYTES,
) -> FileSource:
    """A ``FileSource`` that dates its lines (for reading back findtime) as the matcher does."""
    dates = DateReader(clock.now)

    def line_time(line: str) -> float | None:
        found = dates.find(line)
        return None if found is None else found.time

    return FileSource(
        list(files), clock=clock, findtime=findtime, line_time=line_time,
        position=position, key=key, burst_bytes=burst_bytes,
    )  # fmt: skip


# --- the child ---------------------------------------------------------------


def _frame(
    batch: LineBatch,
    matcher: LineMatcher,
    table: SessionTable | None = None,
    dates: DateReader | None = None,
) -> bytes:
    hits = matcher.hits(batch)
    changed: list[tuple[str, str | None]] = []
    if table is not None and dates is not None:

        def line_time(line: str) -> float | None:
            found = dates.find(line)
            return None if found is None else found.time

        hits += file_session_hits(table, batch.lines, line_time, matcher.ident_refused, time.time())
        changed = table.changes()
    body = marshal.dumps(
        (
            batch.position, batch.count, batch.unreadable, batch.truncated,
            [h[0] for h in hits], [h[1] for h in hits], [h[2] for h in hits],
            [h[3] for h in hits], [h[4] for h in hits], changed,
        )
    )  # fmt: skip
    return pack_frame(body)


async def _serve(job: FileJob) -> None:
    clock = SystemClock()
    if job.filter_def is None:
        matcher = job.matcher.build(clock.now)
    else:
        fdef = unpickle_filter(job.filter_def)
        matcher = LineMatcher(job.matcher.compile(fdef), clock.now)
    table = None
    if matcher.filter.fdef.sessions is not None:
        table = SessionTable(matcher.filter.fdef.sessions)
        table.restore([(str(k), str(v)) for k, v in job.sessions], clock.now())
    dates = DateReader(clock.now)  # the session lines' times
    source = dated_file_source(
        job.files, clock, job.findtime, job.position, job.key, burst_bytes=BURST_BYTES
    )
    loop = asyncio.get_running_loop()
    parent_gone: asyncio.Future[None] = loop.create_future()

    def check_stdin() -> None:
        try:
            data = os.read(0, 4096)
        except BlockingIOError:
            return
        if not data and not parent_gone.done():
            parent_gone.set_result(None)

    os.set_blocking(0, False)
    loop.add_reader(0, check_stdin)

    async def pump() -> None:
        out = sys.stdout.buffer
        async for batch in source.batches():
            out.write(_frame(batch, matcher, table, dates))  # blocks while the agent is behind
            out.flush()

    task = asyncio.create_task(pump())
    await asyncio.wait({task, parent_gone}, return_when=asyncio.FIRST_COMPLETED)
    source.close()
    if task.done():
        task.result()  # its exception, if any, ends the child with an error
    task.cancel()


def main() -> None:
    job = FileJob.decode(sys.stdin.buffer.readline())
    try:
        asyncio.run(_serve(job))
    except BrokenPipeError:
        pass  # the agent is gone
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
