"""What the journal reader child and the agent say to each other.

The request the agent writes on the child's stdin (``Request``, one JSON
line), the frames the child writes back (``Frame``: a 4-byte length and a
``marshal`` tuple; the kinds ``DATA``, ``SPLIT``, ``HANDOVER``, ``ABANDON``,
``DONE``, ``SKIPPED``, ``GREW``, ``CUT``), and the shapes of the finder a program hands to
``journalworker.main``. The reader itself is ``journalworker``; this module
imports only the standard library, so the agent imports it without sd-journal.
"""

from __future__ import annotations

import json
import marshal
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from journalban.sources.frames import pack_frame

# sd-journal keeps a mapping of every journal file it has read; a fresh reader
# every so many entries keeps the child's resident memory to a few files.
DEFAULT_REOPEN_EVERY = 150_000
# Entries read per frame at most: enough to amortise a frame and a batch in the agent
# during a backlog (a few ms of reading each); not more, since what a frame holds (its
# hits, the lists and strings around them) is held by the reader while it builds it and
# by the agent until it is decided, up to the decisions' queue depth of them: 2,000, not
# 5,000, took 1.5-2 MB off the tree's peak Pss_Anon on sshd-near-miss from the journal, 4
# on sshd, 12 on sshd-flood, with the same CPU; 1,000 took 0.3 MB more and cost the agent
# 10% more CPU on sshd-near-miss (docs/benchmarks.md, jmem2).
DEFAULT_BATCH_SIZE = 2000
# A catch-up over archived files longer than this is split with a helper
# (journalhelper: a fork of this child), so that both cores read.
DEFAULT_SPLIT_AT = 200_000
DATA, SPLIT, HANDOVER, ABANDON, DONE, SKIPPED, GREW, CUT = 0, 1, 2, 3, 4, 5, 6, 7  # frame kinds
GO = b"go\n"  # after a request that holds (``Request.hold``): read from now on
# Following live, a frame at most every FRAME_GAP seconds: journal-remote or a
# busy journald appends entries a few at a time, and a frame per wake-up (about
# 7 entries each in bench_dbus_agent's 1M-line stream) cost the agent a batch,
# a decision pass and a commit each, half its CPU and half the reader's. An
# entry after a quiet spell is still sent at once; only the next ones gather.
FRAME_GAP = 0.02

# A failure as the agent decides it (events.Hit): line, address text, time, account, mark
WireHit = tuple[str, str, float | None, str | None, int]
# A batch's failures, one tuple each, and the session rows it changed
# (matching.sessions: key, value or None).
FoundHits = tuple[list[WireHit], list[tuple[str, str | None]]]
# (messages, times, each message's session key or None) -> what the finder found
FindHits = Callable[[list[str], list[float], list[str | None]], FoundHits]
# Request.matcher -> the finder
MakeFinder = Callable[[Mapping[str, Any]], FindHits]


class SessionGate(Protocol):
    """The finder's say on each candidate of a jail with sessions (``Request.session_field``).

    ``check(raw, get, field)`` tells whether to hand the message out and, if its
    session matters, its session key (``field`` read through ``get``, the
    reader's field getter, only then). A finder with sessions provides one as its ``gate`` attribute;
    ``new_batch()`` is called before each batch.

    ``prefixes``, when not None: every session line starts with one of them; a
    reader may then take as candidates only the messages starting with one
    (``check_session`` decides on those) and those holding one of
    ``failure_literals``. ``teach_prefixes``: those every teaching line starts with;
    while ``quiet()`` (asked before a batch) holds, a session line starting with none
    of them is of no use until one starting with one of them was checked.
    """

    prefixes: tuple[bytes, ...] | None
    teach_prefixes: tuple[bytes, ...]
    failure_literals: tuple[str, ...]

    def new_batch(self) -> None: ...

    def quiet(self) -> bool: ...

    def check_session(
        self, raw: bytes, get: Callable[[str], bytes], field: str
    ) -> tuple[bool, str | None]: ...

    def check(
        self, raw: bytes, get: Callable[[str], bytes], field: str
    ) -> tuple[bool, str | None]: ...

    def learn(
        self, raw: bytes, get: Callable[[str], bytes], field: str, when: Callable[[], float]
    ) -> None:
        """Feed a line read before a handover to the table (``journalprime``); nothing is
        handed out, the rows it changes are not reported (the other reader reports them)."""


