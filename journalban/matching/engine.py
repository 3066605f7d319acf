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
from operator import add
from typing import Final

from journalban.addresses import IPAddress, IPNetwork, looks_like_hostname, parse_address
from journalban.matching.dates import DateReader
from journalban.matching.filterdef import FilterDef
from journalban.matching.heads import HeadReader
from journalban.matching.literals import mode_literals
from journalban.matching.prefix import AFTER_DATE, PRI, RFC5424, split_syslog

MATCHED: Final = 0
IGNORED: Final = 1
MISSED: Final = 2


@dataclass(slots=True)
class Outcome:
    """What became of one candidate line (lines the prefilter skipped are plain misses).

    Not frozen: a frozen dataclass costs about a microsecond more to build,
    and one is built for every candidate line. Treat it as read-only.
    ``time`` may be None for a miss: dates are converted for matched lines.
    """

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
        derived = mode_literals([r for _, r in self.regexes], fdef.prefilter)
        # Literals derived from this mode's regexes are exact, and fewer than
        # the filter's list in every mode but the widest; that list is the fallback.
        self.literals: tuple[str, ...] = tuple(derived if derived is not None else fdef.prefilter)
        self.prefilter = (
            re.compile("|".join(re.escape(p) for p in sorted(self.literals, key=len, reverse=True)))
            if self.literals
            else None
        )
        self._combined = _combine(self.regexes)

    def match_message(self, message: str, index: int = 0, when: float | None = None) -> Outcome:
        """Match one message (date and syslog prefix already taken off)."""
        combined = self._combined
        if combined is not None:
            whole, names = combined
            m = whole.match(message)
            if m is None:
                return Outcome(MISSED, index, time=when)
            number, renamed = names[m.lastgroup]  # type: ignore[index]
            groups = {name: m.group(inner) for inner, name in renamed}
            return self._outcome(message, number, groups, index, when)
        for number, regex in self.regexes:
            m = regex.match(message)
            if m is not None:
                return self._outcome(message, number, m.groupdict(), index, when)
        return Outcome(MISSED, index, time=when)

    def _outcome(
        self,
        message: str,
        number: int,
        groups: dict[str, str | None],
        index: int,
        when: float | None,
    ) -> Outcome:
        for ign in self.ignore:
            if ign.search(message):
                return Outcome(IGNORED, index, time=when, regex=number, reason="ignoreregex")
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
        self.heads = HeadReader(self.dates)

    def candidates(self, lines: Sequence[str]) -> Iterator[int]:
        """Indexes of the lines the prefilter lets through, in order."""
        literals = self.filter.literals
        if not literals:
            yield from range(len(lines))
            return
        text = "\n".join(lines)
        if text.count("\n") != len(lines) - 1 if lines else False:
            # A line holds a newline of its own: the offsets would lie; go line by line.
            pre = self.filter.prefilter
            yield from (i for i, line in enumerate(lines) if pre is None or pre.search(line))
            return
        # ends[i]: the offset just past line i's newline. str.find runs at memchr
        # speed, far faster than one regex alternation over the text.
        ends = list(map(add, accumulate(map(len, lines)), range(1, len(lines) + 1)))
        found: set[int] = set()
        add_found = found.add
        find = text.find
        for literal in literals:
            pos = find(literal)
            while pos >= 0:
                i = bisect_right(ends, pos)
                add_found(i)
                pos = find(literal, ends[i])
        yield from sorted(found)

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
        head = self.heads.regex
        if head is not None and (m := head.match(line)) is not None:
            ident = m.group("ident") or m.group("ident2") or m.group("ident3")
            out = self._after_prefix(ident, line[m.end() :], index, None)
            if out.kind == MISSED:
                return out
            out.time = self.heads.time(m)
            if out.time is not None:
                return out
            # Not a real date after all: the general path treats the line as undated.
        return self._match_line_slowly(line, index)

    def _match_line_slowly(self, line: str, index: int) -> Outcome:
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
                self.heads.settle(date.format)
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


_GROUP_NAME = re.compile(r"\(\?P([<=])([A-Za-z_]\w*)([>)])")
_NUMBERED_BACKREF = re.compile(r"\\[1-9]|\(\?\(\d")
Combined = tuple[re.Pattern[str], dict[str, tuple[int, tuple[tuple[str, str], ...]]]]


def _combine(regexes: Sequence[tuple[int, re.Pattern[str]]]) -> Combined | None:
    """One alternation of all regexes, tried in order in C instead of a Python loop.

    Each regex's groups get a suffix so their names stay unique; the outer
    group ``_rN`` closes last, so ``lastgroup`` names the regex that matched.
    None when a regex cannot be embedded (global flags, numbered back-references).
    """
    if len(regexes) < 2:
        return None
    parts = []
    names: dict[str, tuple[int, tuple[tuple[str, str], ...]]] = {}
    for k, (number, regex) in enumerate(regexes):
        if regex.flags & ~re.UNICODE or _NUMBERED_BACKREF.search(regex.pattern):
            return None
        renamed = tuple((f"{name}__{k}", name) for name in regex.groupindex)
        body = _GROUP_NAME.sub(rf"(?P\1\2__{k}\3", regex.pattern)
        parts.append(f"(?P<_r{k}>{body})")
        names[f"_r{k}"] = (number, renamed)
    try:
        whole = re.compile("|".join(parts))
    except re.error:
        return None
    return whole, names
