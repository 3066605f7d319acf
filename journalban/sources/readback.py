"""Where to start a file on a first start: the first line within findtime, by its date.

Log files are written in time order, so a binary search over byte offsets
finds it while reading a few windows, not the whole file.
"""

from __future__ import annotations

import os
from collections.abc import Iterator

from journalban.sources.base import LineTimeReader

# How far a probe looks for a dated line before giving up on a region.
PROBE_BYTES = 64 * 1024


class _DatedFile:
    """Line starts and line dates of an open file of ``size`` bytes."""

    def __init__(self, fd: int, size: int, line_time: LineTimeReader) -> None:
        self.fd = fd
        self.size = size
        self.line_time = line_time

    def lines(self, start: int) -> Iterator[tuple[int, float | None]]:
        """(offset, time) of the complete lines in the window from line start ``start``,
        each dated as it is taken (a search looks at few of a window's 400-odd lines)."""
        window = os.pread(self.fd, min(PROBE_BYTES, self.size - start), start)
        position = 0
        while (newline := window.find(b"\n", position)) >= 0:
            text = window[position:newline].decode("utf-8", "replace")
            yield start + position, self.line_time(text)
            position = newline + 1

    def last_dated(self, start: int) -> float | None:
        """The time of the last dated complete line in the window from line start ``start``."""
        window = os.pread(self.fd, min(PROBE_BYTES, self.size - start), start)
        end = window.rfind(b"\n")
        while end >= 0:
            begin = window.rfind(b"\n", 0, end) + 1
            when = self.line_time(window[begin:end].decode("utf-8", "replace"))
            if when is not None:
                return when
            end = begin - 1
        return None

    def line_start(self, position: int) -> int:
        """The first line start at or after ``position`` (``size`` if there is none)."""
        if position <= 0:
            return 0
        while position < self.size:
            window = os.pread(self.fd, PROBE_BYTES, position - 1)
            newline = window.find(b"\n")
            if newline >= 0:
                return position + newline
            position += len(window)
        return self.size

    def first_dated(self, position: int) -> tuple[int, float] | None:
        start = self.line_start(position)
        if start >= self.size:
            return None
        for offset, when in self.lines(start):
            if when is not None:
                return offset, when
        return None


def readback_offset(fd: int, size: int, cutoff: float, line_time: LineTimeReader) -> int:
    """Offset of the first line dated at or after ``cutoff``; ``size`` when none is.

    A file whose lines carry no date the reader understands starts at its end.
    """
    dated = _DatedFile(fd, size, line_time)
    last = dated.last_dated(dated.line_start(max(0, size - PROBE_BYTES)))
    if last is None or last < cutoff:
        return size
    first = dated.first_dated(0)
    if first is None or first[1] >= cutoff:
        return 0
    low, high = first[0], size  # the answer lies after low, at or before high
    while high - low > PROBE_BYTES:
        middle = (low + high) // 2
        probe = dated.first_dated(middle)
        if probe is None or probe[0] >= high:
            high = middle  # an undated stretch: err towards reading more
        elif probe[1] < cutoff:
            low = probe[0]
        else:
            high = probe[0]
    position = low
    while position < size:
        last = -1
        for offset, when in dated.lines(position):
            if when is not None and when >= cutoff:
                return offset
            last = offset
        if last < 0:
            break
        position = dated.line_start(last + 1)
    return dated.line_start(high)
