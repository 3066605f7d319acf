"""The journal reader child: all sd-journal work of one JournalSource, in its own process.

Reading the journal costs microseconds per entry inside libsystemd (each
``_get`` walks the entry's items), more than matching and deciding together;
in a child process it runs on the second core. ``JournalSource`` starts
``python -m journalban.sources.journalworker``, writes one JSON request line
on its stdin and keeps stdin open: EOF there (the parent closed the source or
died) ends the child, and so does a failed write.

Each frame on stdout (``journalwire.Frame``: a 4-byte little-endian length
and a ``marshal`` tuple) carries the cursor of the last entry read, how many
entries that were, and the messages that hold one of the prefilter's
literals with their times. This module imports only the standard library and
systemd-python, so the child starts fast.

A program that runs ``main(find_hits)`` with a finder of failures (the
agent's ``journalban.agent.journalreader``, which builds the jail's matcher
from ``Request.matcher``) hands out the failures instead: ``messages`` then
holds only the lines that matched, ``hosts`` their address texts.
"""

from __future__ import annotations

import _socket
import contextlib
import dataclasses
import gc
import os
import re
import select
import signal
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, cast

from journalban.sources.journalbatch import FIRST_ENTRIES, read_batch
from journalban.sources.journalcatchup import CatchingUp
from journalban.sources.journalprune import groups_in
from journalban.sources.journalroute import Route, route_for
from journalban.sources.journalskip import Literals, scan_literals
from journalban.sources.journalwire import (
    GREW,
    FindHits,
    Frame,
    MakeFinder,
    Request,
    SessionGate,
    cursor_realtime_usec,
    is_cursor,
)
from journalban.sources.literalscan import first_look, literal_scan, sample_messages, sparse

# sd-journal (sources.sdreader) only where a journal is opened: the agent imports
# journalwire's constants and Request, not the reader.
if TYPE_CHECKING:
    from journalban.sources.sdreader import Reader

_INVALIDATE = 2  # sd-journal's SD_JOURNAL_INVALIDATE
SHUNNING_LOOK_MS = 1000  # a reader shunning files looks for new ones this often
# Session prefixes, the failure literals' scan, and the route of those prefixes and
# the finder's failure starts (None: the prefixes and the scan decide).
Split = tuple[tuple[bytes, ...], Callable[[bytes], object], Route | None]


