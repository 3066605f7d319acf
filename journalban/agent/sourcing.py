"""The agent's sources: started per jail, their batches queued for the decisions task.

Each source runs as a task of the agent's task group and puts its batches on
the decisions task's queue. A source that fails is logged, the agent marked
degraded, and, once what it queued is committed, the source is built again
from the committed positions: nothing is read twice or skipped.

One kind of entry kills every reader that reads it (a damaged journal file:
libsystemd aborts on a damaged compressed field, a file cut under its mapping
is SIGBUS): started again from the committed cursor, the reader child would die
there for ever. ``Restarts`` keeps the source from stalling on it: after a
reader child crashed, the next one steps, and after ``STRIKES`` stepping
children crashed with nothing handed at the same committed position, the next
one skips that one entry (``sources.journalrecover``), which is logged and
counted as unreadable. When the skipping child dies too (moving to the entry:
a damaged entry header or entry array), the next one shuns that entry's file,
the rest of it logged and counted as unreadable, and no later child of the
source opens it: a bounded number of restarts per damaged file. The files shunned
are kept in the state (``sources.journalshunned``): a restarted agent's children
never open them either; so is how far the loss of each file cut short was counted
(``sources.journalcut``): no child started again counts it twice.
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
from collections import Counter
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from journalban.agent.build import build_sources
from journalban.agent.catchup import CatchUps, behind
from journalban.agent.deciding import BatchItem, CallItem
from journalban.agent.fileworker import start_ahead as start_file_readers
from journalban.agent.fileworker import stop_ahead as stop_file_readers
from journalban.clock import SystemClock
from journalban.sources.child import ChildDied
from journalban.sources.journal import JournalSource, stop_ahead

if TYPE_CHECKING:
    from journalban.agent.build import JailParts
    from journalban.clock import Clock
    from journalban.config.schema import Config
    from journalban.sources.base import Source
    from journalban.sources.journalshun import Shunned
    from journalban.state.store import StateStore

log = logging.getLogger("journalban.agent")
SOURCE_RETRY = 5.0
RETRY_ENV = "JOURNALBAN_SOURCE_RETRY"  # seconds, instead of SOURCE_RETRY (tests)
# A reader child killed by one of these died of what it read (or of a bug): not the OOM
# killer's SIGKILL, nor an exit.
CRASHES = frozenset(
    {signal.SIGABRT, signal.SIGBUS, signal.SIGSEGV, signal.SIGILL, signal.SIGFPE, signal.SIGSYS}
)
# Stepping children crashed at the same committed position, nothing handed, before the
# next one skips the entry after it: one crash more than needed to know the entry, so
# that a crash of another cause (once) loses nothing.
STRIKES = 2


def source_retry() -> float:
    """The wait before a failed source starts again (``RETRY_ENV`` overrides it)."""
    try:
        return max(0.0, float(os.environ.get(RETRY_ENV, SOURCE_RETRY)))
    except ValueError:
        return SOURCE_RETRY


@dataclass
class Restarts:
    """How a source's next reader child starts after the last one failed (per source).

    A crash (``CRASHES``, or a helper that ended early) makes the next child step:
    its first batch's worth of entries one per batch, so that its own death leaves the
    committed position on the entry before the one it died at. A stepping child
    that crashed with nothing handed died at the entry after that position; when
    ``STRIKES`` of them did so at the same position, the next child skips that
    entry. A skipping child that crashed with nothing handed died moving to it (a
    damaged entry header or entry array, a page that faults): the next child shuns
    the file holding that entry (never opens it, kept in the state across restarts),
    losing the rest of that file and nothing else. Any other failure (an exit, SIGKILL)
    restarts the source as it was.
    """

    position: str | None = None  # where the stepping children crashed
    strikes: int = 0
    shunned: list[Shunned] = field(default_factory=list)  # files no child opens (JournalSource)
    skips: Counter[str] = field(default_factory=Counter)  # entries skipped, by file

    def after(
        self,
        error: BaseException,
        stepped: bool,
        handed: bool,
        position: str | None,
        skipped: bool = False,
    ) -> tuple[bool, bool, bool]:
        """(whether to step, whether to skip an entry first, whether to shun the file of the
        entry after the position) for the next child, after the source failed with
        ``error``; ``stepped``: its child stepped, ``handed``: it handed a batch,
        ``position``: the committed position the next child starts from, ``skipped``: its
        child was told to skip."""
        if not isinstance(error, ChildDied):
            return False, False, False
        if error.helper:
            return True, False, False  # how it ended is not known: the stepping child will tell
        if error.signal not in CRASHES:
            return False, False, False  # it exited (it said why), or was killed (the OOM killer)
        if not stepped or handed:
            return True, False, False
        if skipped:
            self.strikes, self.position = 0, None
            return True, False, True
        self.strikes = self.strikes + 1 if position == self.position else 1
        self.position = position
        if self.strikes < STRIKES:
            return True, False, False
        self.strikes, self.position = 0, None
        return True, True, False


class AgentSources:
    """The sources of ``Agent``'s jails: started, restarted when they fail, stopped."""

    clock: Clock
    config: Config
    parts: dict[str, JailParts]
    store: StateStore
    _readers_started: bool
    _group: asyncio.TaskGroup | None
    _queue: asyncio.Queue[BatchItem | CallItem | None]
    _source_tasks: dict[str, list[asyncio.Task[None]]]
    _sources: dict[str, list[Source]]
    _catchups: CatchUps
    _early: dict[str, list[Source]]
    _state: str
    degraded_reason: str

    if TYPE_CHECKING:  # provided by Agent

        async def _call(self, fn: Callable[[], Awaitable[Any]]) -> Any: ...

    def _readers_ahead(self) -> None:
        """Start the file jails' reader children (once), while the agent starts: their
        interpreter, imports and matcher (told their job before READY: earlysources) take
        40-70 ms, and the state, the decisions and the firewall's set-up run meanwhile."""
        if self._readers_started or type(self.clock) is not SystemClock:
            return  # (a fake clock reads files in process)
        self._readers_started = True
        start_file_readers(sum(j.source == "files" for j in self.config.enabled_jails))

    def _start_sources(self) -> None:
        if self._group is None:
            return
        positions = self.store.positions()
        for name, part in self.parts.items():
            if name in self._source_tasks:
                continue
            sources = self._early.pop(name, None)
            if sources is None:
                sources = build_sources(
                    part, self.config, self.clock, positions, self._session_rows(name)
                )
            self._sources[name] = sources
            self._source_tasks[name] = [
                self._group.create_task(self._read(name, src)) for src in sources
            ]
        # A reader child started ahead (cli.run) that no source took: ended after
        # the tasks above made their first step (each source takes one there).
        asyncio.get_running_loop().call_soon(stop_ahead)
        asyncio.get_running_loop().call_soon(stop_file_readers)

    def _session_rows(self, jail: str) -> list[tuple[str, str]]:
        from journalban.decisions.engine import SESSIONS
        from journalban.matching.sessions import session_value
        from journalban.state.detection import read_rows, readable_rows

        # Checked here: a row the reader child could not read stopped it at every restart.
        rows = read_rows(self.store.db, jail).get(SESSIONS, [])
        return readable_rows(session_value, rows, f"jail {jail} sessions")

    def _stop_sources(self, names: Sequence[str]) -> None:
        for name in names:
            for task in self._source_tasks.pop(name, []):
                task.cancel()
            for src in self._sources.pop(name, []):
                self._catchups.stopped(src.key)
                src.close()

    async def _read(self, jail: str, source: Source) -> None:
        """Hand a source's batches to the decisions task; restart the source if it fails."""
        catchups = self._catchups
        restarts = Restarts()
        if isinstance(source, JournalSource):
            restarts.shunned = source.recall()  # an earlier run's (journalshunned)
            await self._keep_rows(jail, source)
        while True:
            catchups.started(source.key)
            handed = False
            try:
                async for batch in source.batches():
                    handed = handed or batch.read != 0  # (not the count of a file shunned)
                    catchups.queued(source.key, behind=behind(batch, self._queue))
                    await self._queue.put(BatchItem(jail, batch))
                    if isinstance(source, JournalSource) and source.rows_pending:
                        # (a shunned file grew, journalshunned; a file cut told, journalcut)
                        await self._keep_rows(jail, source)
                return
            except asyncio.CancelledError:
                raise
            except Exception as error:
                log.exception("source %s of jail %s failed; restarting it", source.key, jail)
                self._state = "degraded"
                self.degraded_reason = f"source {source.key} of {jail} failed"
                failure = error
            await asyncio.sleep(source_retry())
            # Let the batches already queued be committed, then resume from there.
            await self._call(_nothing)
            source.close()
            if isinstance(source, JournalSource):
                await self._keep_rows(jail, source)  # its rows, read back below
            part = self.parts.get(jail)
            if part is None:
                return
            positions = self.store.positions()
            fresh = [
                s
                for s in build_sources(
                    part, self.config, self.clock, positions, self._session_rows(jail)
                )
                if s.key == source.key
            ]
            if not fresh:
                return
            stepped = isinstance(source, JournalSource) and source.stepping
            skipped = isinstance(source, JournalSource) and source.skipping
            unreported = 0
            if isinstance(source, JournalSource):
                unreported = source.unreported
                restarts.skips.update(source.skipped_in)
            source = fresh[0]
            if isinstance(source, JournalSource):
                step, skip, shun = restarts.after(
                    failure, stepped, handed, positions.get((jail, source.key)), skipped
                )
                restarts.shunned = source.resume(
                    step=step,
                    skip=skip,
                    shun=shun,
                    shunned=restarts.shunned,
                    unreported=unreported,
                    skips=restarts.skips,
                )
                await self._keep_rows(jail, source)
            self._sources[jail] = [s for s in self._sources.get(jail, []) if s.key != source.key]
            self._sources[jail].append(source)
            if self._state == "degraded" and self.degraded_reason.startswith("source"):
                self._state = "running"

    async def _keep_rows(self, jail: str, source: JournalSource) -> None:
        """Write the source's shunned files (``sources.journalshunned``) and the files cut
        short it counted (``sources.journalcut``) to the state, if they changed; a failed
        write is logged (they are shunned again; counted again)."""
        from journalban.errors import StateError
        from journalban.sources.journalwire import cut_row, shunned_row
        from journalban.state.sourcerows import put_row

        rows = [
            (shunned_row(source.key), source.pending_row),
            (cut_row(source.key), source.pending_cut),
        ]
        source.pending_row = source.pending_cut = None
        for row, text in rows:
            if text is None:
                continue
            try:
                await asyncio.to_thread(put_row, self.store, jail, row, text)
            except StateError as exc:
                log.warning("cannot keep the journal files of source %s in the state (%s): %s",
                            source.key, row, exc)  # fmt: skip


async def _nothing() -> None:
    return None
