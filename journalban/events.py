"""What the stages hand each other.

Raw input travels in batches (``LineBatch``); the matcher makes an object only
for a line that matched (``journalban.matching.compiled.Outcome``), and the
decisions stage hands on ``Ban``: an active ban as stored and shown.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import overload

from journalban.addresses import IPNetwork, format_network

# A failure as the matcher hands it to the decisions stage: the line, the
# address text its filter captured (validated there, once per distinct text),
# the line's time (None: the batch's arrival), the account it names (None:
# none) and what the line means (FAILURE, or SUCCESS: an accepted login).
# An accepted login's line is "" where a file's text is matched (prefixed
# lines, ``LineMatcher.hits``: the file reader child's frames carry no text
# for it; sshd-near-miss's 23,094 logins, half of the frames' bytes): the
# deciding reads only its address, user and time.
Hit = tuple[str, str, float | None, str | None, int]
# An address of a batch's hits as the file reader child parsed it (sources.hitkeys):
# (IPv4 text, its integer) or (IPv6 text, its prefix's first and last address, the
# prefix's text); the deciding takes them into its memo (``JailRuntime.learn``).
HitAddress = tuple[str, int] | tuple[str, int, int, str]
FAILURE = 0
SUCCESS = 1


class JoinedLines(Sequence[str]):
    """Lines kept as one text joined by newlines, as a file is read.

    The matcher scans ``text`` in one piece; the lines are split out only if
    somebody indexes them (the lines that matched are cut out of the text).
    """

    __slots__ = ("_count", "_lines", "text")

    def __init__(self, text: str, count: int) -> None:
        """``count`` lines in ``text``: ``text.count("\\n") + 1``, or 0 for no line."""
        self.text = text
        self._count = count
        self._lines: list[str] | None = None

    def __len__(self) -> int:
        return self._count

    @overload
    def __getitem__(self, index: int) -> str: ...
    @overload
    def __getitem__(self, index: slice) -> list[str]: ...
    def __getitem__(self, index: int | slice) -> str | list[str]:
        if self._lines is None:
            self._lines = self.text.split("\n") if self._count else []
        return self._lines[index]

    def __repr__(self) -> str:
        return f"JoinedLines({self._count} lines)"


@dataclass(frozen=True, slots=True)
class LineBatch:
    """Lines read from one source, with the source position after the last one.

    ``times`` holds each line's time when the source knows it (the journal);
    for files it is empty and the time is read from the line. ``prefixed``
    says whether lines still carry their date and syslog prefix.

    ``read`` is how many lines (entries) the batch stands for when the source
    already left out those that cannot match (they hold none of the filter's
    literals): ``lines`` then holds only the others. -1: ``lines`` holds every
    line read.
    """

    source: str
    lines: Sequence[str]
    position: str
    times: Sequence[float] = ()
    prefixed: bool = True
    arrival: float = 0.0
    unreadable: int = 0
    truncated: int = 0
    read: int = -1
    # The batch's failures when the source already matched its lines (a file
    # jail's reader process): ``lines`` then holds just their lines.
    hits: Sequence[Hit] | None = None
    # Session rows the reader's session table changed with this batch
    # (matching.sessions: key, value or None), committed with its position.
    sessions: Sequence[tuple[str, str | None]] = ()
    # The hits' addresses the reader child parsed (sources.hitkeys), for the deciding.
    addresses: Sequence[HitAddress] = ()

    @property
    def count(self) -> int:
        """The lines (entries) read from the source for this batch."""
        return len(self.lines) if self.read < 0 else self.read


@dataclass(frozen=True, slots=True)
class Ban:
    """An active ban. ``expires_at`` None means permanent."""

    jail: str
    network: IPNetwork
    banned_at: float
    expires_at: float | None
    ban_count: int = 1
    reason: str = ""
    failures: int = 0
    source: str = ""
    lines: tuple[str, ...] = field(default=(), compare=False)
    # The account a detector banned for (deny_user, account): for managers only.
    account: str = field(default="", compare=False)

    @property
    def address(self) -> str:
        return format_network(self.network)

    def expired(self, now: float) -> bool:
        return self.expires_at is not None and self.expires_at <= now


def lineless(ban: Ban) -> Ban:
    """``ban`` without its matched lines (what the ban table keeps of a ban: the state
    holds its lines)."""
    return Ban(
        ban.jail, ban.network, ban.banned_at, ban.expires_at, ban.ban_count, ban.reason,
        ban.failures, ban.source, (), ban.account,
    )  # fmt: skip
