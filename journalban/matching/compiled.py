"""A filter compiled for one mode, and what became of one line matched against it.

`matching.engine`'s LineMatcher runs these over batches of lines; this module
holds the per-line verdict (Outcome and its kinds) and the compiled regexes,
literals and peer rules of one filter mode.
"""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Final

from journalban.addresses import (
    IPAddress,
    IPNetwork,
    looks_like_hostname,
    never_peer,
    parse_address,
)
from journalban.events import FAILURE, SUCCESS, Hit
from journalban.matching.alternation import combine, compile_quickly, fuse
from journalban.matching.filterdef import FilterDef
from journalban.matching.guards import Guard, line_guard
from journalban.matching.literals import (
    literal_covers,
    mode_literals,
    needle_index,
    needles_for,
)

MATCHED: Final = 0
IGNORED: Final = 1
MISSED: Final = 2
ACCEPTED: Final = 3  # a successregex matched: an accepted login
# ``match_message`` tries this many messages one regex at a time before it compiles the
# alternation (a message costs a few µs more so, the alternation 2-5 ms to compile).
LOOSE_MESSAGES = 256


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


def outcome_hits(
    outcomes: Iterable[Outcome], lines: Sequence[str], times: Sequence[float] = ()
) -> list[Hit]:
    """The failures among ``outcomes`` of ``lines`` as the decisions stage takes them."""
    out: list[Hit] = []
    for o in outcomes:
        if o.kind in HIT_KINDS and o.address is not None:
            when = o.time if o.time is not None else (times[o.index] if times else None)
            mark = FAILURE if o.kind == MATCHED else SUCCESS
            out.append((lines[o.index], str(o.address), when, o.user, mark))
    return out


