"""The journal reader child run in the test's own process, and the frames it writes.

``run_child`` makes a ``journalworker.Follower`` of a request, as the child's
``main`` would, writing its frames to a file; when it forks a helper for a
split catch-up (a ``SPLIT`` frame), the helper's pipe is received over the
request's socket, read to its end and the helper reaped here, as the agent
does. ``turns`` orders both streams the way the agent takes them.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import socket
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from journalban.sources.frames import FRAME_HEADER
from journalban.sources.journalhelper import receive_helper_pipe
from journalban.sources.journalwire import DONE, HANDOVER, SPLIT, FindHits, Frame, Request
from journalban.sources.journalworker import Follower


def frames_in(data: bytes) -> list[Frame]:
    frames = []
    while data:
        (size,) = FRAME_HEADER.unpack(data[: FRAME_HEADER.size])
        frames.append(Frame.decode(data[FRAME_HEADER.size : FRAME_HEADER.size + size]))
        data = data[FRAME_HEADER.size + size :]
    return frames


@contextlib.contextmanager
def follower_at_start(request: Request, out: Path) -> Iterator[Follower]:
    """A ``Follower`` of ``request`` at the journal's start, writing its frames to
    ``out``, with its stdin a pipe whose other end (the agent's) stays open meanwhile:
    the child goes on. Its descriptors are closed after; the caller closes the follower."""
    fd = os.open(out, os.O_WRONLY | os.O_CREAT | os.O_TRUNC)
    stdin, parent = os.pipe()
    try:
        follower = Follower(request, stdin, fd)
        follower.seek_start()
        yield follower
    finally:
        for end in (fd, stdin, parent):
            os.close(end)


def turns(mine: list[Frame], theirs: list[Frame]) -> list[tuple[int, Frame]]:
    """(0 for this child, 1 for the helper, frame) in the order the agent takes them."""
    streams = [iter(mine), iter(theirs)]
    current = 0
    taken: list[tuple[int, Frame]] = []
    while (frame := next(streams[current], None)) is not None:
        taken.append((current, frame))
        if frame.kind == HANDOVER:
            current = 1 - current
        elif frame.kind == DONE:
            current = 0
    return taken


@dataclass
class ChildRun:
    mine: list[Frame]  # the child's frames, its SPLIT frame left out
    theirs: list[Frame]  # the helper's frames ([] when it forked none)
    helper_status: int | None  # the (last) helper's wait status; None: no helper was forked
    helpers: int = 0  # how many were forked (one per round of a split catch-up)


def run_child(
    request: Request,
    out: Path,
    *,
    make_finder: Callable[[], FindHits] | None = None,
) -> ChildRun:
    """A ``Follower`` of ``request`` (given a helper socket) reads from the start through
    the catch-up and the files still written to; its frames go to ``out``."""
    agent_end, child_end = socket.socketpair()
    request = dataclasses.replace(request, helper_socket=child_end.fileno())
    fd = os.open(out, os.O_WRONLY | os.O_CREAT | os.O_TRUNC)
    try:
        follower = Follower(request, fd, fd, make_finder=make_finder)
        follower.seek_start()
        follower.catch_up()  # this child's groups; the helper's are handed over
        follower.drain()  # then the files still written to
        follower.close()  # its socket object closes the child's end
        child_end.detach()
    finally:
        os.close(fd)
    frames = frames_in(out.read_bytes())
    theirs: list[Frame] = []
    status = None
    helpers = 0
    # A SPLIT frame opens each round's split (the first after the frames of a probe,
    # journalprobe); each helper's pipe comes over the socket in that order, and its
    # frames end with DONE, which hands the turn back to this child (``turns``).
    for frame in frames:
        if frame.kind != SPLIT:
            continue
        with receive_helper_pipe(agent_end) as pipe:
            theirs += frames_in(pipe.read())  # to its end: the helper has exited
        status = os.waitpid(int(frame.messages[0]), 0)[1]  # forked here: reaped here
        helpers += 1
    agent_end.close()
    mine = [frame for frame in frames if frame.kind != SPLIT]
    return ChildRun(mine, theirs, status, helpers)