class Follower(CatchingUp):
    """The blocking read loop of the child (its catch-up: ``CatchingUp``)."""

    def __init__(
        self,
        request: Request,
        stdin: int,
        stdout: int,
        find_hits: FindHits | None = None,
        make_finder: Callable[[], FindHits] | None = None,
    ) -> None:
        self.request = request
        self.find_hits: FindHits | None = None
        self.gate: SessionGate | None = None
        self._set_finder(find_hits)
        # Builds the finder when the first batch is read, or before a helper is forked.
        self.make_finder = make_finder
        self.finder_used = False
        self.channel = None
        if request.helper_socket is not None:
            # _socket's own socket, not socket.py's (journalhelper: the child's memory)
            self.channel = _socket.socket(fileno=request.helper_socket)
        self.cursor = request.cursor
        self.stdin = stdin
        self.stdout = stdout
        self.invalidations = 0
        self.files: list[str] | None = None  # those of the reader; None: every file
        # Every file but the shunned ones (Request.shun), as last listed: their reader's.
        self.unshunned: list[str] | None = None
        # The shunned files' last sequence numbers as last sent (GREW frames): by identity.
        self.shunned_tails: dict[str, int] | None = None
        # By archived files: the match groups selecting anything there (journalprune).
        self._groups: dict[tuple[str, ...], list[Mapping[str, str]]] = {}
        self.held: list[int] = []  # inotify instances of readers reopened, closed when idle
        self.cut_told: set[str] = set()  # identities of the files told cut (journalcut)
        self.cut_sent = False  # a CUT frame sent (journalcut.tell_cut)
        self.reader = self._open()
        self.read_since_open = 0
        # The entries the next batch reads at most: few at first (journalbatch.FIRST_ENTRIES)
        self.limit = min(request.batch_size, FIRST_ENTRIES)
        self.archived: list[str] = []  # the catch-up's archived files (journalprime)
        self.probed = False  # the catch-up's first entries were read to decide its split
        self.unsplit = False  # ... and the split did not pay: the child reads alone
        self.after_helper = False  # the next part comes after the helper's: prime it
        self.stop: str | None = None  # the cursor of the first entry not to read (stop_before)
        self.stop_usec: int | None = None  # ... its time: only entries as late are compared
        self.sent_at = 0.0  # time.monotonic() of the last frame of entries
        self.sample = b""  # the journal's last messages (literalscan), for the session split
        # literalscan.first_look where few messages hold a literal: (table, search).
        self.first_look: tuple[bytes, Callable[[bytes], object]] | None = None
        # The prefilter's literals for the native reader's _scan (journalskip), where tuned
        self.scan_literals: Literals | None = None
        # A jail whose session lines start with literals (SessionGate.prefixes): those
        # prefixes, and the scan for its failure literals alone (_session_split).
        self.split: Split | None = None
        self._split_scans: dict[tuple[str, ...], Callable[[bytes], object] | None] = {}
        self.scan = literal_scan(request.prefilter)
        if self.scan is not None and self.gate is not None:
            # A finder given whose route tells the candidates by their starts (sshd's):
            # no scan is asked, so none is tuned (the journal's last 1,000 messages read
            # and their bytes counted: 7 ms of the child's start on sshd's jail).
            self._set_split()
            if self.split is not None and self.split[2] is not None:
                return
            self._split_scans.clear()
        self.scan = self._tuned_scan()
        self._set_split()

    def _tuned_scan(self) -> re.Pattern[bytes] | None:
        """The prefilter, its pivots chosen by the journal's own last messages.

        The sample is read by the follower's own reader (left at its tail: ``seek_start``
        places it), not by a second one: opening a directory's files costs 5-7 ms, before
        the first entry and the helper's fork.
        """
        if self.scan is None:
            return None  # no literals, or not all ASCII: every entry is handed out
        if self.request.skip or self.request.step:
            # Children died on an entry (journalrecover), maybe one of the last read here.
            return self.scan
        sample = sample_messages(self.reader)
        if self.request.session_field is not None:
            self.sample = sample
        counts: dict[int, int] = {}  # the sample's bytes, counted once for both scans
        scan = literal_scan(self.request.prefilter, sample, counts)
        if scan is not None:
            self.scan_literals = scan_literals(self.request.prefilter, sample, counts)
        if scan is not None and sparse(scan, sample):
            self.first_look = first_look(self.request.prefilter, sample, counts)
        return scan

    def ensure_finder(self, fresh: bool = False) -> None:
        """Build the finder, if not yet built (``fresh``: again, if it has read)."""
        if self.make_finder is not None and (
            self.find_hits is None or (fresh and self.finder_used)
        ):
            self._set_finder(self.make_finder())
            self.finder_used = False

    def _set_finder(self, find_hits: FindHits | None) -> None:
        self.find_hits = find_hits
        gate = getattr(find_hits, "gate", None)
        self.gate = gate if self.request.session_field is not None else None
        if hasattr(self, "split"):
            self._set_split()

    def _set_split(self) -> None:
        """Split the prefilter where the gate allows (``SessionGate.prefixes``): a message is
        a candidate when it starts with a session regex's literal (the gate then decides on
        it) or holds a failure literal; the others (a session literal further on) could
        change nothing. Only when the prefilter is exactly those two sets of literals."""
        gate, self.split = self.gate, None
        prefixes = None if gate is None else gate.prefixes
        if gate is None or prefixes is None or self.scan is None:
            return
        failure = gate.failure_literals
        if failure not in self._split_scans:
            session = getattr(getattr(gate, "table", None), "rules", None)
            literals = None if session is None else session.literals
            wanted = {lit.strip() for lit in self.request.prefilter}
            same = literals is not None and wanted == {lit.strip() for lit in (*failure, *literals)}
            scan = literal_scan(failure, self.sample) if same else None
            self._split_scans[failure] = None if scan is None else scan.search
        search = self._split_scans[failure]
        if search is None:
            return
        # The finder's failure starts (JailFinder.start_classes), where it has them: a message
        # starting with neither them nor a session prefix is no candidate (journalroute).
        classes = getattr(self.find_hits, "start_classes", None)
        route = None if classes is None else route_for(prefixes, gate.teach_prefixes, classes)
        self.split = (prefixes, search, route)

    def open_files(self, files: Sequence[str]) -> Reader:
        """A reader of ``files`` with the jail's matches (this reader's own files unchanged)."""
        mine, self.files = self.files, list(files)
        try:
            return self._open()
        finally:
            self.files = mine

    def _open(self) -> Reader:
        from journalban.sources.sdreader import add_groups, open_reader

        request = self.request
        groups: Sequence[Mapping[str, str]] = request.matches
        if self.files is not None:
            # A catch-up's part or a priming: closed files the native reader reads, where it
            # is built and understands them (journalnative; a group selecting nothing costs
            # it one lookup at open), else libsystemd as below.
            from journalban.sources.journalnative import open_native

            native = open_native(self.files, groups, self.note_damaged)
            if native is not None:
                return cast("Reader", native)
        if self.files is not None and len(groups) > 1:
            key = tuple(self.files)
            if key not in self._groups:
                self._groups[key] = groups_in(key, groups)
            groups = self._groups[key]
        files, directory = self.files, request.directory
        if files is None and request.shun:
            from journalban.sources.journalshun import empty_directory, unshunned

            files = self.unshunned = unshunned(request)
            if files == []:  # every file shunned: a reader of no file (libsystemd refuses [])
                files, directory = None, empty_directory()
        if self.files is None:
            # Files cut short, which libsystemd leaves out without a word: told, counted.
            from journalban.sources.journalcut import tell_cut

            tell_cut(self, files)
        reader = open_reader(files=files, path=directory, namespace=request.namespace)
        if self.files is None:
            # sd_journal_get_fd() sets up the inotify watches: ask for it before
            # the first read, so nothing appended after that read goes unnoticed.
            # Not for a reader of some files (a catch-up's part, a priming): it
            # hands over to the directory reader, which watches them all, and
            # closing an inotify instance waits for the kernel to free its
            # watches (fsnotify_destroy_group: 10-60 ms here, every part).
            reader.fileno()
        add_groups(reader, groups)
        return reader

    def seek_start(self) -> None:
        """Place the reader so that ``_next()`` returns the first entry to hand out."""
        reader, cursor = self.reader, self.cursor
        if cursor is not None and not is_cursor(cursor):
            cursor = self.cursor = None  # the agent warned and sends none (JournalSource)
        if cursor is None:
            reader.seek_realtime(self.request.since_usec)
            return
        reader.seek_cursor(cursor)
        if reader._next() and reader.test_cursor(cursor):
            return  # on the entry handled last: the next _next() is new
        if self.request.shun:
            # Its file shunned, maybe: the next _next() goes to the first entry after it.
            reader.seek_cursor(cursor)
            return
        # That entry is gone (vacuumed, or no longer matched): the oldest entry
        # still there, skipping those older than it, which were handled before.
        when = cursor_realtime_usec(cursor)
        if when is None:
            reader.seek_head()
        else:
            reader.seek_realtime(when)

    def reposition(self) -> None:
        """After files came or went, stand on the last entry handed out again."""
        cursor = self.cursor
        if cursor is None:
            return
        reader = self.reader
        reader.seek_cursor(cursor)
        if reader._next() and reader.test_cursor(cursor):
            return
        # Its file was removed: the next _next() goes to the first entry
        # after where it stood.
        reader.seek_cursor(cursor)

    def reopen(self) -> None:
        """A fresh reader where the old one stood: its file mappings are dropped."""
        if self.files is None:
            # The directory reader watches the journal: closing its inotify instance waits
            # for the kernel to free the watches (fsnotify_destroy_group, 10-60 ms: a
            # stall every ``reopen_every`` entries of a catch-up). A copy of its descriptor
            # keeps the instance until this child is idle (``release``).
            with contextlib.suppress(OSError):
                self.held.append(os.dup(self.reader.fileno()))
        self.reader.close()
        self.reader = self._open()
        self.read_since_open = 0
        self.seek_start()

    def drain(self, live: bool = False) -> None:
        """Hand out what the reader has, until it has nothing more.

        ``live`` (following): stop after a frame short of a batch, which reached
        the end; what was appended meanwhile waits for the next wake-up and gap.
        Not after a reopen: the fresh reader watches the files only from its
        first wait, so it reads on until it finds nothing.
        """
        while True:
            limit = self.limit
            if (frame := self.read_batch()) is None:
                if self.lost and self.cursor is not None:
                    # Entries of a file cut (journalcut, journalnative), none read after them
                    self.send(Frame(self.cursor, 0, self.lost, self.invalidations))
                    self.lost = 0
                return
            self.send(frame)
            self.sent_at = time.monotonic()
            if self.read_since_open >= self.request.reopen_every:
                self.reopen()
            elif live and frame.read < limit:
                return

    def pace(self) -> bool:
        """Let a live stream's entries gather for ``FRAME_GAP`` after the last frame sent.

        False when the parent closed stdin meanwhile.
        """
        left = self.request.frame_gap - (time.monotonic() - self.sent_at)
        if left <= 0:
            return True
        poller = select.poll()
        poller.register(self.stdin, select.POLLIN)
        for fd, _ in poller.poll(left * 1000):
            if fd == self.stdin and not os.read(self.stdin, 4096):
                return False
        return True

    def read_batch(self) -> Frame | None:
        """The next batch of entries as a frame (``journalbatch``); None: none was read."""
        return read_batch(self)

    def at_stop(self) -> bool:
        """Whether the entry just reached is the first not to read; if so, step back onto the
        last one read (its cursor is the batch's)."""
        reader = self.reader
        if self.stop is None or not reader.test_cursor(self.stop):
            return False
        reader._previous()
        return True

    def send(self, frame: Frame) -> None:
        """Write a frame whole; raises BrokenPipeError once the parent is gone."""
        view = memoryview(frame.encode())
        while view:
            view = view[os.write(self.stdout, view) :]

    def release(self) -> None:
        """Close the inotify instances ``reopen`` held (this child has nothing to read)."""
        while self.held:
            os.close(self.held.pop())

    def wait(self) -> bool:
        """Sleep until the journal changes; False when the parent closed stdin."""
        self.release()
        reader = self.reader
        poller = select.poll()
        poller.register(self.stdin, select.POLLIN)
        poller.register(reader.fileno(), reader.get_events())
        # sd_journal_get_timeout() asks for a timed wake only when its fd is
        # not reliable (journal files on a network file system).
        timeout_ms = reader.get_timeout_ms()
        if self.unshunned is not None:
            # A reader of a list of files watches no directory: new files (a rotation) are
            # looked for each second.
            timeout_ms = SHUNNING_LOOK_MS if timeout_ms < 0 else min(timeout_ms, SHUNNING_LOOK_MS)
        for fd, _ in poller.poll(None if timeout_ms < 0 else timeout_ms):
            if fd == self.stdin and not os.read(self.stdin, 4096):
                return False
        if self.unshunned is not None and self.files is None:
            from journalban.sources.journalshun import look

            listed, tails = look(self.request)
            self.tell_shunned_tails(tails)
            if listed is None or sorted(listed) != sorted(self.unshunned):
                self.reopen()
                return True
        if reader.process() == _INVALIDATE:
            self.invalidations += 1
            from journalban.sources.journalcut import newly_cut  # (files came or went: rare)

            if self.files is None and newly_cut(self, self.unshunned):
                # A file cut under its mapping: libsystemd's reposition there dies of SIGBUS
                # (its pages past the new end); a fresh reader leaves the file out (journalcut).
                self.reopen()
                return True
            self.reposition()
        return True

    def tell_shunned_tails(self, tails: dict[str, int]) -> None:
        """Send the shunned files' last sequence numbers (``tails``: ``journalshun.look``'s;
        a ``GREW`` frame) when they changed
        since last sent (the first look: sent): what is appended to a shunned file still
        written to is counted as it comes (``JournalSource``), not at the agent's next start.

        Raises:
            BrokenPipeError: the parent is gone.
        """
        if tails == self.shunned_tails:
            return
        self.shunned_tails = tails
        told = [f"{identity} {tail}" for identity, tail in sorted(tails.items())]
        self.send(Frame(self.cursor or "", 0, kind=GREW, messages=told))

    def close(self) -> None:
        """Close the reader and the socket to the agent."""
        self.reader.close()
        self.release()
        if self.channel is not None:
            self.channel.close()

    def run(self) -> None:
        self.seek_start()
        if self.request.skip or self.request.step:
            from journalban.sources.journalrecover import recover  # children died on an entry

            recover(self)
        self.catch_up()
        self.drain()
        while True:
            if not self.wait() or not self.pace():
                return
            self.drain(live=True)


