"""The hot path: recognise failures in batches of lines.

Most lines are not failures. A batch is joined into one text and scanned for
the filter's literal prefilter at C speed; only the lines it points at pay for
date parsing, syslog-prefix splitting, the regexes and address validation.
Nothing is allocated for a line that misses. The filter itself, compiled for
one mode, and the per-line Outcome live in `matching.compiled`.
"""

from __future__ import annotations

import re
from bisect import bisect_left
from collections.abc import Callable, Iterable, Iterator, Sequence
from itertools import accumulate
from operator import add

from journalban.events import FAILURE, SUCCESS, Hit, JoinedLines, LineBatch
from journalban.matching.compiled import (
    ACCEPTED,
    HIT_KINDS,
    IGNORED,
    MATCHED,
    MISSED,
    CompiledFilter,
    Outcome,
    outcome_hits,
)
from journalban.matching.dates import DateReader
from journalban.matching.guards import Guards
from journalban.matching.heads import HeadReader
from journalban.matching.literals import line_ends
from journalban.matching.prefix import AFTER_DATE, PRI, RFC5424, split_syslog
from journalban.matching.texthits import text_hits

__all__ = [
    "ACCEPTED",
    "IGNORED",
    "MATCHED",
    "MISSED",
    "CompiledFilter",
    "LineMatcher",
    "Outcome",
    "outcome_hits",
]

_IDENT_CACHE = 1024


# A message's failure as ``hits`` gives it (message, address text, time, account, mark), or
# None (LineMatcher.message_hit)
MessageHit = Hit | None
# A branch's hit as a reader makes it (LineMatcher.hit_plans): host group, user group, mark
HitPlan = tuple[str, str | None, int]


