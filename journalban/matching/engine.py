"""The hot path: recognise failures in batches of lines.

Most lines are not failures. A batch is joined into one text and scanned for
the filter's literal prefilter at C speed; only the lines it points at pay for
date parsing, syslog-prefix splitting, the regexes and address validation.
Nothing is allocated for a line that misses.
"""

from __future__ import annotations

import fnmatch
import re
from bisect import bisect_right
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from itertools import accumulate
from typing import Final

from journalban.addresses import IPAddress, IPNetwork, looks_like_hostname, parse_address
from journalban.matching.dates import DateReader
from journalban.matching.filterdef import FilterDef
from journalban.matching.prefix import AFTER_DATE, PRI, RFC5424, split_syslog

MATCHED: Final = 0
IGNORED: Final = 1
MISSED: Final = 2


@dataclass(frozen=True, slots=True)
class Outcome:
    """What became of one candidate line (lines the prefilter skipped are plain misses)."""

    kind: int
    index: int  # the line's position in the batch
    address: IPAddress | None = None
    host: str = ""
    user: str | None = None
    time: float | None = None
    regex: int = -1  # index into the filter's failregex list
    reason: str = ""
    captures: tuple[tuple[str, str], ...] = ()


class CompiledFilter:
    """A filter in one mode, ready to match messages."""

    def __init__(
        self,
        fdef: FilterDef,
        mode: str | None = None,
        *,
        trusted_proxies: Sequence[IPNetwork] = (),
        real_ip_header: bool = False,
        check_idents: bool = True,
    ) -> None:
        self.fdef = fdef
        self.mode = mode or fdef.default_mode
        if self.mode not in fdef.modes:
            raise ValueError(f"filter {fdef.name!r} has no mode {self.mode!r}")
        chosen = fdef.regexes_for(self.mode)
        self.regexes = [(i, r.regex) for i, r in chosen]
        self.ignore = fdef.ignoreregex
        idents = fdef.idents if check_idents else frozenset()
        self.idents = frozenset(i for i in idents if "*" not in i)
        # Glob idents ("postfix*/smtpd"): multi-instance daemons choose their own syslog names.
        globs = sorted(i for i in idents if "*" in i)
        self.ident_globs = (
            re.compile("|".join(fnmatch.translate(g) for g in globs)) if globs else None
        )
        self.trusted = tuple(trusted_proxies)
        self.real_ip_header = real_ip_header
        self.prefilter = (
            re.compile(
                "|".join(re.escape(p) for p in sorted(set(fdef.prefilter), key=len, reverse=True))
            )
            if fdef.prefilter
            else None
        )

    def match_message(self, message: str, index: int = 0, when: float | None = None) -> Outcome:
        """Match one message (date and syslog prefix already taken off)."""
        for number, regex in self.regexes:
            m = regex.match(message)
            if m is None:
                continue
            for ign in self.ignore:
                if ign.search(message):
                    return Outcome(IGNORED, index, time=when, regex=number, reason="ignoreregex")
            groups = m.groupdict()
            host = groups.get("host") or ""
            address = self._peer(host, groups)
            if address is None:
                reason = (
                    "host name (never resolved)" if looks_like_hostname(host) else "invalid address"
                )
                return Outcome(MISSED, index, host=host, time=when, regex=number, reason=reason)
            captures = tuple((k, v) for k, v in groups.items() if v is not None)
            return Outcome(
                MATCHED, index, address, host, groups.get("user"), when, number, "", captures
            )
        return Outcome(MISSED, index, time=when)

    def _peer(self, host: str, groups: dict[str, str | None]) -> IPAddress | None:
        direct = parse_address(host)
        if direct is None or not self.trusted or not any(direct in n for n in self.trusted):
            return direct
        # The client writes X-Forwarded-For and each proxy appends its peer: trust
        # only what our own proxies appended, reading from the right.
        forwarded = groups.get("forwarded") or ""
        if self.real_ip_header and groups.get("realip"):
            forwarded = groups["realip"] or ""
        for item in reversed(re.split(r"[,\s]+", forwarded.strip())):
            addr = parse_address(item)
            if addr is None:
                return None if item else direct
            if not any(addr in n for n in self.trusted):
                return addr
        return direct


class LineMatcher:
    """Matches the lines of one source against one compiled filter."""

    def __init__(self, compiled: CompiledFilter, now: Callable[[], float]) -> None:
        self.filter = compiled
        self.dates = DateReader(now)

    def candidates(self, lines: Sequence[str]) -> Iterator[int]:
        """Indexes of the lines the prefilter lets through, in order."""
        pre = self.filter.prefilter
        if pre is None:
            yield from range(len(lines))
            return
        text = "\n".join(lines)
        if text.count("\n") != len(lines) - 1 if lines else False:
            # A line holds a newline of its own: the offsets would lie; go line by line.
            yield from (i for i, line in enumerate(lines) if pre.search(line))
            return
        ends = list(accumulate(len(line) + 1 for line in lines))
        pos = 0
        search = pre.search
        while (m := search(text, pos)) is not None:
            i = bisect_right(ends, m.start())
            yield i
            pos = ends[i]

    def match_lines(
        self, lines: Sequence[str], prefixed: bool = True, times: Sequence[float] = ()
    ) -> Iterator[Outcome]:
        """Outcomes for the candidate lines of a batch (every other line missed)."""
        for i in self.candidates(lines):
            if prefixed:
                yield self.match_line(lines[i], i)
            else:
                yield self.filter.match_message(lines[i], i, times[i] if times else None)

    def match_line(self, line: str, index: int = 0) -> Outcome:
        """Match a full log line: its date and syslog prefix are taken off first."""
        when: float | None = None
        ident: str | None = None
        rest = line
        if rest.startswith("<"):
            m5424 = RFC5424.match(rest)
            if m5424 is not None:
                found = self.dates.find(rest[rest.index(" ") + 1 :])
                when = found.time if found else None
                ident = m5424.group("ident")
                return self._after_prefix(ident, rest[m5424.end() :], index, when)
            mpri = PRI.match(rest)
            if mpri is not None:
                rest = rest[mpri.end() :]
        date = self.dates.find(rest)
        if date is not None:
            when = date.time
            if date.start == 0:
                rest = rest[date.end :]
                rest = rest[AFTER_DATE.match(rest).end() :]  # type: ignore[union-attr]
                ident, rest = split_syslog(rest)
        else:
            ident, rest = split_syslog(rest)
        return self._after_prefix(ident, rest, index, when)

    def _after_prefix(
        self, ident: str | None, message: str, index: int, when: float | None
    ) -> Outcome:
        f = self.filter
        if (
            (f.idents or f.ident_globs)
            and ident is not None
            and ident not in f.idents
            and (f.ident_globs is None or f.ident_globs.match(ident) is None)
        ):
            return Outcome(
                MISSED, index, time=when, reason=f"ident {ident!r} not in filter's idents"
            )
        return self.filter.match_message(message, index, when)
