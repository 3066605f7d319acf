"""A large backlog of one file matched on two cores: the reader child and a helper it forks.

The file reader child (``filereader``) reads a file in bursts and matches each
burst; on one core that is about 1 µs per line, so a catch-up of a few hundred
thousand lines (a first start on a busy log, or an agent that was stopped)
waits on it while the other core idles. When a live file holds at least
``SPLIT_AT`` unread bytes, the child cuts them at line starts into turns and
forks a helper (everything imported, the matcher built: it reads within a
millisecond). The turns alternate, child, helper, child...: each reads and
matches its own turns, and the helper writes the frames of its turns to a
pipe of its own, which the child hands on to the agent in turn, after the
frames of its own turn before. So the agent receives the same frames in the
file's order as from one reader (only the burst boundaries differ), with
the position after each: a crash anywhere resumes from the last position
the agent committed, as always.

Kept identical to one reader: the helper starts with the child's matcher and
session table as they were at the fork. A jail with sessions is split only
when its table holds no session and no line of the backlog holds a literal
of a teaching line (then no reader's table changes). The matcher's date
format is the one settled at the fork (or settled by each reader on its
own first line): one format per file, as in every real log.

If the helper fails, or the file shrinks meanwhile (a copytruncate), the
split ends at the last frame handed on, and the child reads on alone from
there as without a split (its rotation checks see the truncation), and
splits no more.

Worth it only with a core free for the helper (``core_free``) and a jail
whose deciding does not bound the catch-up (``fileworker.split_pays``).
Nothing beyond the standard library and the child's own modules.
"""

from __future__ import annotations

import contextlib
import fcntl
import gc
import itertools
import marshal
import os
import signal
import struct
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import IO

from journalban.cpus import usable_cpus
from journalban.events import LineBatch
from journalban.matching.sessions import SessionTable
from journalban.sources.files import FileSource
from journalban.sources.frames import FRAME_HEADER, pack_frame
from journalban.sources.tail import MAX_LINE_BYTES, TailedFile

# ``JOURNALBAN_FILE_SPLIT`` in the agent's environment: ``never`` (one reader
# always), ``always`` (split whatever the load: tests), else ``auto``.
SPLIT_ENV = "JOURNALBAN_FILE_SPLIT"
# Unread bytes of one file from which a second process pays: below, one
# reader matches them in well under 0.1 s, and no process is forked.
SPLIT_AT = 8 << 20
# Bytes one split covers at most (a larger backlog is split again after it).
ROUND_BYTES = 64 << 20
# A file that grew by this much more than one burst read since the last look is being
# written faster than a reader reads (a log copied or restored in one go): a split planned
# now would cover only what is there, and another fork would follow for the rest while
# the first helper idles. It is split once it stops growing that fast.
GROWING = 1 << 20
# Bytes per turn: the helper runs at most about a pipe's worth of frames
# ahead (``PIPE_BYTES``, kernel memory, not the child's), so turns are short.
TURN_BYTES = 4 << 20
PIPE_BYTES = 1 << 20
# During a split both readers read, match and send a frame per 256 KiB, as the
# child without a split. (Bursts of 64 KiB merged into such frames saved the
# helper about 1 MB and cost dovecot's readers about 10% more CPU.)
READ_BURST = 256 << 10
FRAME_BYTES = 256 << 10
# The end of one of the helper's turns in its pipe (a frame has a body).
TURN_END = pack_frame(b"")
# Ahead of each frame body in the helper's pipe: the offset after it, whether
# that is inside an overlong line's dropped tail, and the lines it stands for.
HELPER_HEAD = struct.Struct("<Q?Q")

# A batch's frame body (``filereader._body``), with its failures found.
Body = Callable[[LineBatch], bytes]


_REALTIME = (os.SCHED_FIFO, os.SCHED_RR)


class SplitEnded(Exception):
    """The split cannot go on as planned (the helper failed, the file shrank)."""


