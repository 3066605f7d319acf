"""The file jail's reader child: reads and matches the jail's files, sends the failures.

``python -I -m journalban.agent.readerchild file``, started by ``fileworker.FileWorkerSource``
(which says what runs where and why). The request is one JSON line (``FileJob``)
on stdin, which then stays open: its EOF (the agent closed the source, or died)
ends the child. Each frame on stdout (``journalban.sources.frames``) is a
``marshal`` tuple ``(position, lines read, unreadable, truncated, hits, session
changes, addresses)``: the batch's failures as ``LineMatcher.hits`` gives them, a
tuple ``(line, address, time, user, mark)`` each, and their addresses parsed for the
deciding (``sources.hitkeys``).

It reads without an event loop (``FileSource.blocking_batches``, waiting in
``select`` on inotify and stdin) and imports neither asyncio nor PyYAML (the
agent sends its own FilterDef): 3.5 MB less than the asyncio child it replaces.
"""

from __future__ import annotations

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

from journalban.agent.filesplit import CatchUp, MatchedBatch
from journalban.clock import Clock, SystemClock
from journalban.events import LineBatch
from journalban.matching.dates import DateReader
from journalban.matching.engine import LineMatcher
from journalban.matching.sessions import SessionTable, file_session_hits
from journalban.matching.spec import MatcherSpec, unpickle_filter
from journalban.matching.warmup import warm
from journalban.sources.files import BURST_BYTES as FILE_BURST_BYTES
from journalban.sources.files import FileSource
from journalban.sources.frames import GO, pack_frame
from journalban.sources.heaptrim import HeapTrim, keep_heap
from journalban.sources.hitkeys import AddressKeys, agent_behind

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
    # A large backlog may be matched on two cores (``agent.filesplit``): worth a
    # second process only when reading and matching, not the agent's deciding,
    # bound the catch-up (``fileworker.split_pays``).
    split: bool = True
    # Told before the agent is ready (``FileWorkerSource.prepare``): build the matcher,
    # then read nothing until a ``GO`` line follows on stdin.
    hold: bool = False
    # The jail's ``ipv6_prefix``, for the hits' IPv6 keys (None: none sent; hitkeys).
    ipv6_prefix: int | None = None

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
    keys: AddressKeys | None = None,
) -> bytes:
    """The frame body of ``batch``: its failures (matched already in a split's turn)."""
    if isinstance(batch, MatchedBatch):
        return batch.body
    hits = matcher.hits(batch)
    changed: list[tuple[str, str | None]] = []
    if table is not None and dates is not None:

        def line_time(line: str) -> float | None:
            found = dates.find(line)
            return None if found is None else found.time

        hits += file_session_hits(table, batch.lines, line_time, matcher.ident_refused, time.time())
        changed = table.changes()
    # The hits as the matcher made them, one tuple each: marshalled in C as they are
    # (five lists taken apart here and zipped again by the agent cost sshd's child 9 ms).
    addresses = [] if keys is None else keys.of(hits)
    return marshal.dumps(
        (batch.position, batch.count, batch.unreadable, batch.truncated, hits, changed, addresses)
    )


def _frame(
    batch: LineBatch,
    matcher: LineMatcher,
    table: SessionTable | None = None,
    dates: DateReader | None = None,
    keys: AddressKeys | None = None,
) -> bytes:
    return pack_frame(_body(batch, matcher, table, dates, keys))


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
    keys = AddressKeys(job.ipv6_prefix)
    source = dated_file_source(
        job.files, clock, job.findtime, job.position, job.key, burst_bytes=BURST_BYTES
    )

    if job.split:  # a large backlog is matched on two cores (the child and a helper it forks)
        source.splitter = CatchUp(lambda b: _body(b, matcher, table, dates), table)
    if job.hold:  # the agent is still starting: the first lines' regexes compiled meanwhile
        warm(matcher, [sample.line for sample in matcher.filter.fdef.samples])
    trim = HeapTrim()
    keep_heap()  # a burst's buffers reuse the same heap pages; ``trim`` gives them back
    source.open_watches()
    # What the child has built to read with (modules, the jail's matcher) lives as long
    # as it: out of the collector's passes from now on, as in the journal child. A full
    # pass over it came in the first burst, among the regexes compiled there (dovecot:
    # 15 -> 7.5 ms), and every few hundred bursts after.
    gc.freeze()
    if not go():
        source.close()
        return

    def wait(fd: int | None, timeout: float | None) -> bool:
        """Until the files change or ``timeout``; False once the agent is gone."""
        trim.idle()  # caught up: the bursts' freed pages go back
        fds = [stdin] if fd is None else [stdin, fd]
        ready, _, _ = select.select(fds, [], [], timeout)
        return stdin not in ready or os.read(stdin, 4096) != b""

    try:
        out_fd = out.fileno()
    except (OSError, ValueError):  # (not a file: tests)
        out_fd = -1
    for batch in source.blocking_batches(wait):
        trim.read(batch.count)
        # The hits' addresses parsed here only while the agent reads behind (hitkeys).
        frame = _frame(batch, matcher, table, dates, keys if agent_behind(out_fd) else None)
        del batch  # (its text: the next burst is read without it)
        out.write(frame)
        out.flush()
        del frame


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
