"""Counting a text's failures without an object per line (`journalban regex`'s summary).

A text (a chunk of a log file, lines split at "\\n") is scanned for the
filter's literals; each candidate line is matched in place, on the text
itself, by the fused head+failregex regex. Only what the summary prints is
kept: matched and ignored counts, hits per regex, and the date format's hits.
The counts are those ``LineMatcher.match_lines`` gives for the same lines;
a line the fast path cannot decide alone takes the matcher's general path.
"""

from __future__ import annotations

from collections.abc import Iterable

from journalban.addresses import parse_address
from journalban.matching.engine import IGNORED, MATCHED, LineMatcher, Outcome, line_ends


def count_text(matcher: LineMatcher, text: str, regex_hits: dict[int, int]) -> tuple[int, int]:
    """Matched and ignored lines of ``text``; adds each matched line's regex to ``regex_hits``.

    Date format hits are counted in ``matcher.dates.hits`` as ``match_lines`` counts them.
    """
    f = matcher.filter
    if not f.literals or f.trusted:
        return _count(matcher.match_lines(text.split("\n")), regex_hits)
    matched = ignored = 0
    rfind = text.rfind
    branches = f.branches
    ignore = f.ignore
    time_of = matcher.heads.time
    # Only the general path below settles a new date format, and with it a new fused regex.
    fused = matcher.fused_regex()
    for end in line_ends(text, f.literals):
        start = rfind("\n", 0, end) + 1
        m = None if fused is None else fused.match(text, start, end)
        if m is not None:
            branch = branches.get(m.lastgroup or "")
            if branch is None:
                continue  # the head alone matched: missed
            ident = m.group("ident") or m.group("ident2") or m.group("ident3")
            if ident is not None and matcher.ident_refused(ident):
                continue
            if ignore:
                message = text[m.start(branch.group) : end]
                if any(ign.search(message) for ign in ignore):
                    if time_of(m) is not None:
                        ignored += 1
                        continue
                    m = None
            if m is not None:
                host = m.group(branch.host) if branch.host else None
                if parse_address(host or "") is None:
                    continue  # an invalid address or a host name: missed
                if time_of(m) is not None:
                    matched += 1
                    regex_hits[branch.number] = regex_hits.get(branch.number, 0) + 1
                    continue
        # Not a date of the settled format after all, or no format settled yet.
        out = matcher.match_line(text[start:end])
        if out.kind == MATCHED:
            matched += 1
            regex_hits[out.regex] = regex_hits.get(out.regex, 0) + 1
        elif out.kind == IGNORED:
            ignored += 1
        fused = matcher.fused_regex()
    return matched, ignored


def _count(outcomes: Iterable[Outcome], regex_hits: dict[int, int]) -> tuple[int, int]:
    matched = ignored = 0
    for out in outcomes:
        if out.kind == MATCHED:
            matched += 1
            regex_hits[out.regex] = regex_hits.get(out.regex, 0) + 1
        elif out.kind == IGNORED:
            ignored += 1
    return matched, ignored
