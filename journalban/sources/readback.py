"""Where to start a file on a first start: the first line within findtime, by its date.

Log files are written in time order, so a binary search over byte offsets
finds it while reading a few windows, not the whole file.
"""

from __future__ import annotations

import os

from journalban.sources.base import LineTimeReader

# How far a probe looks for a dated line before giving up on a region.
PROBE_BYTES = 64 * 1024


class _DatedFile:
    """Line starts and line dates of an open file of ``size`` bytes."""

    def __init__(self, fd: int, size: int, line_time: LineTimeReader) -> None:
        self.fd = fd
        self.size = size
        self.line_time = line_time

    def lines(self, start: int) -> list[tuple[int, float | None]]:
        """(offset, time) of the complete lines in the window from line start ``start``."""
        window = os.pread(self.fd, min(PROBE_BYTES, self.size - start), start)
        found: list[tuple[int, float | None]] = []
        position = 0
        while (newline := window.find(b"\n", position)) >= 0:
            text = window[position:newline].decode("utf-8", "replace")
            found.append((start + position, self.line_time(text)))
            position = newline + 1
        return found

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
    tail = dated.lines(dated.line_start(max(0, size - PROBE_BYTES)))
    last = [when for _, when in tail if when is not None]
    if not last or last[-1] < cutoff:
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
        lines = dated.lines(position)
        if not lines:
            break
        for offset, when in lines:
            if when is not None and when >= cutoff:
                return offset
        position = dated.line_start(lines[-1][0] + 1)
    return dated.line_start(high)
