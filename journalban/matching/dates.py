"""Finding and reading a line's date, fast: the winning format is cached per source.

Formats: syslog (year inferred), RFC 3339 / ISO 8601, RFC 5424 (through ISO),
TAI64N (daemontools: label = 2**62 + 10 + Unix seconds), Apache error and
access logs, Roundcube, BIND, nginx, MySQL, vsftpd (ctime), stunnel
("2011.11.21 14:29:16"), macOS ("Oct 27 2015 12:35:40"), monit ("[CEST Aug  6
10:14:52]", as local time), 3proxy (day first: "11-06-2013 02:09:40 +0300"),
MongoDB's JSON "$date" and epoch seconds.
Dates without a zone are local time.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from dataclasses import dataclass

# calendar.month_abbr in the C locale (the agent never sets LC_TIME); calendar itself
# (with locale and datetime, 0.75 MB) is imported only for a date with a zone.
MONTHS = {
    m: i
    for i, m in enumerate(
        ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"], 1
    )
}
_MON = "(?P<mon>Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec)"
_DOW = "(?:Mon|Tue|Wed|Thu|Fri|Sat|Sun)"
_HMS = r"(?P<H>\d{1,2}):(?P<M>\d{2}):(?P<S>\d{2})(?:[.,](?P<frac>\d{1,9}))?"
_TZ = r"(?:\s?(?P<tz>Z|[+-]\d{2}:?\d{2}))?"
TAI64_EPOCH = 2**62 + 10
_YEAR_SECONDS = 86400 * 366


@dataclass(frozen=True)
class DateMatch:
    """A date found in a line: its time, where it stands, and the format that read it."""

    time: float
    start: int
    end: int
    format: str


class _Format:
    def __init__(self, name: str, pattern: str, *, anywhere: bool = False) -> None:
        self.name = name
        self.anywhere = anywhere
        self.regex = re.compile(pattern if anywhere else r"\[?" + pattern + r"\]?")


FORMATS: tuple[_Format, ...] = (
    _Format("TAI64N", r"@(?P<tai>4[0-9a-f]{15})(?P<nano>[0-9a-f]{8})"),
    _Format(
        "ISO 8601",
        # MySQL pads a one-digit hour with a second space: "2015-10-07  8:25:38".
        r"(?P<Y>\d{4})-(?P<m>\d{2})-(?P<d>\d{2})(?:T| {1,2})" + _HMS + _TZ,
    ),
    _Format("Syslog", _MON + r" {1,2}(?P<d>\d{1,2}) " + _HMS + r"(?: (?P<Y>\d{4})(?= ))?"),
    _Format(
        "ctime (Apache error, vsftpd)",
        _DOW + " " + _MON + r" {1,2}(?P<d>\d{1,2}) " + _HMS + r" (?P<Y>\d{4})",
    ),
    _Format(
        "dd-Mon-yyyy (Roundcube, BIND)",
        r"(?P<d>\d{2})-" + _MON + r"-(?P<Y>\d{4}) " + _HMS + r"(?: (?P<tz>[+-]\d{4}))?",
    ),
    # stunnel: "2011.11.21 14:29:16".
    _Format("yyyy.mm.dd (stunnel)", r"(?P<Y>\d{4})\.(?P<m>\d{2})\.(?P<d>\d{2}) " + _HMS),
    # monit: "[PDT Apr 16 21:05:29]", a zone name first (read as local time).
    _Format("[ZONE Mon dd HMS] (monit)", r"[A-Z]{2,5} " + _MON + r" {1,2}(?P<d>\d{1,2}) " + _HMS),
    # macOS (screensharingd): the year between the day and the time.
    _Format("Mon dd yyyy (macOS)", _MON + r" {1,2}(?P<d>\d{1,2}) (?P<Y>\d{4}) " + _HMS),
    # 3proxy: day first, its zone after the time.
    _Format("dd-mm-yyyy (3proxy)", r"(?P<d>\d{2})-(?P<m>\d{2})-(?P<Y>\d{4}) " + _HMS + _TZ),
    _Format("yyyy/mm/dd (nginx)", r"(?P<Y>\d{4})/(?P<m>\d{2})/(?P<d>\d{2}) " + _HMS),
    _Format("yymmdd (MySQL)", r"(?P<y2>\d{2})(?P<m>\d{2})(?P<d>\d{2}) {1,2}" + _HMS),
    # Linux audit records: the stamp sits inside the line and the whole line is
    # the message, so the match is zero-width.
    _Format(
        "audit",
        r"(?=(?:node=\S+ )?type=\w+ msg=audit\((?P<epoch>\d{9,10})(?:\.(?P<frac>\d{1,6}))?:\d+\))",
    ),
    # Grafana's logfmt: "t=2020-10-19T17:44:33+0200 lvl=eror msg=...": the stamp is a
    # field of the message, which stays whole, so the match is zero-width too.
    _Format(
        "logfmt t= (Grafana)",
        r"(?=t=(?P<Y>\d{4})-(?P<m>\d{2})-(?P<d>\d{2})T" + _HMS + _TZ + r" )",
    ),
    # MongoDB 4.4+ writes JSON: '{"t":{"$date":"2021-03-04T10:00:00.000+00:00"},...':
    # the whole line is the message, so the match is zero-width as well.
    _Format(
        "JSON $date (MongoDB)",
        r'(?=\{"t":\{"\$date":"(?P<Y>\d{4})-(?P<m>\d{2})-(?P<d>\d{2})T' + _HMS + _TZ + r'"\})',
    ),
    _Format("Epoch", r"(?P<epoch>1\d{9})(?:\.(?P<frac>\d{1,6}))?(?=[\s\]:])"),
    _Format(
        "dd/Mon/yyyy:HMS (Apache access)",
        r"\[(?P<d>\d{2})/" + _MON + r"/(?P<Y>\d{4}):" + _HMS + r"(?: (?P<tz>[+-]\d{4}))?\]",
        anywhere=True,
    ),
)


def _tz_offset(tz: str) -> int:
    if tz == "Z":
        return 0
    sign = -1 if tz[0] == "-" else 1
    digits = tz[1:].replace(":", "")
    return sign * (int(digits[:2]) * 3600 + int(digits[2:4]) * 60)


class DateReader:
    """Reads dates from lines of one source, remembering which format won last.

    ``now`` gives the current time, used for syslog's missing year and to treat
    a date in the future as now.
    """

    def __init__(self, now: Callable[[], float]) -> None:
        self._now = now
        self._cached: _Format | None = None
        self.hits: dict[str, int] = {}
        self._local_cache: dict[tuple[int, int, int, int, int], float] = {}

    def forget(self) -> None:
        """Start over: no format won yet, no hits counted."""
        self._cached = None
        self.hits.clear()

    def find(self, line: str) -> DateMatch | None:
        """The first date at the start of ``line`` (or, for some formats, inside it)."""
        fmt = self._cached
        if fmt is not None:
            m = fmt.regex.search(line) if fmt.anywhere else fmt.regex.match(line)
            if m is not None:
                return self._convert(fmt, m)
        for fmt in FORMATS:
            if fmt is self._cached:
                continue
            m = fmt.regex.search(line) if fmt.anywhere else fmt.regex.match(line)
            if m is not None:
                self._cached = fmt
                return self._convert(fmt, m)
        return None

    def _local(self, y: int, mo: int, d: int, h: int, mi: int) -> float:
        key = (y, mo, d, h, mi)
        found = self._local_cache.get(key)
        if found is None:
            found = time.mktime((y, mo, d, h, mi, 0, 0, 0, -1))
            if len(self._local_cache) > 4096:
                self._local_cache.clear()
            self._local_cache[key] = found
        return found

    def _convert(self, fmt: _Format, m: re.Match[str]) -> DateMatch | None:
        g = m.groupdict()
        t: float | None
        try:
            if g.get("tai") is not None:
                t = int(g["tai"], 16) - TAI64_EPOCH + int(g["nano"], 16) / 1e9
            elif g.get("epoch") is not None:
                t = float(g["epoch"]) + (float("0." + g["frac"]) if g.get("frac") else 0.0)
            else:
                t = self._calendar(g)
        except (ValueError, OverflowError, KeyError):
            return None
        if t is None:
            return None
        self.hits[fmt.name] = self.hits.get(fmt.name, 0) + 1
        return DateMatch(t, m.start(), m.end(), fmt.name)

    def _calendar(self, g: dict[str, str | None]) -> float | None:
        mon = g.get("mon")
        month = MONTHS[mon] if mon else int(g["m"] or 0)
        day = int(g["d"] or 0)
        h, mi, s = int(g["H"] or 0), int(g["M"] or 0), int(g["S"] or 0)
        if not (1 <= month <= 12 and 1 <= day <= 31 and h < 24 and mi < 60 and s < 61):
            return None
        frac_text = g.get("frac")
        frac = float("0." + frac_text) if frac_text else 0.0
        year_text = g.get("Y")
        if year_text is not None:
            year = int(year_text)
        elif g.get("y2") is not None:
            year = 2000 + int(g["y2"] or 0)
        else:
            return self._syslog_year(month, day, h, mi, s + frac)
        tz = g.get("tz")
        if tz is not None:
            import calendar

            return (
                calendar.timegm((year, month, day, h, mi, 0, 0, 0, 0)) - _tz_offset(tz) + s + frac
            )
        return self._local(year, month, day, h, mi) + s + frac

    def _syslog_year(self, month: int, day: int, h: int, mi: int, sec: float) -> float:
        now = self._now()
        year = time.localtime(now).tm_year
        t = self._local(year, month, day, h, mi) + sec
        # A December line read in January belongs to last year; allow a day of clock skew.
        if t > now + 86400:
            t = self._local(year - 1, month, day, h, mi) + sec
        return t
