"""The file jail's reader child: reads and matches the jail's files, sends the failures.

``python -I -m journalban.agent.readerchild file``, started by ``fileworker.FileWorkerSource``
(which says what runs where and why). The request is one JSON line (``FileJob``)
on stdin, which then stays open: its EOF (the agent closed the source, or died)
ends the child. Each frame on stdout (``journalban.sources.frames``) is a
``marshal`` tuple ``(position, lines read, unreadable, truncated, lines,
addresses, times, users, marks, session changes)`` of the failures of one
batch, or of a few consecutive batches of a backlog (``Frames``).

It reads without an event loop (``FileSource.blocking_batches``, waiting in
``select`` on inotify and stdin) and imports neither asyncio nor PyYAML (the
agent sends its own FilterDef): 3.5 MB less than the asyncio child it replaces.
"""

from __future__ import annotations

import fcntl
import gc
import json
import marshal
import os
import select
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from typing import IO

from journalban.agent.filesplit import CatchUp, Fields, MatchedBatch, merge_fields
from journalban.clock import Clock, SystemClock
from journalban.events import LineBatch
from journalban.matching.dates import DateReader
from journalban.matching.engine import LineMatcher
from journalban.matching.sessions import SessionTable, file_session_hits
from journalban.matching.spec import MatcherSpec, unpickle_filter
from journalban.sources.files import BURST_BYTES as FILE_BURST_BYTES
from journalban.sources.files import FileSource
from journalban.sources.frames import GO, pack_frame
from journalban.sources.heaptrim import HeapTrim

# Bytes read per batch: the agent holds a few batches at a time; smaller
# bursts keep both processes' memory down at no measurable cost in speed.
BURST_BYTES = 1 << 18
# Bursts of a backlog in one frame at most (``Frames``): 1 MiB of the file, and
# failures: the agent holds a few frames in its queue (sshd-flood's 1,250 a burst
# merged four at a time: 18 MB more at its peak).
MERGE_BURSTS = 4
MERGE_HITS = 1024
FIONREAD = 0x541B  # termios.FIONREAD (Linux): the bytes waiting in a pipe


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
    # A large backlog may be matched on two cores (``agent.filesplit``): worth a
    # second process only when reading and matching, not the agent's deciding,
    # bound the catch-up (``fileworker.split_pays``).
    split: bool = True
    # Told before the agent is ready (``FileWorkerSource.prepare``): build the matcher,
    # then read nothing until a ``GO`` line follows on stdin.
    hold: bool = False

    def encode(self) -> bytes:
        return json.dumps(asdict(self)).encode() + b"\n"

    @classmethod
    def decode(cls, line: bytes) -> FileJob:
        data = json.loads(line)
        data["matcher"] = MatcherSpec.from_json(data["matcher"])
        return cls(**data)


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


def _body(
    batch: LineBatch,
    matcher: LineMatcher,
    table: SessionTable | None = None,
    dates: DateReader | None = None,
) -> bytes:
    """The frame body of ``batch``: its failures (matched already in a split's turn)."""
    if isinstance(batch, MatchedBatch):
        return batch.body
    return marshal.dumps(_fields(batch, matcher, table, dates))


def _fields(
    batch: LineBatch,
    matcher: LineMatcher,
    table: SessionTable | None = None,
    dates: DateReader | None = None,
) -> Fields:
    """What the frame body of ``batch`` holds (see the module), before ``marshal``."""
    hits = matcher.hits(batch)
    changed: list[tuple[str, str | None]] = []
    if table is not None and dates is not None:

        def line_time(line: str) -> float | None:
            found = dates.find(line)
            return None if found is None else found.time

        hits += file_session_hits(table, batch.lines, line_time, matcher.ident_refused, time.time())
        changed = table.changes()
    return (
        batch.position, batch.count, batch.unreadable, batch.truncated,
        [h[0] for h in hits], [h[1] for h in hits], [h[2] for h in hits],
        [h[3] for h in hits], [h[4] for h in hits], changed,
    )  # fmt: skip


