"""One regex for a line's head (date, separator, syslog prefix) per date format.

Once a source's date format is known, a single match takes the date, the
syslog prefix and the ident off a line, where the general path needs three
matches and a format search. The date itself is converted only for lines
that matched a failregex, and a conversion is reused for every line of the
same hour (minutes and seconds are added back: clocks change on the hour).
"""

from __future__ import annotations

import re

from journalban.matching.dates import FORMATS, DateReader, _Format
from journalban.matching.prefix import AFTER_DATE, SYSLOG_PREFIX

_BY_NAME = {fmt.name: fmt for fmt in FORMATS}
_CACHE_LIMIT = 8192


class HeadReader:
    """Reads line heads in the date format a source's ``DateReader`` settled on."""

    def __init__(self, dates: DateReader) -> None:
        self.dates = dates
        self.format: _Format | None = None
        self.regex: re.Pattern[str] | None = None
        self._heads: dict[str, re.Pattern[str] | None] = {}
        self._hours: dict[str, float] = {}
        # The time of a minute's first second (the date's text before its seconds), for the
        # dates that end with their seconds: a subset of what _hours gives.
        self._minutes: dict[str, float] = {}
        self._spans: tuple[int, int, int, int] | None = None
        # Hours (date text before the minutes) whose dates convert: a subset of _hours.
        self._valid_hours: set[str] = set()

    def settle(self, format_name: str) -> None:
        """Use ``format_name`` for the lines that follow (after the general path found it)."""
        if self.format is not None and self.format.name == format_name:
            return
        fmt = _BY_NAME.get(format_name)
        self.format = fmt
        self._spans = None
        if fmt is None or fmt.anywhere:
            self.regex = None
            return
        self.regex = self.head_for(format_name)
        self._hours.clear()
        self._minutes.clear()
        self._valid_hours.clear()
        if self.regex is not None:
            groups = self.regex.groupindex
            if "M" in groups and "S" in groups:
                # Group numbers, not names: a fused regex (heads first) numbers them alike.
                spans = (groups["jbdate"], groups["M"], groups["S"], groups.get("frac", 0))
                self._spans = spans

    def head_for(self, format_name: str) -> re.Pattern[str] | None:
        """The head regex of date format ``format_name``, compiled once (None: no such
        format, or one found anywhere in a line): by ``settle``, or before any line is read
        (``matching.warmup``)."""
        fmt = _BY_NAME.get(format_name)
        if fmt is None or fmt.anywhere:
            return None
        if format_name not in self._heads:
            self._heads[format_name] = _compile_head(fmt)
        return self._heads[format_name]

    def time(self, m: re.Match[str]) -> float | None:
        """The time of the date in head match ``m``; counts the format's hit.

        ``m`` may come from a longer regex that starts with the head regex.
        """
        fmt = self.format
        if fmt is None:
            return None
        spans = self._spans
        if spans is None:
            return self._convert(fmt, m)
        date, _, second, frac_group = spans
        # A date that ends with its seconds, in a minute seen before: its minute's time
        # and the seconds (whole numbers of seconds: the sum is the same float).
        sec_start, sec_end = m.span(second)
        minute = None
        if sec_end == m.end(date) and sec_start > 0 and (not frac_group or m.end(frac_group) < 0):
            line = m.string
            minute = line[m.start(date) : sec_start]
            base = self._minutes.get(minute)
            if base is not None:
                self.dates.hits[fmt.name] += 1
                return base + int(line[sec_start:sec_end])
        found = self._hour_time(fmt, m, spans)
        if minute is not None and found is not None and found % 1 == 0:
            if len(self._minutes) >= _CACHE_LIMIT:
                self._minutes.clear()
            self._minutes[minute] = found - int(m.string[sec_start:sec_end])
        return found

    def _hour_time(
        self, fmt: _Format, m: re.Match[str], spans: tuple[int, int, int, int]
    ) -> float | None:
        """``time`` through the cache of hours (the minutes and seconds added back)."""
        date, minute, second, frac_group = spans
        min_start, min_end = m.span(minute)
        sec_start, sec_end = m.span(second)
        if min_start < 0 or sec_start < 0:
            return self._convert(fmt, m)
        start, end = m.span(date)
        frac_end = m.end(frac_group) if frac_group else -1
        line = m.string
        # The date's text without minutes and seconds names its hour.
        key = line[start:min_start] + "|" + line[frac_end if frac_end >= 0 else sec_end : end]
        extra = float(int(line[min_start:min_end]) * 60 + int(line[sec_start:sec_end]))
        if frac_end >= 0:
            extra += float("0." + m.group(frac_group))
        base = self._hours.get(key)
        if base is None:
            found = self._convert(fmt, m)
            if found is None:
                return None
            if len(self._hours) >= _CACHE_LIMIT:
                self._hours.clear()
                self._minutes.clear()
                self._valid_hours.clear()
            self._hours[key] = found - extra
            return found
        self.dates.hits[fmt.name] += 1  # set by the conversion that cached this hour
        return base + extra

    def counts(self, m: re.Match[str]) -> bool:
        """``time(m) is not None`` (counting the hit), cheaper for an hour seen before.

        A date with nothing after its seconds whose hour converted before is valid
        whatever its minutes and seconds, as in ``time``.
        """
        spans = self._spans
        if spans is not None:
            date, minute, second, _ = spans
            start, end = m.span(date)
            min_start = m.start(minute)
            if min_start >= 0 and m.end(second) == end:
                hour = m.string[start:min_start]
                if hour in self._valid_hours:
                    self.dates.hits[self.format.name] += 1  # type: ignore[union-attr]
                    return True
                if self.time(m) is None:
                    return False
                self._valid_hours.add(hour)
                return True
        return self.time(m) is not None

    def fast_hours(self) -> tuple[tuple[int, int, int] | None, set[str]]:
        """What ``counts`` reads to take its fast path: the date's, minute's and second's
        group numbers (None: no fast path) and the hours known to convert.

        A caller that counts a date through them must report it with ``add_hits``.
        """
        spans = self._spans
        return (None if spans is None else spans[:3]), self._valid_hours

    def minute_cache(self) -> tuple[tuple[int, int, int], dict[str, float]]:
        """What ``time`` reads first: the date's, seconds' and fraction's group numbers
        ((0, 0, 0): none) and the time of each minute seen (the date's text before its
        seconds). A date with nothing after its seconds, in a minute found there, is that
        time plus its seconds; a caller that dates a match so counts it with ``add_hits``.
        """
        spans = self._spans
        groups = (0, 0, 0) if spans is None else (spans[0], spans[2], spans[3])
        return groups, self._minutes

    def add_hits(self, n: int) -> None:
        """Count ``n`` dates of the settled format taken through ``fast_hours``."""
        if n and self.format is not None:
            name = self.format.name
            self.dates.hits[name] = self.dates.hits.get(name, 0) + n

    def forget(self) -> None:
        """Forget the hours converted (with the DateReader's ``forget``)."""
        self._hours.clear()
        self._minutes.clear()
        self._valid_hours.clear()

    def _convert(self, fmt: _Format, m: re.Match[str]) -> float | None:
        found = self.dates._convert(fmt, m)
        return None if found is None else found.time


def _compile_head(fmt: _Format) -> re.Pattern[str] | None:
    # Atomic groups: the date and the separator match exactly as the general
    # path's separate matches do, never giving characters back to the prefix.
    pattern = (
        f"(?P<jbdate>(?>{fmt.regex.pattern}))(?>{AFTER_DATE.pattern})(?:{SYSLOG_PREFIX.pattern})?"
    )
    try:
        return re.compile(pattern)
    except re.error:
        return None
