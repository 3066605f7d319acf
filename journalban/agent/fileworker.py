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
stdout is a 4-byte little-endian length and a ``marshal`` tuple
``(position, lines read, unreadable, truncated, lines, addresses, times)``
of the batch's failures.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import json
import marshal
import os
import struct
import subprocess
import sys
from collections.abc import AsyncIterator, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

from journalban.addresses import parse_network
from journalban.clock import Clock, SystemClock
from journalban.errors import SourceError
from journalban.events import LineBatch
from journalban.matching.dates import DateReader
from journalban.matching.engine import CompiledFilter, LineMatcher
from journalban.matching.library import FilterLibrary
from journalban.sources.files import FileSource

FRAME_HEADER = struct.Struct("<I")
WORKER = [sys.executable, "-m", "journalban.agent.fileworker"]
PIPE_BYTES = 1 << 20
# Bytes read per batch: the agent holds a few batches at a time; smaller
# bursts keep both processes' memory down at no measurable cost in speed.
BURST_BYTES = 1 << 18


@dataclass(frozen=True)
class FileJob:
    """What the child reads and how it matches (see ``FileSource`` and ``CompiledFilter``)."""

    key: str
    files: Sequence[str]
    findtime: float
    position: str | None
    filter: str
    mode: str | None
    override_dir: str | None
    trusted_proxies: Sequence[str] = ()
    real_ip_header: bool = False

    def encode(self) -> bytes:
        return json.dumps(asdict(self)).encode() + b"\n"

    @classmethod
    def decode(cls, line: bytes) -> FileJob:
        return cls(**json.loads(line))


class FileWorkerSource:
    """A file jail's source whose batches come with their failures already found.

    Raises (from ``batches``):
        SourceError: the child died; the agent restarts the source.
    """

    def __init__(self, job: FileJob, clock: Clock) -> None:
        self.key = job.key
        self._job = job
        self._clock = clock
        self._process: subprocess.Popen[bytes] | None = None
        self._closed = False

    @property
    def child_pid(self) -> int | None:
        return None if self._process is None else self._process.pid

    async def batches(self) -> AsyncIterator[LineBatch]:
        if self._closed:
            return
        process = self._start()
        assert process.stdout is not None  # noqa: S101 (set by _start)
        loop = asyncio.get_running_loop()
        stream = asyncio.StreamReader(loop=loop)
        transport, _ = await loop.connect_read_pipe(
            lambda: asyncio.StreamReaderProtocol(stream, loop=loop), process.stdout
        )
        try:
            while True:
                try:
                    header = await stream.readexactly(FRAME_HEADER.size)
                    body = await stream.readexactly(FRAME_HEADER.unpack(header)[0])
                except asyncio.IncompleteReadError:
                    if self._closed:
                        return
                    raise SourceError(
                        f"the reader of {self.key} exited (code {process.wait()})"
                    ) from None
                yield self._batch(body)
        finally:
            transport.close()
            self._stop()

    def _start(self) -> subprocess.Popen[bytes]:
        process = self._process = subprocess.Popen(
            WORKER, stdin=subprocess.PIPE, stdout=subprocess.PIPE
        )
        if process.stdin is None or process.stdout is None:
            raise SourceError("file reader started without pipes")
        with contextlib.suppress(OSError):  # over fs.pipe-max-size without privileges
            fcntl.fcntl(process.stdout.fileno(), fcntl.F_SETPIPE_SZ, PIPE_BYTES)
        process.stdin.write(self._job.encode())
        process.stdin.flush()
        return process

    def _batch(self, body: bytes) -> LineBatch:
        position, read, unreadable, truncated, lines, hosts, times = marshal.loads(body)  # noqa: S302 (our own child)
        return LineBatch(
            source=self.key,
            lines=lines,
            position=position,
            prefixed=True,
            arrival=self._clock.now(),
            unreadable=unreadable,
            truncated=truncated,
            read=read,
            hits=list(zip(lines, hosts, times, strict=True)),
        )

    def _stop(self) -> None:
        process = self._process
        if process is None:
            return
        if process.poll() is None:
            process.kill()
        process.wait()
        if process.stdin is not None:
            with contextlib.suppress(OSError):
                process.stdin.close()

    def close(self) -> None:
        """Stop reading; a pending ``batches()`` ends."""
        self._closed = True
        if self._process is not None and self._process.poll() is None:
            self._process.kill()  # the pipe's EOF ends batches(), which reaps it


# --- the child ---------------------------------------------------------------


def _matcher(job: FileJob, clock: Clock) -> LineMatcher:
    library = FilterLibrary(Path(job.override_dir) if job.override_dir else None)
    compiled = CompiledFilter(
        library.load(job.filter),
        job.mode,
        trusted_proxies=[parse_network(n) for n in job.trusted_proxies],
        real_ip_header=job.real_ip_header,
        check_idents=True,
    )
    return LineMatcher(compiled, clock.now)


def _frame(batch: LineBatch, matcher: LineMatcher) -> bytes:
    hits = matcher.hits(batch)
    body = marshal.dumps(
        (
            batch.position, batch.count, batch.unreadable, batch.truncated,
            [h[0] for h in hits], [h[1] for h in hits], [h[2] for h in hits],
        )
    )  # fmt: skip
    return FRAME_HEADER.pack(len(body)) + body


async def _serve(job: FileJob) -> None:
    clock = SystemClock()
    matcher = _matcher(job, clock)
    dates = DateReader(clock.now)

    def line_time(line: str) -> float | None:
        found = dates.find(line)
        return None if found is None else found.time

    source = FileSource(
        list(job.files), clock=clock, findtime=job.findtime, line_time=line_time,
        position=job.position, key=job.key, burst_bytes=BURST_BYTES,
    )  # fmt: skip
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
            out.write(_frame(batch, matcher))  # blocks while the agent is behind
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