@dataclass(frozen=True)
class Request:
    """What the parent asks for; see ``JournalSource`` for the meaning."""

    matches: Sequence[Mapping[str, str]] = ()
    directory: str | None = None
    namespace: str | None = None
    cursor: str | None = None
    since_usec: int = 0
    batch_size: int = DEFAULT_BATCH_SIZE
    prefilter: Sequence[str] = ()
    reopen_every: int = DEFAULT_REOPEN_EVERY
    frame_gap: float = FRAME_GAP  # seconds between frames while following (0: none)
    split_at: int = DEFAULT_SPLIT_AT
    # The fd of a Unix socket to the agent: a split catch-up's helper is forked
    # and its pipe handed over there (journalhelper). None: no helper.
    helper_socket: int | None = None
    # For the program's finder of failures (see ``main``); this module reads none of it.
    matcher: Mapping[str, Any] | None = None
    # A field read from each candidate entry and handed to the finder: the
    # session key of failures without an address (``_PID``; matching.sessions).
    session_field: str | None = None
    # ``prefilter`` is the finder's (its ``prefilter``, built first): the agent sent the
    # request before it compiled the jail's filter (``agent.earlysources``).
    prefilter_from_finder: bool = False
    # Sent before the agent is ready (``JournalSource.prepare``): open the journal and
    # build the finder, then read nothing until a ``GO`` line follows on stdin.
    hold: bool = False
    # A jail whose deciding costs the agent more per failure (detectors): a catch-up
    # is split only when the first entries (``journalsplit.PROBE_ENTRIES``), read
    # by this child alone, handed out at most this share of them (``split_pays``).
    # None: split by ``split_at`` alone.
    split_most_hits: float | None = None
    # After reader children died on an entry (``journalrecover``): skip the entry after
    # ``cursor`` (a ``SKIPPED`` frame), then read ``step`` entries one per frame.
    skip: bool = False
    step: int = 0
    # Journal files never opened (``agent.sourcing.Restarts``: a reader died moving into
    # one even to skip an entry), by their identities (``journalshun.identity_of``): the
    # directory is read as the list of its other files.
    shun: Sequence[str] = ()
    # Journal files cut short whose loss an earlier child counted (``journalcut``), by their
    # identities: the last sequence number counted (their header's tail when told).
    cut_counted: Mapping[str, int] = field(default_factory=dict)

    def encode(self) -> bytes:
        return json.dumps(self.__dict__).encode() + b"\n"

    @classmethod
    def decode(cls, line: bytes) -> Request:
        return cls(**json.loads(line))


@dataclass
class Frame:
    """One batch as it travels through the pipe.

    Other kinds steer the parent during a split catch-up: ``SPLIT`` (this
    child forked a helper, pid in ``messages``, and sent its pipe over
    ``Request.helper_socket``: read its frames too), ``HANDOVER`` (from this
    child: the helper's frames of its next group come next; from the helper:
    its group ended, this child's frames come next), ``DONE`` (from the
    helper: its last group ended, this child's frames come next; an end of
    its pipe without it is a failure) and ``ABANDON`` (from this child: stop
    the helper and drop its frames, this child reads its files itself).
    ``SKIPPED`` (``Request.skip``): the entry at ``cursor`` was not read, its
    file's path in ``messages`` ("" when not found); it counts as one unreadable.
    ``GREW`` (``Request.shun``): the shunned files' last sequence numbers as their headers
    say now, ``"IDENTITY TAIL"`` each in ``messages``, sent when they changed (a shunned file
    still written to: ``journalshun.look``); the agent counts what was appended
    since it counted last as unreadable (``JournalSource``).
    ``CUT`` (``journalcut.tell_cut``): the files cut short this child told, ``"IDENTITY
    TAIL"`` each (the first such frame of a child: every file cut there now), which the
    agent keeps (``Request.cut_counted``) so that no later child counts them again.
    """

    cursor: str
    read: int
    unreadable: int = 0
    invalidations: int = 0
    messages: list[str] = field(default_factory=list)  # without a finder: the candidates
    times: list[float] = field(default_factory=list)  # ... and their times
    kind: int = DATA
    # With a finder: the failures, one tuple each as the agent takes them (``marshal``
    # writes and reads the tuples in C: five lists taken apart in the child and zipped
    # again in the agent cost about 1,000 instructions a hit in the child).
    hits: list[WireHit] | None = None
    sessions: list[tuple[str, str | None]] | None = None  # session rows changed

    @property
    def lines(self) -> list[str]:
        """The failures' lines with a finder, else the candidates (for tests and tools)."""
        return self.messages if self.hits is None else [hit[0] for hit in self.hits]

    def encode(self) -> bytes:
        body = marshal.dumps(
            (
                self.kind,
                self.cursor,
                self.read,
                self.unreadable,
                self.invalidations,
                self.messages,
                self.times,
                self.hits,
                self.sessions,
            )
        )
        return pack_frame(body)

    @classmethod
    def decode(cls, body: bytes) -> Frame:
        fields = marshal.loads(body)  # noqa: S302 (our own child)
        kind, cursor, read, unreadable, invalidations, messages, times, hits, rows = fields
        sessions = [tuple(row) for row in rows] if rows else None
        return cls(
            cursor, read, unreadable, invalidations, messages, times, kind, hits, sessions
        )  # fmt: skip


# A cursor as sd_journal_get_cursor() writes it: the only kind the agent stores.
_CURSOR = re.compile(
    r"s=[0-9a-f]{32};i=[0-9a-f]{1,16};b=[0-9a-f]{32};m=[0-9a-f]{1,16};t=[0-9a-f]{1,16};"
    r"x=[0-9a-f]{1,16}"
)


def cut_row(key: str) -> str:
    """The ``positions`` row of the journal files cut short whose loss source ``key``
    counted (``journalcut``): a key no source has."""
    return f"{key} cut"


def shunned_row(key: str) -> str:
    """The ``positions`` row (its source column) of the journal files source ``key``'s
    readers died in (``journalshunned``): a key no source has."""
    return f"{key} shunned"


def is_cursor(text: str) -> bool:
    """Whether a stored position has the shape of a cursor sd-journal wrote.

    A position that does not (a damaged or hand-edited state file) would make
    ``sd_journal_seek_cursor`` fail with EINVAL in the reader at every start.
    """
    return _CURSOR.fullmatch(text) is not None


def cursor_realtime_usec(cursor: str) -> int | None:
    """The entry's wall-clock time (µs) written into a journal cursor, if present."""
    for part in cursor.split(";"):
        if part.startswith("t="):
            try:
                return int(part[2:], 16)
            except ValueError:
                return None
    return None