@dataclass(frozen=True)
class Turn:
    """Bytes ``[start, end)`` of the backlog, read by the helper when ``helped``."""

    start: int
    end: int
    helped: bool


def core_free(cpus: int) -> bool:
    """False when, besides this process, as many tasks as ``cpus`` are runnable right now
    (``/proc/loadavg``'s running count): the helper would wait for a core, and the
    child for the helper at each turn (on a host at load 5-6, a split read postfix's
    backlog slower than one reader).

    True under a real-time policy (``SCHED_FIFO``, ``SCHED_RR``: ``chrt``, a unit's
    ``CPUSchedulingPolicy``), which the helper inherits: it takes its core from any
    task of the normal policy, so their load does not hold it back (dovecot's 42 MB
    from a file under ``chrt -r 1`` at load 4-6: 0.33 s alone, 0.27 s split)."""
    with contextlib.suppress(OSError):
        if os.sched_getscheduler(0) in _REALTIME:
            return True
    try:
        with open("/proc/loadavg", "rb") as f:
            running = int(f.read().split()[3].split(b"/")[0])
    except (OSError, ValueError, IndexError):
        return True
    return running - 1 < cpus


def line_start_after(fd: int, at: int, limit: int) -> int | None:
    """The offset just after the first newline at or after ``at`` (before ``limit``)."""
    window = os.pread(fd, min(2 * MAX_LINE_BYTES, max(0, limit - at)), at)
    newline = window.find(b"\n")
    return None if newline < 0 else at + newline + 1