def reap_helpers(_signum: int, _frame: object) -> None:
    """Reap the forked helpers that ended (waited for, their CPU time counts as this child's)."""
    with contextlib.suppress(ChildProcessError):
        while os.waitpid(-1, os.WNOHANG)[0]:
            pass


def read_line(fd: int, buffered: bytes = b"") -> tuple[bytes | None, bytes]:
    """The next line of ``fd`` after ``buffered`` (None at EOF), and what was read after it."""
    while b"\n" not in buffered:
        chunk = os.read(fd, 65536)
        if not chunk:
            return None, b""
        buffered += chunk
    line, _, rest = buffered.partition(b"\n")
    return line + b"\n", rest


def main(make_finder: MakeFinder | None = None, warm_up: Callable[[], object] | None = None) -> int:
    """The child's life; ``make_finder`` builds the finder of failures from ``Request.matcher``.

    ``warm_up`` (the finder's imports) runs first when no request is waiting:
    a child started ahead of its source (``sources.journal.start_ahead``)
    imports while the agent starts, not after it is ready.
    """
    # The child lives as long as its parent's pipes: a signal meant for the
    # agent (Ctrl-C in a terminal, systemd's SIGTERM to the whole unit) must
    # not make it die first and look like a failed source.
    for signum in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(signum, signal.SIG_IGN)
    signal.signal(signal.SIGCHLD, reap_helpers)
    stdin, stdout = sys.stdin.fileno(), sys.stdout.fileno()
    if warm_up is not None and not select.select([stdin], [], [], 0)[0]:
        warm_up()
    line, rest = read_line(stdin)
    if line is None:
        return 0
    request = Request.decode(line)
    matcher = request.matcher
    build = None
    if make_finder is not None and matcher is not None:

        def build() -> FindHits:
            found = make_finder(matcher)
            if not gc.get_freeze_count():
                # What the child has built to read with (modules, the jail's matcher) lives
                # as long as it: out of the collector's passes from now on (about 2% of a
                # reader's CPU on the sshd corpora), and shared with a forked helper.
                gc.freeze()
            return found

    found = None
    if request.prefilter_from_finder and build is not None:
        # The literals are the finder's: built before the journal is opened and the
        # prefilter tuned with them.
        found = build()
        prefilter = tuple(getattr(found, "prefilter", ()))
        request = dataclasses.replace(request, prefilter=prefilter, prefilter_from_finder=False)
    follower = Follower(request, stdin, stdout, find_hits=found, make_finder=build)
    try:
        if request.hold:
            # Ready before the agent is: the journal is open (the prefilter tuned), the
            # finder built; the agent's GO comes when it is ready (or EOF: it is gone).
            follower.ensure_finder()
            # What the finder would compile at its first messages (``JailFinder.prepare``):
            # now, while the agent starts, not at the head of the first frame after GO.
            if (prepare := getattr(follower.find_hits, "prepare", None)) is not None:
                prepare()
            if read_line(stdin, rest)[0] is None:
                return 0
        follower.run()
    except BrokenPipeError:
        pass  # the parent stopped reading: nothing left to do
    finally:
        follower.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