HIT_KINDS: Final = (MATCHED, ACCEPTED)


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
        successes: bool = False,
    ) -> None:
        """``successes``: also recognise the filter's successregex (ACCEPTED outcomes)."""
        self.fdef = fdef
        self.mode = mode or fdef.default_mode
        if self.mode not in fdef.modes:
            raise ValueError(
                f"filter {fdef.name!r} has no mode {self.mode!r} (modes: {', '.join(fdef.modes)})"
            )
        chosen = fdef.regexes_for(self.mode)
        self.regexes = [(i, r.regex) for i, r in chosen]
        # Success regexes are numbered after every failregex.
        first = len(fdef.failregex)
        self.success_numbers = frozenset(
            range(first, first + len(fdef.successregex)) if successes else ()
        )
        self.regexes += [(first + j, r.regex) for j, r in enumerate(fdef.successregex) if successes]
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
        # the filter's list in every mode but the widest; that list is the fallback
        # (with no prefilter at all when the success regexes have no literal).
        fallback = fdef.prefilter
        if derived is None and self.success_numbers:
            success_literals = mode_literals([r.regex for r in fdef.successregex], ())
            fallback = fallback + tuple(success_literals) if success_literals else ()
        self.literals: tuple[str, ...] = tuple(derived if derived is not None else fallback)
        self.prefilter = (
            re.compile("|".join(re.escape(p) for p in sorted(self.literals, key=len, reverse=True)))
            if self.literals
            else None
        )
        # What the text scan looks for (parts of the literals), and per regex
        # a bit mask of the needles of which a line it matches holds one.
        self.scan = needles_for(self.literals)
        needle_of = [needle_index(self.scan, literal) for literal in self.literals]
        self.needles = tuple(needle for needle, _ in self.scan)
        by_literal = literal_covers([r for _, r in self.regexes], self.literals, fdef.prefilter)
        self.covers = (
            None
            if derived is None or by_literal is None
            else [
                sum(1 << k for k in {needle_of[i] for i in range(len(needle_of)) if cover >> i & 1})
                for cover in by_literal
            ]
        )
        self._regex_masks: dict[int, int] = {}
        self._guards: dict[int, Guard] = {}
        self._alternation = combine(
            self.regexes, dict.fromkeys(self.success_numbers, SUCCESS) or None
        )
        self._whole_compiled = False
        self._whole_regex: re.Pattern[str] | None = None
        self._loose = LOOSE_MESSAGES  # messages match_message tries before compiling _whole
        self.branches = self._alternation.branches if self._alternation else {}

    @property
    def _whole(self) -> re.Pattern[str] | None:
        # Compiled on first use: a file read through fused regexes never needs it.
        if not self._whole_compiled:
            self._whole_compiled = True
            alternation = self._alternation
            self._whole_regex = compile_quickly(alternation.pattern) if alternation else None
            if self._whole_regex is None:
                self._alternation = None  # it does not compile: the regexes one by one
        return self._whole_regex

    def fused(self, head: re.Pattern[str], regexes: int = -1) -> re.Pattern[str] | None:
        """One regex for ``head`` followed by this mode's regexes, or None when unsafe.

        ``regexes``: a bit mask of the regexes (by position) to keep.
        """
        if self._alternation is None:
            return None
        return fuse(head, self._alternation, regexes)

    def alternation_of(self, regexes: int) -> re.Pattern[str] | None:
        """The alternation of the regexes (by position) in bit mask ``regexes``, compiled as
        ``_whole`` is, with the same group names (None: no alternation, or it does not
        compile). Where no other regex can match a message, it finds what ``_whole`` finds."""
        if self._whole is None or self._alternation is None:
            return None
        return compile_quickly(self._alternation.subset(regexes))

    def regexes_needing(self, literals: int) -> int:
        """Bit mask of the regexes (by position) a line holding ``literals`` may match.

        ``literals`` is a bit mask of the ``needles`` a line holds; -1: unknown.
        """
        if self.covers is None or literals == -1:
            return -1
        found = self._regex_masks.get(literals)
        if found is None:
            found = sum(1 << k for k, cover in enumerate(self.covers) if cover & literals)
            self._regex_masks[literals] = found
        return found

    def line_guard(self, regexes: int) -> Guard:
        """``guards.line_guard`` of the regexes (by position) in bit mask ``regexes`` (-1:
        all), built once per mask: a test every line they may match passes (None: none)."""
        if regexes not in self._guards:
            chosen = [r for k, (_, r) in enumerate(self.regexes) if regexes >> k & 1]
            self._guards[regexes] = line_guard(chosen, self.literals) if chosen else None
        return self._guards[regexes]

    def ident_refused(self, ident: str) -> bool:
        """True when a file line's syslog ``ident`` is not one of the filter's."""
        return bool(
            (self.idents or self.ident_globs)
            and ident not in self.idents
            and (self.ident_globs is None or self.ident_globs.match(ident) is None)
        )

    def match_message(self, message: str, index: int = 0, when: float | None = None) -> Outcome:
        """Match one message (date and syslog prefix already taken off).

        The first ``LOOSE_MESSAGES`` are tried one regex at a time, in order (the
        alternation finds the same: its first regex that matches): a file read through
        fused regexes sends a handful of lines here, and compiling the alternation
        (2-5 ms) came in its first burst, before its first frame.
        """
        if self._loose > 0 and not self._whole_compiled:
            self._loose -= 1
            whole = None
        else:
            whole = self._whole
        if whole is not None:
            m = whole.match(message)
            if m is None:
                return Outcome(MISSED, index, time=when)
            return self.outcome_of(m, message, index, when)
        for number, regex in self.regexes:
            m = regex.match(message)
            if m is not None:
                return self._outcome(message, number, m.groupdict(), index, when)
        return Outcome(MISSED, index, time=when)

    def outcome_of(self, m: re.Match[str], message: str, index: int, when: float | None) -> Outcome:
        """The outcome of a match ``m`` of the alternation (its ``lastgroup`` names the regex)."""
        branch = self.branches[m.lastgroup]  # type: ignore[index]
        groups = {name: m.group(inner) for inner, name in branch.groups}
        return self._outcome(message, branch.number, groups, index, when)

    def _outcome(
        self,
        message: str,
        number: int,
        groups: dict[str, str | None],
        index: int,
        when: float | None,
    ) -> Outcome:
        success = number in self.success_numbers
        for ign in () if success else self.ignore:
            if ign.search(message):
                return Outcome(IGNORED, index, time=when, regex=number, reason="ignoreregex")
        host = groups.get("host") or ""
        address = self._peer(host, groups)
        if address is None:
            reason = (
                "host name (never resolved)" if looks_like_hostname(host) else "invalid address"
            )
            return Outcome(MISSED, index, host=host, time=when, regex=number, reason=reason)
        if (why := never_peer(address)) is not None:
            reason = f"never a peer: {why}"
            return Outcome(MISSED, index, host=host, time=when, regex=number, reason=reason)
        captures = tuple((k, v) for k, v in groups.items() if v is not None)
        return Outcome(
            ACCEPTED if success else MATCHED,
            index, address, host, groups.get("user"), when, number, "", captures,
        )  # fmt: skip

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


def journal_prefilter(compiled: CompiledFilter) -> tuple[str, ...]:
    """The literals for which a journal reader child hands a message on: the filter's,
    and its session rules' (session lines hold none of the failregexes' literals);
    empty: every message. The agent's (``agent.build``) and the child's own, from its
    finder (``Request.prefilter_from_finder``), are this one."""
    prefilter = compiled.literals
    rules = compiled.fdef.sessions
    if rules is None:
        return prefilter
    literals = rules.literals
    return () if literals is None or not prefilter else (*prefilter, *literals)
