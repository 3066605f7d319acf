"""The journal reader child's catch-up: a backlog read file group by file group.

``Follower`` (journalworker) reads a journal's backlog by groups of archived
files (journalfiles), in rounds of parts (journalsplit): a forked helper
(journalhelper) reads some parts on the second core while the child reads the
others, each handing over to the other where the next part is not its own, so
that the agent, taking the frames in order, has one at hand while both read.
Each part's reader is primed with the sessions the entries before it taught
(journalprime); a probe of the first entries decides whether to split at all
(journalprobe).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import TYPE_CHECKING, cast

from journalban.cpus import usable_cpus
from journalban.sources.journalfiles import (
    FileRange,
    catch_up_plan,
    cursor_seqnum,
    journal_files,
)
from journalban.sources.journalhelper import fork_helper
from journalban.sources.journalprime import prime
from journalban.sources.journalprobe import probe_read, probing, split_pays_after
from journalban.sources.journalsplit import TURNS, Part, parts_of, rounds, seqnum_cursor
from journalban.sources.journalwire import (
    ABANDON,
    DONE,
    HANDOVER,
    SPLIT,
    Frame,
    Request,
    SessionGate,
    cursor_realtime_usec,
)

if TYPE_CHECKING:
    import _socket

    from journalban.sources.journalworker import Follower
    from journalban.sources.sdreader import Reader


def any_shrunk(paths: Sequence[str]) -> bool:
    """Whether one of the journal files is shorter than its header says (its header's size
    and arena's: a file journald closed is never shorter): one cut since it was mapped."""
    for path in paths:
        try:
            with open(path, "rb") as file:
                head = file.read(104)
                size = os.fstat(file.fileno()).st_size
        except OSError:
            continue  # gone (vacuumed): its mapping stays whole until unmapped
        claimed = int.from_bytes(head[88:96], "little") + int.from_bytes(head[96:104], "little")
        if head[:8] == b"LPKSHHRH" and len(head) == 104 and claimed > size:
            return True
    return False


class CatchingUp:
    """``Follower``'s catch-up and the helper's parts (the attributes are ``Follower``'s)."""

    request: Request
    reader: Reader
    channel: _socket.socket | None
    cursor: str | None
    stdout: int
    gate: SessionGate | None
    files: list[str] | None
    held: list[int]
    read_since_open: int
    archived: list[str]
    probed: bool
    unsplit: bool
    after_helper: bool
    stop: str | None
    stop_usec: int | None
    # Selected entries of files found shrunk while the native reader read them (journalnative):
    # added to the next frame's ``unreadable`` (read_batch).
    lost = 0
    shrunk = False  # a file was found shrunk: the directory reader is opened again
    # A reader opened already for the next part of its files (take_kept): the probe's of
    # the first group's, read_live's; closed at the catch-up's end, or before a fork.
    kept: tuple[tuple[str, ...], Reader] | None = None
    cut_told: set[str]  # identities of the files told cut (journalcut)
    limit: int  # the entries of the next batch at most (journalbatch)

    if TYPE_CHECKING:  # provided by Follower

        def _open(self) -> Reader: ...
        def reposition(self) -> None: ...
        def reopen(self) -> None: ...
        def ensure_finder(self, fresh: bool = False) -> None: ...
        def drain(self, live: bool = False) -> None: ...
        def send(self, frame: Frame) -> None: ...

    def _follower(self) -> Follower:
        return cast("Follower", self)

    def note_damaged(self, path: str, entries: int) -> None:
        """A file the native reader found shrunk while it read it: logged, its entries not
        read counted (journalnative; the reader reads the other files on)."""
        from journalban.sources.journalnative import log_damaged
        from journalban.sources.journalshun import identity_of

        log_damaged(path, entries)
        self.lost += entries
        self.shrunk = True
        if (identity := identity_of(path)) is not None:
            self.cut_told.add(identity)  # not told again by the directory reader (journalcut)

    def catch_up(self) -> None:
        """Read the backlog file group by file group, then stand where the directory reader goes on.

        Raises:
            BrokenPipeError: the parent is gone.
        """
        directory_reader = self.reader
        if self.request.namespace is not None or not directory_reader._next():
            return
        first = directory_reader._get_cursor()
        directory_reader.seek_cursor(first)  # its next _next() is that entry again
        paths = journal_files(self.request.directory)
        if paths is not None and self.request.shun:  # never opened (agent.sourcing.Restarts)
            from journalban.sources.journalshun import without

            paths = without(paths, self.request.shun)
        groups, live, tail = (
            ([], 0, []) if paths is None or len(paths) < 2 else catch_up_plan(paths, first)
        )
        begin = cursor_seqnum(first)
        if not groups or begin is None:
            return
        if probing(self._follower(), groups, begin[1]):
            # Split from where the probe stopped, or else read on alone (the agent's
            # deciding bounds it).
            self.unsplit = not self.probe_archived(groups, first)
            self.catch_up()
            return
        start: str | None = first
        chunks = rounds(groups)
        self.archived = [r.path for group in groups for r in group]
        # No way to hand a helper's pipe over, no second CPU to run it on
        # (journalban.cpus: a quota counts), or a probe found that a helper would only
        # take the agent's core: this child reads every part itself. By parts all the
        # same, not through the directory reader: a part's reader follows only the match
        # groups selecting anything in its files (journalprune; sshd's corpus 32.8k ->
        # 31.7k instructions an entry).
        alone = self.channel is None or usable_cpus() < 2 or self.unsplit
        split_at = 1 << 62 if alone else self.request.split_at
        for index, chunk in enumerate(chunks):
            # After the last round this child reads the files still written to
            # as well: the helper takes more of that round, so that both end together.
            after = live if index == len(chunks) - 1 else 0
            most = 1 if self.request.session_field is not None else TURNS
            if not self.read_round(parts_of(chunk, begin, start, after, split_at, most)):
                break
            start = None
        else:
            if self.after_helper:  # the files still written to come after the helper's share
                prime(self._follower(), self.archived, None)
            if tail:
                self.read_live(tail, seqnum_cursor(begin[0], max(r.last for r in groups[-1]) + 1))
        self.take_kept(())
        self.after_helper = False
        self.files = None
        self.reader = directory_reader
        if self.shrunk or any_shrunk(self.archived):
            # The directory reader mapped that file before it shrank (found by a part's
            # reader, the helper's too, or cut after its part was read): libsystemd's reader
            # has no SIGBUS handler and would die on a page gone. A fresh one checks each
            # file's size at open and leaves the shrunk one out.
            self.shrunk = False
            self.reopen()
            return
        self.reposition()

    def probe_archived(self, groups: Sequence[Sequence[FileRange]], first: str) -> bool:
        """The probe (``journalprobe``) from the entry at ``first`` on: its first frame by the
        directory reader (the agent's first, sent before any file is opened apart), the rest
        by a reader of the first group's archived files (the native reader, where it takes
        them: about a third of libsystemd's directory reader's time an entry), which the part
        of those files reading on after it takes (``kept``); where that group runs out
        first, by the directory reader again, which then stands on the last entry handed
        out. Whether a split pays.

        Raises:
            BrokenPipeError: the parent is gone.
        """
        self.probed = True
        directory_reader = self.reader
        files = tuple(r.path for r in groups[0])
        last = max(r.last for r in groups[0])
        read, handed, short = probe_read(self._follower(), limit=self.limit)

        def on_directory_reader() -> bool:  # (the rest of the probe by the directory reader)
            more = probe_read(self._follower(), read)
            return split_pays_after(self._follower(), read + more[0], handed + more[1])

        cursor = self.cursor
        at = None if cursor is None else cursor_seqnum(cursor)
        if short or cursor is None or at is None or at[1] >= last:  # (the group read already)
            return on_directory_reader()
        self.files = list(files)
        try:
            reader = self._open()
        except OSError:  # vacuumed meanwhile: the directory reader probes on
            self.files = None
            return on_directory_reader()
        self.reader, self.read_since_open = reader, 0
        try:
            reader.seek_cursor(cursor)
            if not reader._next() or not reader.test_cursor(cursor):
                raise OSError("the native reader does not find the entry handed out last")
            more = probe_read(self._follower(), read)
        except BaseException:
            self.reader.close()
            self.files, self.reader = None, directory_reader
            raise
        reader = self.reader  # (reopened, after reopen_every entries)
        self.files, self.reader = None, directory_reader
        self.reposition()
        read, handed = read + more[0], handed + more[1]
        if more[2]:
            reader.close()
            return on_directory_reader()
        self.kept = (files, reader)
        return split_pays_after(self._follower(), read, handed)

    def take_kept(self, files: Sequence[str]) -> Reader | None:
        """The probe's reader, if it reads ``files`` (closed otherwise: none is kept)."""
        kept, self.kept = self.kept, None
        if kept is None:
            return None
        if kept[0] == tuple(files):
            return kept[1]
        kept[1].close()
        return None

    def read_live(self, paths: Sequence[str], start: str) -> None:
        """The entries from ``start`` (a seqnum cursor: the first after the archived groups)
        on of ``paths``, the files still written to (and any archived file among them): by
        the native reader where it takes them (none written to when it maps them, their
        entries in one order: ``journalnative``), up to what they held then; the directory
        reader goes on from the last entry handed out (what was appended since, or all of
        them where the native reader does not take them)."""
        from journalban.sources.journalnative import open_native

        try:
            native = open_native(paths, self.request.matches, self.note_damaged)
        except OSError:
            return  # gone meanwhile: the directory reader reads them
        if native is not None:
            self.kept = (tuple(paths), cast("Reader", native))  # (read_group takes it)
            self.read_group(Part(tuple(paths), False, start, None))

    def read_round(self, parts: Sequence[Part]) -> bool:
        """Hand out a round of parts of groups of files, in order.

        The helper reads the parts marked ``helped``, this child the others,
        each handing over to the other where the next part is not its own, so
        that the agent, taking them in order, has one at hand while both read.
        False when this child's files were vacuumed while being read: the
        directory reader must go on from the last entry handed out.
        """
        helper = [part for part in parts if part.helped]
        if helper and self.channel is not None:
            # Forked with the matcher built and unused: it starts as a new child would.
            # After a probe, or for a jail with sessions, with the finder as this child
            # left it: the helper's part may come right after what the probe or the round
            # before read (its part opens the round: ``journalsplit.turns``), and its
            # session table must hold what that taught, as one reader's would.
            self.ensure_finder(fresh=not self.probed and self.request.session_field is None)
            self.take_kept(())  # (not a reader to share with a forked process)
            first = parts[0].helped  # the helper's part opens the round
            try:
                pid = fork_helper(
                    self.channel, self.stdout, lambda out: self.help(helper, out, first)
                )
            except OSError:  # no fork, no pipe (limits, a sandbox): this child reads them all
                helper, parts = [], [Part(p.files, False, p.start, p.stop) for p in parts]
            else:
                self.send(Frame("", 0, kind=SPLIT, messages=[str(pid)]))
        for part in parts:
            if part.helped:
                self.send(Frame("", 0, kind=HANDOVER))
                # Handed out by the helper: go on after its last entry.
                self.cursor = self.last_cursor(part) or self.cursor
                self.after_helper = True
                continue
            if self.after_helper:  # sessions the helper's share taught
                self.after_helper = not self.prime_before(part)
            if not self.read_group(part):
                if helper:
                    self.send(Frame("", 0, kind=ABANDON))
                return False
        return True

    def read_group(self, part: Part) -> bool:
        """Hand out the entries of one part of a group of files (through the reader ``kept``
        of its files, if there is one)."""
        self.files = list(part.files)
        try:
            self.reader = self.take_kept(part.files) or self._open()
        except OSError:
            return True  # vacuumed meanwhile: its entries are gone
        self.read_since_open = 0
        self.stop_before(None if part.stop is None else self.resolved(part.stop))
        if part.start is not None:
            self.reader.seek_cursor(part.start)
        else:
            self.reader.seek_head()
        try:
            self.drain()
        except BrokenPipeError:
            raise
        except OSError:
            # A reopen found its files vacuumed, or the native reader's hand-over failed
            # (libsystemd did not open the files or find the entry): the directory reader
            # reads on from the last entry handed out (catch_up; a helper's source restarts
            # from its committed cursor), skipping nothing libsystemd reads.
            return False
        finally:
            self.reader.close()
            self.stop_before(None)
        return True

    def stop_before(self, cursor: str | None) -> None:
        """Hand out no entry from the one at ``cursor`` on (None: read to the end)."""
        self.stop = cursor
        self.stop_usec = None if cursor is None else cursor_realtime_usec(cursor) or 0

    def resolved(self, stop: str) -> str | None:
        """The full cursor of the reader's first entry at or after ``stop`` (a seqnum-only
        cursor: both readers find the same entry); None: there is none."""
        reader = self.reader
        reader.seek_cursor(stop)
        return reader._get_cursor() if reader._next() else None

    def last_cursor(self, part: Part) -> str | None:
        """The cursor of the last entry of a part the helper reads: where to read on after it."""
        self.files = list(part.files)
        reader = self._open()
        try:
            if part.stop is not None:
                reader.seek_cursor(part.stop)
                if reader._next():  # on the entry after the part: the one before is its last
                    return reader._get_cursor() if reader._previous() else None
            reader.seek_tail()
            return reader._get_cursor() if reader._previous() else None
        finally:
            reader.close()

    def prime_before(self, part: Part) -> bool:
        """Teach the session table what the entries before ``part`` taught (``journalprime``);
        False when the part is empty (the next one is primed instead)."""
        if self.gate is None:
            return True  # no sessions
        self.files = list(part.files)
        try:
            reader = self._open()
        except OSError:
            return False  # vacuumed meanwhile: read_group skips it
        try:
            if part.start is not None:
                reader.seek_cursor(part.start)
            else:
                reader.seek_head()
            first = reader._get_cursor() if reader._next() else None
        finally:
            reader.close()
        if first is not None:
            prime(self._follower(), self.archived, first)
        return first is not None

    def help(self, parts: Sequence[Part], out: int, first: bool = False) -> None:
        """A forked helper's whole life: its parts of archived files, in order, on ``out``.

        ``first``: its first part opens the round (the session table it was forked with is
        the one to read it with); else the child's part comes before it, and its table is
        taught the entries before it first.
        """
        self.stdout = out
        self.reader.close()
        for fd in self.held:  # the child's copies keep them: no wait here
            os.close(fd)
        self.held = []
        self.after_helper = not first
        for index, part in enumerate(parts):
            if self.after_helper:
                self.after_helper = not self.prime_before(part)
            if index:
                self.send(Frame("", 0, kind=HANDOVER))  # back to the main child
            if not self.read_group(part):
                raise OSError(f"journal files vacuumed while the helper read them: {part.files}")
        self.send(Frame("", 0, kind=DONE))
