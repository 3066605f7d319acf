"""Reading one open log file from an offset: whole lines only, bounded buffers."""

from __future__ import annotations

import os
from dataclasses import dataclass, field

from journalban.events import JoinedLines
from journalban.sources.position import FileMark, head_hash

# A longer line is cut here and the rest of it up to its newline dropped.
MAX_LINE_BYTES = 64 * 1024
# A block's newlines are counted in its bytes (``newlines``): UTF-8 writes a newline as
# the byte 0x0A and no other character holds that byte, so a block that decodes holds
# as many as its text.
_NEWLINE = b"\n"


@dataclass(slots=True)
class Lines:
    """Lines decoded from one read, with what had to be repaired.

    Kept as blocks of whole lines joined by newlines, as read: the matcher
    scans a batch's text in one piece, so splitting it into lines only to
    join them again would be wasted.
    """

    blocks: list[str] = field(default_factory=list)
    count: int = 0
    unreadable: int = 0
    truncated: int = 0

    def __bool__(self) -> bool:
        return self.count > 0

    def add(self, block: str, count: int) -> None:
        self.blocks.append(block)
        self.count += count

    def joined(self) -> JoinedLines:
        """The lines as one batch text."""
        text = self.blocks[0] if len(self.blocks) == 1 else "\n".join(self.blocks)
        return JoinedLines(text, self.count)

    @property
    def text(self) -> list[str]:
        """The lines, one by one."""
        return list(self.joined())


def _cut(raw: bytes) -> bytes:
    """The first MAX_LINE_BYTES of a line, not splitting a UTF-8 character."""
    end = MAX_LINE_BYTES
    while end > MAX_LINE_BYTES - 4 and (raw[end] & 0xC0) == 0x80:
        end -= 1
    return raw[:end]


def decode_lines(block: bytes, into: Lines, end: int | None = None) -> None:
    """Append the lines of ``block[:end]`` (newline-separated, no final newline).

    ``end``: decoded in place, not sliced: a burst's copy (256 KiB) the reader
    child's heap would keep resident between bursts.
    """
    end = len(block) if end is None else end
    if not _may_hold_long_line(block, end):
        # Counted before the decode: the count's copy is freed for the text to reuse.
        count = newlines(block, end) + 1
        try:
            text = str(memoryview(block)[:end], "utf-8")
        except UnicodeDecodeError:
            pass
        else:
            into.add(text, count)
            return
    for raw in block[:end].split(b"\n"):
        if len(raw) > MAX_LINE_BYTES:
            raw = _cut(raw)
            into.truncated += 1
        try:
            into.add(raw.decode("utf-8"), 1)
        except UnicodeDecodeError:
            into.add(raw.decode("utf-8", "replace"), 1)
            into.unreadable += 1


def newlines(block: bytes, end: int) -> int:
    """The newlines of ``block[:end]``.

    ``bytes.replace`` of one byte by nothing finds it with ``memchr``: about half the
    CPU of any count in the standard library (``bytes.count``, ``str.count``, and sre's
    literal search in ``findall``, which this replaces, compare every byte): a 256 KiB
    burst of auth.log, 99 -> 45 us. It copies the block's other bytes; the few after
    ``end`` (a burst's incomplete last line) are counted apart.
    """
    total = len(block) - len(block.replace(_NEWLINE, b""))
    return total - block.count(_NEWLINE, end) if end < len(block) else total


def _may_hold_long_line(block: bytes, end: int) -> bool:
    """False when no line of ``block[:end]`` is over MAX_LINE_BYTES (True: maybe one is).

    A longer line covers a whole aligned half-window without a newline: a few
    dozen finds in C instead of measuring every line.
    """
    if end <= MAX_LINE_BYTES:
        return False
    half = MAX_LINE_BYTES // 2
    find = block.find
    return any(find(b"\n", k, k + half) < 0 for k in range(0, end - half + 1, half))


class TailedFile:
    """One file generation (device+inode), read from ``offset`` on.

    ``offset`` counts the bytes handed out as lines (or dropped as the tail of
    an overlong line); an incomplete last line waits in a buffer of at most
    MAX_LINE_BYTES until its newline arrives.
    """

    def __init__(self, path: str, fd: int, offset: int = 0, skipping: bool = False) -> None:
        stat = os.fstat(fd)
        self.path = path
        self.fd = fd
        self.device = stat.st_dev
        self.inode = stat.st_ino
        self.offset = offset
        self.skipping = skipping
        self.head: str | None = head_hash(fd) if offset else None
        self.retired_at: float | None = None
        self._partial = b""

    @classmethod
    def open(cls, path: str, offset: int = 0, skipping: bool = False) -> TailedFile | None:
        """The file at ``path``, or None when it cannot be opened (gone, no access)."""
        try:
            fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC | os.O_NOCTTY | os.O_NONBLOCK)
        except OSError:
            return None
        return cls(path, fd, offset, skipping)

    def same_file(self, stat: os.stat_result) -> bool:
        return stat.st_dev == self.device and stat.st_ino == self.inode

    def mark(self) -> FileMark:
        return FileMark(self.path, self.device, self.inode, self.offset, self.head, self.skipping)

    def rewritten(self) -> bool:
        """Truncated (copytruncate) since the last read, even if it grew again."""
        end = self.offset + len(self._partial)
        if os.fstat(self.fd).st_size < end:
            return True
        return self.head is not None and end > 0 and head_hash(self.fd) != self.head

    @property
    def pending(self) -> int:
        """Bytes read past ``offset`` and held: the start of a line not yet complete."""
        return len(self._partial)

    def stand_at(self, offset: int, skipping: bool = False) -> None:
        """Go on from ``offset`` (read elsewhere up to there), nothing held."""
        self.offset, self.skipping, self._partial = offset, skipping, b""
        if self.head is None and offset:
            self.head = head_hash(self.fd)

    def restart(self) -> None:
        """Read again from the start (the file was truncated)."""
        self.offset = 0
        self.skipping = False
        self.head = None
        self._partial = b""

    def read(self, limit: int) -> Lines:
        """The complete lines among the next ``limit`` bytes (none at the end of the file)."""
        lines = Lines()
        data = os.pread(self.fd, limit, self.offset + len(self._partial))
        if not data:
            return lines
        if self._partial:  # (rebound: the read's own bytes are freed before the decode)
            data = self._partial + data
        self._partial = b""
        if self.skipping:
            newline = data.find(b"\n")
            if newline < 0:
                self.offset += len(data)
                return lines
            self.offset += newline + 1
            data = data[newline + 1 :]
            self.skipping = False
        last = data.rfind(b"\n")
        if last >= 0:
            decode_lines(data, lines, last)
            self.offset += last + 1
        rest = data[last + 1 :]
        if len(rest) > MAX_LINE_BYTES:
            decode_lines(rest[: MAX_LINE_BYTES + 1], lines)  # the cut counts it
            self.offset += len(rest)
            self.skipping = True
        else:
            self._partial = rest
        if self.head is None and self.offset:
            self.head = head_hash(self.fd)
        return lines

    def flush(self) -> Lines:
        """The incomplete last line as a line: nobody will finish it."""
        lines = Lines()
        if self._partial and not self.skipping:
            decode_lines(self._partial, lines)
            self.offset += len(self._partial)
            self._partial = b""
        return lines

    def close(self) -> None:
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1
