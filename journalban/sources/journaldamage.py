"""A journal source's files that kill its readers or are cut short (``JournalSource``'s part).

After reader children died on an entry (``agent.sourcing.Restarts``), the next child
steps, skips it, or shuns its file (``journalrecover``, ``journalshun``); the files shunned
and the files cut short whose loss was counted (``journalcut``) are kept in the state,
in rows beside the source's position (``journalshunned``, ``journalwire.cut_row``), and
handed to each child in its request; what is appended to a shunned file still written
to is counted as the child tells it (``GREW`` frames). The entries lost are counted as
unreadable in the source's batches. Written by the source, read by ``agent.sourcing``.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

from journalban.events import LineBatch

if TYPE_CHECKING:
    from journalban.clock import Clock
    from journalban.sources.journalshun import Shunned
    from journalban.sources.journalwire import Frame

log = logging.getLogger("journalban.sources")


class DamagedFiles:
    """``JournalSource``'s bookkeeping of damaged journal files (a mixin: the source's
    key, clock, cursor, directory and batch size are its)."""

    key: str
    _clock: Clock
    _cursor: str | None
    _directory: str | None
    _batch_size: int

    def _init_damaged(self, shunned: str | None, cut: str | None) -> None:
        """The state's rows: ``shunned`` (``journalshunned``), ``cut`` (``journalcut``)."""
        self._step, self._skip = 0, False  # resume()
        self._shunned: list[Shunned] = []  # files no reader child opens (resume, recall)
        if shunned:
            from journalban.sources.journalshunned import decode

            self._shunned = decode(self.key, shunned)
        # The state's row of the shunned files, when it is to be written (agent.sourcing;
        # "": deleted).
        self.pending_row: str | None = None
        # The files cut short whose loss was counted, to their tail then (journalcut; the
        # state's row, ``cut``); ``pending_cut``: the row when it is to be written.
        self._cut: dict[str, int] = {}
        if cut:
            from journalban.sources.journalcut import decode_counted

            self._cut = decode_counted(self.key, cut)
        self.pending_cut: str | None = None
        # Entries of a shunned file lost, not yet counted in a batch as unreadable.
        self.unreported = 0
        self.skipped_in: list[str] = []  # the files of the entries skipped (SKIPPED frames)

    def resume(
        self,
        *,
        step: bool,
        skip: bool,
        shun: bool = False,
        shunned: Sequence[Shunned] = (),
        unreported: int = 0,
        skips: Mapping[str, int] | None = None,
    ) -> list[Shunned]:
        """Start the next reader child carefully (after children died on an entry, the
        agent's ``Restarts``): ``skip`` the entry after the position, then (``step``) hand
        out the next batch's worth of entries one per batch (``journalrecover``). No child
        opens the ``shunned`` files; ``shun``: nor the file of the entry after the position
        (found by the files' headers), whose entries from there on are lost, logged and
        counted as unreadable (with ``unreported``, those of an earlier source not yet
        counted). A skip in a file of many skipped entries (``skips``: entries skipped by
        file) shuns that file instead (``journalshun``). The files shunned from now on."""
        from journalban.sources.journalshun import shun_plan

        self.unreported = unreported
        self._shunned = list(shunned)
        known = {shunned.identity for shunned in self._shunned}
        skip, found, lost = shun_plan(self.key, self._cursor, self._directory, known,
                                      skip=skip, shun=shun, skips=skips or {})  # fmt: skip
        self._step, self._skip = self._batch_size if step else 0, skip
        if found is not None:
            from journalban.sources.journalshunned import encode

            self._shunned.append(found)
            self.unreported += lost
            self.pending_row = encode(self._shunned)
        return self._shunned

    def recall(self) -> list[Shunned]:
        """The files an earlier run shunned (given at construction) looked for, once, before
        the source first starts (``journalshunned.recall``): those gone forgotten, the
        entries written to the others since counted as unreadable. The files shunned."""
        if not self._shunned:
            return []
        from journalban.sources.journalshunned import encode, recall

        kept, lost = recall(self.key, self._directory, self._shunned)
        if kept != self._shunned:
            self.pending_row = encode(kept)
        self._shunned = kept
        self.unreported += lost
        return self._shunned

    def _grew(self, frame: Frame) -> LineBatch | None:
        """What was appended to shunned files (still written to) since counted, by their
        headers' last sequence numbers (``GREW``): lost, counted as unreadable now (a batch
        of no line), each file's count kept (``pending_row``, written to the state before
        the next batch: a restart counts from there, never twice); None: nothing new."""
        from journalban.sources.journalshunned import encode, grown

        lost = grown(self.key, self._shunned, frame.messages)
        if not lost:
            return None
        self.pending_row = encode(self._shunned)
        self.unreported += lost
        if self._cursor is None:
            return None  # no position yet: counted with the first entries read
        return LineBatch(source=self.key, lines=[], position=self._cursor, prefixed=False,
                         arrival=self._clock.now(), unreadable=self._unreported(),
                         read=0)  # fmt: skip

    def _counted_cut(self, told: Sequence[str], every: bool) -> None:
        """Keep how far the files cut short a reader child told are counted (``CUT``; their
        loss comes with its next frame), for the next child (``Request.cut_counted``) and
        the state (``pending_cut``): a child started again before anything later is read
        does not count them again. ``every``: the child's first such frame, which lists
        every file cut now (the others gone: forgotten)."""
        from journalban.sources.journalcut import encode_counted
        from journalban.sources.journalshun import tails_of

        tails = tails_of(told)
        kept = {} if every else dict(self._cut)
        for identity, tail in tails.items():
            kept[identity] = max(tail, self._cut.get(identity, 0))
        if kept != self._cut:
            self._cut = kept
            self.pending_cut = encode_counted(kept)

    def _unreported(self) -> int:
        lost, self.unreported = self.unreported, 0
        return lost

    @property
    def rows_pending(self) -> bool:
        """Whether a row of the state is to be written (``pending_row``, ``pending_cut``)."""
        return self.pending_row is not None or self.pending_cut is not None

    @property
    def stepping(self) -> bool:
        """Whether the reader child is told to step (``resume``)."""
        return self._step > 0

    @property
    def skipping(self) -> bool:
        """Whether the reader child is told to skip an entry first (``resume``)."""
        return self._skip

    def _skipped(self, frame: Frame) -> LineBatch:
        where = frame.messages[0] if frame.messages else ""
        self.skipped_in.extend(where.split(" or ") if where else ())
        log.warning("source %s skipped a journal entry its reader children died reading "
                    "(a damaged journal file?): file %s, cursor %s; counted as unreadable",
                    self.key, where or "(not found)", frame.cursor)  # fmt: skip
        self._cursor = frame.cursor
        return LineBatch(source=self.key, lines=[], position=frame.cursor, prefixed=False,
                         arrival=self._clock.now(), unreadable=1 + self._unreported(),
                         read=1)  # fmt: skip