class LineMatcher:
    """Matches the lines of one source against one compiled filter."""

    def __init__(self, compiled: CompiledFilter, now: Callable[[], float]) -> None:
        self.filter = compiled
        self.dates = DateReader(now)
        self.heads = HeadReader(self.dates)
        self._fused_head: re.Pattern[str] | None = None
        self._fused_by_head: dict[str, dict[int, re.Pattern[str] | None]] = {}
        self._by_literals: dict[int, re.Pattern[str] | None] = {}
        self._refused: dict[str, bool] = {}
        self.guards = Guards(compiled)  # the file lines' first test (_text_hits)
        # Host texts known to be (or not be) valid addresses, for counting.
        self.valid_hosts: dict[str, bool] = {}

    def fused_regex(self) -> re.Pattern[str] | None:
        """The settled date format's head regex fused with the filter's regexes, if any.

        It changes when the general path settles another date format.
        """
        return self.fused_for(-1)

    def fused_for(self, literals: int) -> re.Pattern[str] | None:
        """``fused_regex`` without the regexes a line holding ``literals`` cannot match.

        ``literals``: a bit mask of the filter's ``needles`` the line holds; -1: unknown.
        Each is compiled on first use.
        """
        if self.heads.regex is not self._fused_head:
            self._fused_head = self.heads.regex
            self._by_literals = {}
        by_literals = self._by_literals
        if literals not in by_literals:
            head = self._fused_head
            by_literals[literals] = None if head is None else self.fused_under(head, literals)
        return by_literals[literals]

    def fused_under(self, head: re.Pattern[str], literals: int) -> re.Pattern[str] | None:
        """``fused_for(literals)`` behind ``head``, settled or not; each compiled once."""
        regexes = self.filter.regexes_needing(literals)
        by_regexes = self._fused_by_head.setdefault(head.pattern, {})
        if regexes not in by_regexes:
            by_regexes[regexes] = self.filter.fused(head, regexes)
        return by_regexes[regexes]

    def ident_refused(self, ident: str) -> bool:
        """The filter's verdict on a syslog ident, remembered (a log holds few idents)."""
        verdict = self._refused.get(ident)
        if verdict is None:
            if len(self._refused) >= _IDENT_CACHE:
                self._refused.clear()
            verdict = self._refused[ident] = self.filter.ident_refused(ident)
        return verdict

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
        # ends[i]: the offset of line i's newline (or the text's end).
        ends = list(map(add, accumulate(map(len, lines)), range(len(lines))))
        found = line_ends(text, self.filter.scan)
        yield from (bisect_left(ends, end) for end in sorted(found))

    def hits(self, batch: LineBatch) -> list[Hit]:
        """The failures in a batch, for the agent: (line, address text, time or None).

        The same failures as the MATCHED outcomes of ``match_lines``, without
        building an outcome: the address is validated by the decisions stage
        (once per distinct text), the line cut out only when it matched.
        """
        lines = batch.lines
        if not lines:
            return []
        if self.filter.trusted or not self.filter.literals:
            # Proxies to see through, or no prefilter: the general path.
            return self._hits_of(lines, batch.prefixed, batch.times)
        if not batch.prefixed:
            every = batch.read >= 0  # the source left out the lines that cannot match
            return self._message_hits(lines, batch.times, every)
        if isinstance(lines, JoinedLines):
            text = lines.text
        else:
            text = "\n".join(lines)
            if text.count("\n") != len(lines) - 1:
                return self._hits_of(lines, True, ())
        return self._text_hits(text)

    def _guarded_lines(self) -> dict[int, re.Pattern[str] | tuple[str, ...]]:
        """Per needle whose mask alone kept its guard (``Guards.lines_of``): what a line
        holding the needle must hold too to carry its bit in the scan (``line_ends``'
        ``lines_of``); without, it is no candidate alone (sshd-near-miss: 46,062 ``Failed
        publickey for <user>`` lines and 39,462 ``Received disconnect`` lines of reason 11
        left in C)."""
        out: dict[int, re.Pattern[str] | tuple[str, ...]] = {}
        for bit in range(len(self.filter.scan)):
            lines = self.guards.lines_of(bit)
            if lines is not None:
                out[bit] = lines
        return out

    def _text_hits(self, text: str) -> list[Hit]:
        """``hits`` for lines with a date and syslog prefix, joined by newlines."""
        return text_hits(self, text)

    def _message_hits(self, lines: Sequence[str], times: Sequence[float], every: bool) -> list[Hit]:
        """``hits`` for bare messages (the journal); ``every``: all lines are candidates."""
        compiled = self.filter
        whole = compiled._whole
        out: list[Hit] = []
        indexes: Iterable[int] = range(len(lines)) if every else self.candidates(lines)
        if whole is None:
            for i in indexes:
                when = times[i] if times else None
                self._hit_of(compiled.match_message(lines[i], i, when), lines[i], out, lines[i])
            return out
        branches = compiled.branches
        ignore = compiled.ignore
        for i in indexes:
            message = lines[i]
            m = whole.match(message)
            if m is None:
                continue
            branch = branches[m.lastgroup]  # type: ignore[index]
            if ignore and not branch.mark and any(ign.search(message) for ign in ignore):
                continue
            host = m.group(branch.host) if branch.host is not None else None
            if host:
                user = m.group(branch.user) if branch.user is not None else None
                out.append((message, host, times[i] if times else None, user, branch.mark))
        return out

    def message_hit(
        self,
    ) -> tuple[
        Callable[[str], re.Match[str] | None], Callable[[re.Match[str], str, float], MessageHit]
    ]:
        """One bare message's failure, as ``hits`` finds it in a batch of bare messages that
        are all candidates (the journal reader's), in two steps: ``match(message)`` (a miss
        costs only that call) and, for a match ``m``, ``hit_of(m, message, when)``: the hit
        as ``hits`` gives it (the reader's frame takes it as it is), or None.

        Mirrors ``_message_hits`` line for line.

        Raises:
            LookupError: ``hits`` takes its general path here (trusted proxies, no
                literals, regexes that do not compile as one alternation): match batches.
        """
        compiled = self.filter
        whole = None if compiled.trusted or not compiled.literals else compiled._whole
        if whole is None:
            raise LookupError("no single alternation: match batches with hits()")
        branches, ignore = compiled.branches, compiled.ignore

        def hit_of(m: re.Match[str], message: str, when: float) -> MessageHit:
            branch = branches[m.lastgroup]  # type: ignore[index]
            if ignore and not branch.mark and any(ign.search(message) for ign in ignore):
                return None
            host = m.group(branch.host) if branch.host is not None else None
            if not host:
                return None
            user = m.group(branch.user) if branch.user is not None else None
            return message, host, when, user, branch.mark

        return whole.match, hit_of

    def hit_plans(self) -> dict[str, HitPlan | None]:
        """Per branch of ``message_hit``'s match (its ``lastgroup``), what ``hit_of`` reads:
        (host group, user group or None, mark); None where ``hit_of`` must decide (an
        ignoreregex applies, or the branch has no host group). A reader that makes the hit
        itself, ``(message, m.group(host) or no hit, when, user's group or None, mark)``,
        spares a call per hit (journalrouted)."""
        ignore = self.filter.ignore
        return {
            name: None if b.host is None or (ignore and not b.mark) else (b.host, b.user, b.mark)
            for name, b in self.filter.branches.items()
        }

    @staticmethod
    def _hit_of(outcome: Outcome, line: str, into: list[Hit], login: str) -> None:
        """``login``: an accepted login's line ("" in a file's text: events.Hit)."""
        if outcome.kind in HIT_KINDS and outcome.address is not None:
            mark = FAILURE if outcome.kind == MATCHED else SUCCESS
            found = line if mark == FAILURE else login
            into.append((found, str(outcome.address), outcome.time, outcome.user, mark))

    def _hits_of(self, lines: Sequence[str], prefixed: bool, times: Sequence[float]) -> list[Hit]:
        return outcome_hits(self.match_lines(lines, prefixed, times), lines, times)

    def match_lines(
        self, lines: Sequence[str], prefixed: bool = True, times: Sequence[float] = ()
    ) -> Iterator[Outcome]:
        """Outcomes for the candidate lines of a batch (every other line missed)."""
        if prefixed:
            match_line = self.match_line
            for i in self.candidates(lines):
                yield match_line(lines[i], i)
            return
        match_message = self.filter.match_message
        for i in self.candidates(lines):
            yield match_message(lines[i], i, times[i] if times else None)

    def match_line(self, line: str, index: int = 0) -> Outcome:
        """Match a full log line: its date and syslog prefix are taken off first."""
        fused = self.fused_for(-1)
        if fused is not None:
            m = fused.match(line)
            if m is not None and (out := self.fused_outcome(m, index)) is not None:
                return out
            return self._match_line_slowly(line, index)
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

    def fused_outcome(self, m: re.Match[str], index: int) -> Outcome | None:
        """The outcome of a fused-regex match, or None when the general path must decide."""
        ident = m.group("ident") or m.group("ident2") or m.group("ident3")
        if ident is not None and self.ident_refused(ident):
            return Outcome(MISSED, index, reason=f"ident {ident!r} not in filter's idents")
        name = m.lastgroup
        if name is None or name not in self.filter.branches:
            return Outcome(MISSED, index)
        out = self.filter.outcome_of(m, m.string[m.start(name) : m.endpos], index, None)
        if out.kind == MISSED:
            return out
        out.time = self.heads.time(m)
        # No time: not a real date after all; the general path treats the line as undated.
        return out if out.time is not None else None

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
        if ident is not None and self.ident_refused(ident):
            return Outcome(
                MISSED, index, time=when, reason=f"ident {ident!r} not in filter's idents"
            )
        return self.filter.match_message(message, index, when)
