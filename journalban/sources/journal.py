"""Following the systemd journal: one reader child process per source, read through a pipe.

Reading costs about 2-3 µs per entry inside libsystemd, as much as matching
and deciding together, so a child process (``journalworker``) does all the
sd-journal work on the other core and hands over, in frames, only the entries
that hold one of the filter's literals (the others cannot match), with the
cursor of the last entry read. The event loop watches the pipe, the child
watches the journal's fd: no polling sleep on either side. Given a program
that runs a finder of failures in the child (``worker`` and ``matcher``), the
batches come with their failures already found (``LineBatch.hits``).
"""

from __future__ import annotations

import dataclasses
import logging
import socket
from collections.abc import AsyncIterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from journalban.clock import Clock
from journalban.events import LineBatch
from journalban.sources.child import ChildDied, ChildProcess, FrameStream, died
from journalban.sources.isolated import python_module
from journalban.sources.journaldamage import DamagedFiles
from journalban.sources.journalhelper import receive_helper_pipe
from journalban.sources.journalwire import (
    ABANDON,
    CUT,
    DATA,
    DEFAULT_BATCH_SIZE,
    DEFAULT_REOPEN_EVERY,
    DEFAULT_SPLIT_AT,
    DONE,
    FRAME_GAP,
    GO,
    GREW,
    HANDOVER,
    SKIPPED,
    SPLIT,
    Frame,
    Request,
    cursor_realtime_usec,
    is_cursor,
)

__all__ = ["DEFAULT_BATCH_SIZE", "JournalSource", "cursor_realtime_usec"]

log = logging.getLogger("journalban.sources")

WORKER = python_module("journalban.sources.journalworker")
# The limit of each reader's stream (the child's, and the helper's of a split catch-up):
# of its frames, 2 x 128 KiB and one read at most wait in the agent's memory
# (``FrameStream.most_waiting``: 512 KiB), beyond what its pipe holds in the kernel
# (``PIPE_BYTES``); the reader, its pipe full, waits in its write until the agent takes
# its frames. Nothing is dropped: each frame is read whole, in order, in its turn. A
# helper's frames wait for their turn: with no bound a split catch-up held up to 6.5 MB
# of them in the agent on sshd-flood, 2.6 MB on sshd-near-miss (docs/benchmarks.md,
# "Memory, fifth round").
STREAM_LIMIT = 128 << 10


_TOLD: list[bool] = []


def _tell_catch_up_reader() -> None:
    """Log once which reader the journal catch-up uses for closed files (journalnative)."""
    if _TOLD:
        return
    _TOLD.append(True)
    from journalban.sources.journalnative import ENV, native_available

    if native_available():
        log.info("the journal catch-up reads closed files natively (%s=0 turns it off)", ENV)
    else:
        log.info("the journal catch-up reads closed files through libsystemd "
                 "(the native reader is not built, or %s=0)", ENV)  # fmt: skip


@dataclass
class _Ahead:
    """A reader child started before its source: its worker, helper socket (ours, the fd
    number the child has) and process."""

    worker: tuple[str, ...]
    channel: socket.socket | None
    their_fd: int | None
    child: ChildProcess


_AHEAD: list[_Ahead] = []


def start_ahead(worker: Sequence[str] = WORKER) -> None:
    """Start a reader child now, for the first ``JournalSource`` of ``worker`` to take.

    ``journalban run`` calls it first thing: the child's interpreter starts and
    imports (about 0.06 s of its 0.1 s start-up) on the other core while the
    agent imports, loads its configuration and restores its bans, instead of
    after READY; it waits for its request on stdin. One none took is ended by
    ``stop_ahead``.
    """
    channel: socket.socket | None = None
    their_fd = None
    try:
        channel, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
    except OSError:
        theirs = None
    try:
        their_fd = None if theirs is None else theirs.fileno()
        passed = () if their_fd is None else (their_fd,)
        child = ChildProcess(worker, None, STREAM_LIMIT, pass_fds=passed)
    except OSError:
        if channel is not None:
            channel.close()
        return  # the source starts its own child
    finally:
        if theirs is not None:
            theirs.close()
    if channel is not None:
        channel.setblocking(False)  # as _start_child's
    _AHEAD.append(_Ahead(tuple(worker), channel, their_fd, child))


def stop_ahead() -> None:
    """End the children started ahead that no source took."""
    while _AHEAD:
        ahead = _AHEAD.pop()
        if ahead.channel is not None:
            ahead.channel.close()
        ahead.child.stop()


