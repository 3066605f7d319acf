"""Counting a text's failures without an object per line (`journalban regex`'s summary).

A text (a chunk of a log file, lines split at "\\n") is scanned for the
filter's literals; each candidate line is matched in place, on the text
itself, by the fused head+failregex regex. Only what the summary prints is
kept: matched and ignored counts, hits per regex, and the date format's hits.
The counts are those ``LineMatcher.match_lines`` gives for the same lines;
a line the fast path cannot decide alone takes the matcher's general path.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from journalban.matching.denselines import Density, count_lines
from journalban.matching.engine import IGNORED, MATCHED, LineMatcher, Outcome
from journalban.matching.literals import line_ends
from journalban.matching.peertext import peer_text_ok


def count_text(
    matcher: LineMatcher,
    text: str,
    regex_hits: dict[int, int],
    density: Density | None = None,
) -> tuple[int, int]:
    """Matched and ignored lines of ``text``; adds each matched line's regex to ``regex_hits``.

    Date format hits are counted in ``matcher.dates.hits`` as ``match_lines`` counts them.
    ``density``: the same object for the texts of one file, which then take
    ``denselines.count_lines`` where most lines hold a literal (the same counts).
    """
    f = matcher.filter
    if not f.literals or f.trusted:
        return _count(matcher.match_lines(text.split("\n")), regex_hits)
    # Literals derived from the regexes themselves (covers): every regex's match holds one.
    sound = f.covers is not None
    if density is not None and sound and density.dense():
        dense_hits = [0] * len(f.fdef.failregex)
        found_dense = count_lines(matcher, text, regex_hits, dense_hits)
        if found_dense is not None:
            for number, n in enumerate(dense_hits):
                if n:
                    regex_hits[number] = regex_hits.get(number, 0) + n
            return found_dense
    matched = ignored = 0
    rfind = text.rfind
    ignore = f.ignore
    check_idents = bool(f.idents or f.ident_globs)
    heads = matcher.heads
    counts = heads.counts
    valid = _valid_hosts(matcher)
    # Per needle mask: the fused regex, and by its regexes' group numbers (lastindex)
    # the regex's number and its host group. Only the general path below settles
    # a new date format, and with it new fused regexes: the table is then dropped.
    tables: dict[int, _Fused] = {}
    hits = [0] * len(f.fdef.failregex)
    # Idents seen and allowed: most lines of a log share a few.
    allowed: set[str] = set()
    # heads.counts inlined for a date whose hour converted before (see HeadReader.counts).
    spans, hours = heads.fast_hours()
    date_group, minute_group, second_group = spans or (0, 0, 0)
    date_hits = 0
    found = line_ends(text, f.scan)
    if density is not None:
        density.measured(len(found))
    for end, mask in sorted(found.items()):
        start = rfind("\n", 0, end) + 1
        fused = tables.get(mask)
        if fused is None:
            fused = tables[mask] = _fused(matcher, mask)
        match = fused.match
        m = None if match is None else match(text, start, end)
        if m is not None:
            branch = fused.branches.get(m.lastindex)  # type: ignore[arg-type]
            if branch is None:
                continue  # the head alone matched: missed
            number, host_group, message_group = branch
            if check_idents:
                i1, i2, i3 = fused.idents
                ident = m[i1] or m[i2] or m[i3]
                if ident is not None and ident not in allowed:
                    if matcher.ident_refused(ident):
                        continue
                    allowed.add(ident)
            if ignore:
                message = text[m.start(message_group) : end]
                if any(ign.search(message) for ign in ignore):
                    if counts(m):
                        ignored += 1
                        continue
                    m = None
            if m is not None:
                host = (m[host_group] or "") if host_group else ""
                ok = valid.get(host)
                if ok is None:
                    ok = _remember(valid, host)
                if not ok:
                    continue  # an invalid address or a host name: missed
                if date_group:
                    date_start, date_end = m.span(date_group)
                    minute = m.start(minute_group)
                    if (
                        minute >= 0
                        and m.end(second_group) == date_end
                        and text[date_start:minute] in hours
                    ):
                        date_hits += 1
                        hits[number] += 1
                        continue
                if counts(m):
                    matched += 1
                    hits[number] += 1
                    continue
        # Not a date of the settled format after all, or no format settled yet.
        heads.add_hits(date_hits)
        matched += date_hits
        date_hits = 0
        out = matcher.match_line(text[start:end])
        if out.kind == MATCHED:
            matched += 1
            regex_hits[out.regex] = regex_hits.get(out.regex, 0) + 1
        elif out.kind == IGNORED:
            ignored += 1
        tables.clear()
        spans, hours = heads.fast_hours()
        date_group, minute_group, second_group = spans or (0, 0, 0)
    heads.add_hits(date_hits)
    matched += date_hits
    for number, n in enumerate(hits):
        if n:
            regex_hits[number] = regex_hits.get(number, 0) + n
    return matched, ignored


@dataclass(frozen=True, slots=True)
class _Fused:
    match: Callable[..., re.Match[str] | None] | None  # the fused regex's
    # By the group number of a regex's outer group: (its number, host group, outer group).
    branches: dict[int, tuple[int, int, int]]
    idents: tuple[int, int, int]  # the head's ident groups


def _fused(matcher: LineMatcher, needles: int) -> _Fused:
    regex = matcher.fused_for(needles)
    if regex is None:
        return _Fused(None, {}, (0, 0, 0))
    groups = regex.groupindex
    branches = {
        groups[b.group]: (b.number, groups[b.host] if b.host else 0, groups[b.group])
        for b in matcher.filter.branches.values()
        if b.group in groups
    }
    return _Fused(regex.match, branches, (groups["ident"], groups["ident2"], groups["ident3"]))


_HOST_CACHE = 65536


def _valid_hosts(matcher: LineMatcher) -> dict[str, bool]:
    """Whether a host text is a valid address, remembered by the matcher (hosts repeat)."""
    if len(matcher.valid_hosts) >= _HOST_CACHE:
        matcher.valid_hosts.clear()
    return matcher.valid_hosts


def _remember(valid: dict[str, bool], host: str) -> bool:
    ok = valid[host] = peer_text_ok(host)
    return ok


def _count(outcomes: Iterable[Outcome], regex_hits: dict[int, int]) -> tuple[int, int]:
    matched = ignored = 0
    for out in outcomes:
        if out.kind == MATCHED:
            matched += 1
            regex_hits[out.regex] = regex_hits.get(out.regex, 0) + 1
        elif out.kind == IGNORED:
            ignored += 1
    return matched, ignored
