"""A file jail's reading and matching in a child process, on the other core.

For a busy log file, finding the failures (scanning for the filter's
literals, the regexes, the dates) costs more than deciding on them. A file
jail therefore runs its ``FileSource`` and its ``LineMatcher`` in a child,
``python -I -m journalban.agent.readerchild file``, and the agent receives only the
failures, with the position after each batch; it commits positions, counts
and bans as for any other source, so a crash of either side loses nothing
and counts nothing twice (the child starts again from the committed position).

The request (``filereader.FileJob``) and the frames are described in
``filereader``, the child's own module.
"""

from __future__ import annotations

import dataclasses
import marshal
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING

from journalban.clock import Clock
from journalban.config.schema import JailConfig
from journalban.errors import SourceError
from journalban.events import LineBatch
from journalban.sources.child import ChildProcess
from journalban.sources.frames import GO
from journalban.sources.isolated import python_module

if TYPE_CHECKING:  # the child's module (its matching and file reading): only for file jails
    from journalban.agent.filereader import FileJob

WORKER = [*python_module("journalban.agent.readerchild"), "file"]
BUFFER_LIMIT = 1 << 16  # frames are read whole (readexactly): the pipe holds the backlog


def split_pays(jail: JailConfig) -> bool:
    """Whether the jail's reader child may match a large backlog on two cores.

    Only when reading and matching bound the catch-up: with detectors on,
    the agent's deciding costs more CPU per line than the child's reading
    and matching (measured on the four sshd corpora from a file, default
    configuration: agent 0.53-5.4 s against the child's 0.40-1.34 s), so a
    helper would finish early and only hold its memory (3-5 MB) meanwhile.
    """
    return not jail.detectors.any


# Children started before their source (``start_ahead``), waiting for their request.
_AHEAD: list[ChildProcess] = []


def start_ahead(count: int) -> None:
    """Start file reader children now until ``count`` wait, for the first file sources
    to take.

    The agent calls it once its configuration is loaded, with its file jails'
    number: a child's interpreter and imports (0.04-0.2 s, more on a busy
    machine) then run on the other core while the agent opens its state,
    restores its bans and sets up the firewall, instead of after READY, when
    a file jail's first lines wait for it. It waits for its request on stdin.
    One no source took is ended by ``stop_ahead``.
    """
    for _ in range(count - len(_AHEAD)):
        try:
            _AHEAD.append(ChildProcess(WORKER, None, BUFFER_LIMIT))
        except OSError:
            return  # each source starts its own


def stop_ahead() -> None:
    """End the children started ahead that no source took."""
    while _AHEAD:
        _AHEAD.pop().stop()


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
        self._prepared: ChildProcess | None = None  # told its job, holding (``prepare``)
        self._closed = False

    def prepare(self) -> None:
        """Tell a child started ahead (``start_ahead``) its job now, before the agent is
        ready: it builds the jail's matcher meanwhile (25-30 ms that came after READY,
        before its first frame), and reads nothing until ``batches()`` says go
        (``FileJob.hold``). Without such a child, nothing: ``batches`` starts one."""
        if self._prepared is not None or self._closed or not _AHEAD:
            return
        child = _AHEAD.pop(0)
        try:
            child.tell(dataclasses.replace(self._job, hold=True).encode())
        except OSError:  # it died waiting: batches() starts another
            child.stop()
            return
        self._prepared = child

    async def batches(self) -> AsyncIterator[LineBatch]:
        if self._closed:
            return
        child = self._child = self._go() or _started(self._job)
        try:
            await child.connect()
            while (body := await child.body()) is not None:
                yield self._batch(body)
            if not self._closed:
                raise SourceError(f"the reader of {self.key} exited (code {child.stop()})")
        finally:
            child.stop()

    def _batch(self, body: bytes) -> LineBatch:  # (see filereader's frames)
        fields = marshal.loads(body)  # noqa: S302 (our own child)
        position, read, unreadable, truncated, hits, changed, addresses = fields
        return LineBatch(
            source=self.key,
            lines=(),  # (``read`` counts them; the hits hold the lines that matched)
            position=position,
            prefixed=True,
            arrival=self._clock.now(),
            unreadable=unreadable,
            truncated=truncated,
            read=read,
            hits=hits,
            sessions=[(str(k), v) for k, v in changed],
            addresses=addresses,
        )

    def _go(self) -> ChildProcess | None:
        """The child told its job in ``prepare``, told to read now; None: there is none."""
        child, self._prepared = self._prepared, None
        if child is None:
            return None
        try:
            child.tell(GO)
        except OSError:  # it died waiting: start another
            child.stop()
            return None
        return child

    def close(self) -> None:
        """Stop reading; a pending ``batches()`` ends."""
        self._closed = True
        if self._prepared is not None:  # told its job, never started
            self._prepared.stop()
            self._prepared = None
        if self._child is not None:
            self._child.stop()  # the pipe's EOF ends a pending batches()


def _started(job: FileJob) -> ChildProcess:
    """A child started ahead, told ``job``; else a new one."""
    while _AHEAD:
        child = _AHEAD.pop(0)
        try:
            child.tell(job.encode())
        except OSError:
            child.stop()  # died while it waited: take the next, or start one
            continue
        return child
    return ChildProcess(WORKER, job.encode(), BUFFER_LIMIT)