class JournalSource(DamagedFiles):
    """Reads the entries one jail matches, from a saved cursor on, forever.

    ``matches`` are groups of ``FIELD: value`` conditions: inside a group they
    must all hold, and an entry is read when any group holds. ``position`` is
    the cursor of the last entry already handled; without one, reading starts
    ``findtime`` seconds back. ``directory`` reads journal files from a
    directory, ``namespace`` a journal namespace; neither means the local
    system journal. ``prefilter`` holds the filter's literals: every message
    a failregex can match holds one of them, and only those messages are
    handed out (``LineBatch.read`` counts every entry read). Empty hands out
    every entry; None: the child's finder's (``Request.prefilter_from_finder``). ``worker`` is the child's command line; ``matcher`` is handed
    to it (see ``journalworker.main``). ``shunned``: the state's row of the files an
    earlier run shunned (``journalshunned``), which no reader child opens.
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
        prefilter: Sequence[str] | None = (),
        reopen_every: int = DEFAULT_REOPEN_EVERY,
        split_at: int = DEFAULT_SPLIT_AT,
        worker: Sequence[str] = WORKER,
        matcher: Mapping[str, Any] | None = None,
        session_field: str | None = None,
        frame_gap: float = FRAME_GAP,
        split_most_hits: float | None = None,
        shunned: str | None = None,
        cut: str | None = None,
    ) -> None:
        self.key = key
        self._clock = clock
        self._findtime = findtime
        self._matches = [dict(group) for group in matches]
        if position is not None and not is_cursor(position):
            # A damaged or hand-edited state file: the reader could not seek to it
            # (sd-journal refuses it at every start), so read back as on a first start.
            log.warning("the position stored for %s, %r, cannot be read as a journal cursor: "
                        "reading back %s from the last findtime instead",
                        key, position[:120], key)  # fmt: skip
            position = None
        self._cursor = position
        self._directory = directory
        self._namespace = namespace
        self._batch_size = batch_size
        self._prefilter = None if prefilter is None else tuple(prefilter)
        self._reopen_every = reopen_every
        self._split_at = split_at
        self._split_most_hits = split_most_hits
        self._worker = list(worker)
        self._matcher = matcher
        self._session_field = session_field
        self._children: list[FrameStream] = []
        # A child started ahead and told the request before the agent was ready (prepare).
        self._prepared: tuple[socket.socket | None, ChildProcess] | None = None
        self._frame_gap = frame_gap
        self._init_damaged(shunned, cut)  # journaldamage
        self._closed = False
        self.invalidations = 0
        _tell_catch_up_reader()

    @property
    def waiting(self) -> list[int]:
        """The bytes of frames each reader has waiting in memory (for tests and status)."""
        return [child.waiting for child in self._children]

    @property
    def child_pids(self) -> list[int]:
        """The reader children's pids while ``batches()`` runs (for tests and status)."""
        return [child.pid for child in self._children]

    def prepare(self) -> None:
        """Tell a reader child started ahead (``start_ahead``) its request now, before the
        agent is ready: it opens the journal, tunes its prefilter and builds the jail's
        finder meanwhile (20-35 ms that came after READY), and reads nothing until
        ``batches()`` says go (``Request.hold``). Without such a child, nothing: ``batches``
        starts one as before."""
        if self._prepared is not None or self._closed:
            return
        for index, ahead in enumerate(_AHEAD):
            if ahead.worker == tuple(self._worker):
                del _AHEAD[index]
                request = dataclasses.replace(self._request(ahead.their_fd), hold=True)
                try:
                    ahead.child.tell(request.encode())
                except OSError:  # it died waiting: batches() starts another
                    if ahead.channel is not None:
                        ahead.channel.close()
                    ahead.child.stop()
                    return
                self._prepared = (ahead.channel, ahead.child)
                return

    def _request(self, helper_socket: int | None = None) -> Request:
        since = self._clock.now() - self._findtime
        return Request(
            matches=self._matches,
            directory=self._directory,
            namespace=self._namespace,
            cursor=self._cursor,
            since_usec=max(0, int(since * 1e6)),
            batch_size=self._batch_size,
            prefilter=self._prefilter or (),
            prefilter_from_finder=self._prefilter is None,
            reopen_every=self._reopen_every,
            split_at=self._split_at,
            split_most_hits=self._split_most_hits,
            matcher=self._matcher,
            session_field=self._session_field,
            helper_socket=helper_socket,
            frame_gap=self._frame_gap,
            skip=self._skip,
            step=self._step,
            shun=[shunned.identity for shunned in self._shunned],
            cut_counted=self._cut,
        )

    def _batch(self, frame: Frame) -> LineBatch:
        self._cursor = frame.cursor
        # A helper counts none: the main child's count is the source's.
        self.invalidations = max(self.invalidations, frame.invalidations)
        return LineBatch(
            source=self.key,
            lines=frame.messages,
            times=frame.times,
            position=frame.cursor,
            prefixed=False,
            arrival=self._clock.now(),
            unreadable=frame.unreadable + self._unreported(),
            read=frame.read,
            hits=frame.hits,  # (then no lines: ``read`` counts them, the hits hold theirs)
            sessions=frame.sessions or (),
        )

    async def batches(self) -> AsyncIterator[LineBatch]:
        """Batches of matching entries; waits on the child's pipe when caught up.

        Raises:
            ChildDied: a reader child died (the agent restarts the source
                from the position it committed, ``agent.sourcing.Restarts``).
        """
        if self._closed:
            return
        if self.unreported and self._cursor is not None:
            # Entries of a file shunned, lost (resume, recall): counted now, not with the
            # first entries read, which may be long in coming (none when that file was the
            # one written to).
            yield LineBatch(source=self.key, lines=[], position=self._cursor, prefixed=False,
                            arrival=self._clock.now(), unreadable=self._unreported(),
                            read=0)  # fmt: skip
        channel, main = self._start_child()
        first_cut = True  # its first CUT frame: every file cut now (journalcut.tell_cut)
        self._children = [main]
        helper: FrameStream | None = None
        current: FrameStream = main
        try:
            await main.connect()
            while not self._closed:
                body = await current.body()
                frame = None if body is None else Frame.decode(body)
                if self._closed:
                    return
                if frame is None:
                    if current is main or helper is None:
                        raise died(f"journal reader of {self.key}", main.stop())
                    raise ChildDied(
                        f"journal reader helper of {self.key} ended before its share", helper=True
                    )
                if frame.kind == SPLIT and channel is not None:
                    # Its frames wait for their turn, most_waiting bytes of them in memory.
                    pipe = receive_helper_pipe(channel)
                    helper = FrameStream(pipe, STREAM_LIMIT, int(frame.messages[0]))
                    self._children.append(helper)
                    await helper.connect()
                elif frame.kind == HANDOVER and helper is not None:
                    # The two take turns group by group, in the journal's order.
                    current = helper if current is main else main
                elif frame.kind in (ABANDON, DONE) and helper is not None:
                    helper.close()  # done, or its files are read by the child itself
                    self._children.remove(helper)
                    current, helper = main, None
                elif frame.kind == DATA:
                    yield self._batch(frame)
                elif frame.kind == SKIPPED:
                    yield self._skipped(frame)
                elif frame.kind == GREW and (grew := self._grew(frame)) is not None:
                    yield grew
                elif frame.kind == CUT:
                    self._counted_cut(frame.messages, first_cut)
                    first_cut = False
        finally:
            if channel is not None:
                channel.close()
            self._stop_children()

    def _start_child(self) -> tuple[socket.socket | None, ChildProcess]:
        """The reader child, and the socket over which it hands the pipes of the helpers it
        forks (None: no socket to be had, it reads every file itself)."""
        if self._prepared is not None:
            channel, prepared = self._prepared
            self._prepared = None
            try:
                prepared.tell(GO)
            except OSError:  # it died waiting: start another
                if channel is not None:
                    channel.close()
                prepared.stop()
            else:
                return channel, prepared
        for index, ahead in enumerate(_AHEAD):
            if ahead.worker == tuple(self._worker):
                del _AHEAD[index]
                try:
                    ahead.child.tell(self._request(ahead.their_fd).encode())
                except OSError:  # it died waiting: start another
                    if ahead.channel is not None:
                        ahead.channel.close()
                    ahead.child.stop()
                    break
                return ahead.channel, ahead.child
        try:
            channel, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        except OSError:
            return None, ChildProcess(self._worker, self._request().encode(), STREAM_LIMIT)
        try:
            request = self._request(theirs.fileno()).encode()
            main = ChildProcess(self._worker, request, STREAM_LIMIT, pass_fds=(theirs.fileno(),))
        except BaseException:
            channel.close()
            raise
        finally:
            theirs.close()
        channel.setblocking(False)  # a helper's pipe is sent before its SPLIT frame
        return channel, main

    def _stop_children(self) -> None:
        for child in self._children:
            if isinstance(child, ChildProcess):
                child.stop()
            else:
                child.close()  # a forked helper: its next write fails, which ends it
        self._children = []

    def close(self) -> None:
        """Stop following; a pending ``batches()`` ends instead of waiting."""
        self._closed = True
        if self._prepared is not None:  # told its request, never started
            channel, prepared = self._prepared
            self._prepared = None
            if channel is not None:
                channel.close()
            prepared.stop()
        # The pending read sees EOF; batches() then ends.
        self._stop_children()