class Frames:
    """The child's frames on ``out``. While the agent has not read the last one (its pipe
    holds it), the bursts of a backlog (a burst that filled its read,
    ``FileSource.behind``) go up to ``MERGE_BURSTS`` at a time, with ``MERGE_HITS``
    failures at most, into one frame.

    The agent decides and commits a frame, or the few queued behind it, as one group:
    behind the child (the sshd jail's detectors, a ban-heavy log), it paid that per
    256 KiB burst, and larger frames let it catch up (from a file, issue 19: sshd's
    agent 0.47 -> 0.42 s of CPU, wall 0.50 -> 0.45 s; authlog-mixed's wall 0.31 ->
    0.285 s). Keeping up, it takes each frame as it comes, as before, and holds no
    more at a time (sshd-near-miss: the same frames and memory). A burst that ends the
    backlog, or a wait for the files, sends what is held (``flush``) at once: a live
    log's appends come one short burst at a time.
    """

    def __init__(self, out: IO[bytes]) -> None:
        self._out = out
        self._held: list[Fields] = []
        self._hits = 0  # held

    def add(self, fields: Fields, more: bool) -> None:
        """A burst's fields; ``more``: it filled its read, more lines are likely there."""
        hits = len(fields[4])
        if self._held and self._hits + hits > MERGE_HITS:
            self.flush()
        self._held.append(fields)
        self._hits += hits
        if not more or len(self._held) >= MERGE_BURSTS or not self._unread():
            self.flush()

    def _unread(self) -> int:
        """Bytes of frames written and not yet read by the agent (its pipe's)."""
        try:
            answer = fcntl.ioctl(self._out.fileno(), FIONREAD, b"\0\0\0\0")
        except (OSError, ValueError):
            return 0
        return int.from_bytes(answer, sys.byteorder)

    def add_body(self, body: bytes) -> None:
        """A frame body made already (a split's), after what is held."""
        self.flush()
        self._write(body)

    def flush(self) -> None:
        if self._held:
            held, self._held, self._hits = self._held, [], 0
            self._write(marshal.dumps(held[0] if len(held) == 1 else merge_fields(held)))

    def _write(self, body: bytes) -> None:
        self._out.write(pack_frame(body))
        self._out.flush()


def serve(job: FileJob, stdin: int, out: IO[bytes], go: Callable[[], bool] = lambda: True) -> None:
    """Read and match until the agent is gone (EOF on ``stdin``) or the pipe breaks.

    ``go``: called once the matcher is built, before anything is read; False ends the
    child (a job that holds: the agent's ``GO`` line, or its EOF).
    """
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

    if job.split:  # a large backlog is matched on two cores (the child and a helper it forks)
        source.splitter = CatchUp(lambda b: _body(b, matcher, table, dates), table)
    trim = HeapTrim()
    source.open_watches()
    # What the child has built to read with (modules, the jail's matcher) lives as long
    # as it: out of the collector's passes from now on, as in the journal child. A full
    # pass over it came in the first burst, among the regexes compiled there (dovecot:
    # 15 -> 7.5 ms), and every few hundred bursts after.
    gc.freeze()
    if not go():
        source.close()
        return

    frames = Frames(out)

    def wait(fd: int | None, timeout: float | None) -> bool:
        """Until the files change or ``timeout``; False once the agent is gone."""
        frames.flush()
        trim.idle()  # caught up: the bursts' freed pages go back
        fds = [stdin] if fd is None else [stdin, fd]
        ready, _, _ = select.select(fds, [], [], timeout)
        return stdin not in ready or os.read(stdin, 4096) != b""

    for batch in source.blocking_batches(wait):
        if isinstance(batch, MatchedBatch):
            frames.add_body(batch.body)
        else:
            frames.add(_fields(batch, matcher, table, dates), source.behind)
        trim.read(batch.count)


def main() -> None:
    stdin = sys.stdin.buffer
    job = FileJob.decode(stdin.readline())

    def go() -> bool:
        # (the same buffered reader as the job's line: the agent may have written both)
        return not job.hold or stdin.readline() == GO

    try:
        serve(job, stdin.fileno(), sys.stdout.buffer, go)
    except BrokenPipeError:
        pass  # the agent is gone
    except KeyboardInterrupt:
        pass