def plan_turns(fd: int, start: int, end: int, turn_bytes: int = TURN_BYTES) -> list[Turn]:
    """``[start, end)`` (both line starts) cut at line starts into alternating turns."""
    count = max(2, (end - start) // turn_bytes)
    count += count % 2  # the child and the helper, the same number each
    cuts = [start]
    for index in range(1, count):
        found = line_start_after(fd, start + (end - start) * index // count, end)
        if found is not None and cuts[-1] < found < end:
            cuts.append(found)
    cuts.append(end)
    return [Turn(a, b, n % 2 == 1) for n, (a, b) in enumerate(itertools.pairwise(cuts))]


def sessions_allow(table: SessionTable | None, fd: int, start: int, end: int) -> bool:
    """True when splitting cannot change what the session table finds (see the module)."""
    if table is None:
        return True
    literals = table.teach_literals
    if not table.idle or literals is None:
        return False
    needles = [literal.encode() for literal in literals]
    overlap = max((len(n) for n in needles), default=1) - 1
    at = start
    while at < end:
        chunk = os.pread(fd, min(1 << 20, end - at) + overlap, at)
        if any(needle in chunk for needle in needles):
            return False
        if not chunk:
            break
        at += 1 << 20
    return True


def line_start_before(fd: int, at: int, floor: int) -> int | None:
    """The offset just after the last newline before ``at`` (after ``floor``)."""
    low = max(floor, at - 2 * MAX_LINE_BYTES)
    newline = os.pread(fd, at - low, low).rfind(b"\n")
    return None if newline < 0 else low + newline + 1


def turn_batches(
    source: FileSource, tailed: TailedFile, turn: Turn, burst: int
) -> Iterator[LineBatch]:
    """The batches of one turn, read from its start to its end, burst by burst.

    Raises:
        SplitEnded: the file no longer holds the turn's bytes.
    """
    tailed.stand_at(turn.start)
    while tailed.offset < turn.end:
        left = turn.end - tailed.offset - tailed.pending
        if left <= 0:
            raise SplitEnded("the turn ends inside a line: the file changed")
        before = (tailed.offset, tailed.pending)
        lines = tailed.read(min(burst, left))
        if lines:
            yield source.batch_of(tailed, lines)
        elif (tailed.offset, tailed.pending) == before:
            raise SplitEnded("the file is shorter than when the split began")


def matched_turn(
    source: FileSource,
    tailed: TailedFile,
    turn: Turn,
    body: Body,
    frame_bytes: int,
    read_burst: int = READ_BURST,
) -> Iterator[tuple[bytes, int]]:
    """The frame bodies of one turn and the lines each stands for, read and matched in
    ``read_burst`` bursts, one per ``frame_bytes`` read; ``tailed`` stands after each
    one's last line when it comes.

    Raises:
        SplitEnded: as ``turn_batches``, after the body of what was read before.
    """
    bodies: list[bytes] = []
    lines = 0
    sent = turn.start
    try:
        for batch in turn_batches(source, tailed, turn, read_burst):
            bodies.append(body(batch))
            lines += batch.count
            if tailed.offset - sent >= frame_bytes:
                yield merge_bodies(bodies), lines
                bodies.clear()
                lines, sent = 0, tailed.offset
    except SplitEnded:
        if bodies:
            yield merge_bodies(bodies), lines
        raise
    if bodies:
        yield merge_bodies(bodies), lines


@dataclass(frozen=True, slots=True)
class MatchedBatch(LineBatch):
    """A batch of a split, already matched: ``body`` is its frame body, handed on as it is
    (``filereader``), which holds its position, failures and counts; ``read`` the lines
    it stands for."""

    body: bytes = b""


class CatchUp:
    """``FileSource.splitter`` of the file reader child: splits a large backlog (see module).

    ``body`` is a batch's frame body (``filereader``), made in whichever process read it;
    both readers send one frame per ``frame_bytes`` of their turns.
    """

    def __init__(
        self,
        body: Body,
        table: SessionTable | None,
        frame_bytes: int = FRAME_BYTES,
        split_at: int = SPLIT_AT,
        turn_bytes: int = TURN_BYTES,
        read_burst: int = READ_BURST,
    ) -> None:
        self._body = body
        self._table = table
        self._frame_bytes = frame_bytes
        self._read_burst = read_burst
        self._split_at = split_at
        self._turn_bytes = turn_bytes
        self._cpus = usable_cpus()
        self._mode = os.environ.get(SPLIT_ENV, "auto")
        # Per file (descriptor): its size and the offset read from at the last look.
        self._looks: dict[int, tuple[int, int]] = {}
        self.splits = 0  # splits begun
        self.ended_early = False  # a split ended early: this child splits no more

    def __call__(self, source: FileSource, tailed: TailedFile) -> Iterator[LineBatch] | None:
        """The batches of a split of ``tailed``'s backlog; None when not worth one."""
        if self._cpus < 2 or self.ended_early or tailed.skipping or self._mode == "never":
            return None  # (a held partial line is read again from ``offset``, a line start)
        start = tailed.offset
        size = os.fstat(tailed.fd).st_size
        last = self._looks.get(tailed.fd)
        self._looks[tailed.fd] = (size, start)
        if size - start < self._split_at:
            return None
        if last is None or (size - last[0]) - (start - last[1]) > GROWING:
            return None  # how fast it grows is seen at the next burst (one burst alone)
        end = line_start_before(tailed.fd, min(size, start + ROUND_BYTES), start)
        if end is None or end - start < self._split_at:
            return None
        if self._mode != "always" and not core_free(self._cpus):
            return None  # asked again at the next burst
        if not sessions_allow(self._table, tailed.fd, start, end):
            return None
        turns = plan_turns(tailed.fd, start, end, self._turn_bytes)
        if len(turns) < 2:
            return None
        return self._split(source, tailed, turns)

    def _split(
        self, source: FileSource, tailed: TailedFile, turns: list[Turn]
    ) -> Iterator[LineBatch]:
        read_end, write_end = os.pipe()
        with contextlib.suppress(OSError):  # above fs.pipe-max-size without privileges
            fcntl.fcntl(write_end, fcntl.F_SETPIPE_SZ, PIPE_BYTES)
        # The helper's collections would copy every page they visit. (What the child froze
        # before it read, ``filereader.serve``, stays frozen after the fork.)
        thaw = not gc.get_freeze_count()
        gc.freeze()
        try:
            pid = os.fork()
        except OSError:
            os.close(read_end)
            os.close(write_end)
            if thaw:
                gc.unfreeze()
            return
        if pid == 0:  # pragma: no cover (the helper: seen through its frames)
            os.close(read_end)
            _helper(
                write_end, source, tailed, turns, self._body, self._frame_bytes, self._read_burst
            )
        if thaw:
            gc.unfreeze()
        os.close(write_end)
        self.splits += 1
        done = False
        pipe = os.fdopen(read_end, "rb")
        try:
            for turn in turns:
                if turn.helped:
                    yield from _helper_turn(pipe, source.key, tailed)
                else:
                    for merged, lines in matched_turn(
                        source, tailed, turn, self._body, self._frame_bytes, self._read_burst
                    ):
                        yield MatchedBatch(source.key, (), "", read=lines, body=merged)
            done = True
        except SplitEnded:
            # ``tailed`` stands after the last batch handed on: read on from there, alone
            # (a helper failing again and again would cost a fork per turn).
            self.ended_early = True
        finally:
            pipe.close()
            if not done:
                with contextlib.suppress(OSError):
                    os.kill(pid, signal.SIGKILL)
            with contextlib.suppress(ChildProcessError):
                os.waitpid(pid, 0)


def _helper_turn(pipe: IO[bytes], key: str, tailed: TailedFile) -> Iterator[LineBatch]:
    """The batches of one of the helper's turns, from its pipe; ``tailed`` follows them.

    Raises:
        SplitEnded: the helper ended before the end of its turn.
    """
    while True:
        header = pipe.read(FRAME_HEADER.size)
        if len(header) < FRAME_HEADER.size:
            raise SplitEnded("the helper ended early")
        (size,) = FRAME_HEADER.unpack(header)
        if size == 0:
            return
        message = pipe.read(size)
        if len(message) < size:
            raise SplitEnded("the helper ended early")
        offset, skipping, lines = HELPER_HEAD.unpack_from(message)
        tailed.stand_at(offset, bool(skipping))
        yield MatchedBatch(key, (), "", read=lines, body=message[HELPER_HEAD.size :])


def merge_bodies(bodies: list[bytes]) -> bytes:
    """One frame body for consecutive ``bodies``: the last position, counts summed, the
    failures, session rows and addresses in order."""
    if len(bodies) == 1:
        return bodies[0]
    fields = [marshal.loads(body) for body in bodies]  # noqa: S302 (our own bodies)
    counts = [sum(f[i] for f in fields) for i in (1, 2, 3)]
    lists = [[item for f in fields for item in f[i]] for i in (4, 5, 6)]
    return marshal.dumps((fields[-1][0], *counts, *lists))


def _helper(
    out_fd: int,
    source: FileSource,
    tailed: TailedFile,
    turns: list[Turn],
    body: Body,
    frame_bytes: int,
    read_burst: int,
) -> None:  # pragma: no cover (runs in the forked helper)
    """Read and match the helped turns, write their frames and turn ends; never returns."""
    code = 1
    try:
        gc.disable()  # short-lived: what it frees by reference counting is enough
        null = os.open(os.devnull, os.O_RDWR)
        os.dup2(null, 0)  # the agent sees the child's stdout end when the child ends
        os.dup2(null, 1)
        os.close(null)
        with os.fdopen(out_fd, "wb") as out:
            for turn in turns:
                if not turn.helped:
                    continue
                for merged, lines in matched_turn(
                    source, tailed, turn, body, frame_bytes, read_burst
                ):
                    head = HELPER_HEAD.pack(tailed.offset, tailed.skipping, lines)
                    out.write(FRAME_HEADER.pack(len(head) + len(merged)) + head + merged)
                    out.flush()
                out.write(TURN_END)
                out.flush()
        code = 0
    except (BrokenPipeError, SplitEnded):
        code = 0  # the child stopped reading us, or reads on alone
    except BaseException:
        import traceback  # only here: the child does without it

        traceback.print_exc()
        sys.stderr.flush()
    finally:
        os._exit(code)
