"""Counting a text where most lines hold a literal: every line through the fused regex.

``counting.count_text`` finds the candidate lines by the filter's literals
(one pass per needle), then matches each in place with the fused regex of the
literals it holds, a few Python steps per line. When most lines are candidates
(sshd-flood: 887k of 1M lines), the scan and those steps cost more than the
regex would on the lines without a literal: here the text is split into lines
and the fused regex of all the filter's regexes runs over them in C
(``map``), Python seeing only each line's match.

The counts are the same: a regex left out of a needle mask's fused regex
cannot match a line lacking its literals, so the alternation with every regex
gives each line the match it had; a line holding no literal can match the head
alone (missed, as a line the scan skipped); and a line whose head does not match
is sent to the general path only when it holds a literal, as the scan sends it.
"""

from __future__ import annotations

from journalban.matching.engine import IGNORED, MATCHED, LineMatcher

# A text takes this path when, in the last text measured by the scan, at least this
# share of the lines were candidates.
DENSE_SHARE = 0.5
# Every this many texts the scan measures again (the log may change shape).
MEASURE_EVERY = 16


class Density:
    """What ``count_text`` learned about a file's texts: the share of candidate lines."""

    def __init__(self) -> None:
        self.share = 0.0
        self.texts = 0
        self.lines = 0  # of the text being counted: set by the caller, who counts them anyway

    def dense(self) -> bool:
        """Whether the next text should take this path."""
        self.texts += 1
        return self.share >= DENSE_SHARE and self.texts % MEASURE_EVERY != 0

    def measured(self, candidates: int) -> None:
        self.share = candidates / max(self.lines, 1)


def count_lines(
    matcher: LineMatcher, text: str, regex_hits: dict[int, int], hits: list[int]
) -> tuple[int, int] | None:
    """Matched and ignored lines of ``text`` (as ``count_text``), each line through the fused
    regex of all regexes; adds to ``hits`` (per regex) and ``regex_hits`` (general path).

    None when no fused regex is settled (the caller scans instead).
    """
    from journalban.matching.counting import _fused, _remember, _valid_hosts

    f = matcher.filter
    lines = text.split("\n")
    literals = f.literals
    ignore = f.ignore
    check_idents = bool(f.idents or f.ident_globs)
    heads = matcher.heads
    counts = heads.counts
    valid = _valid_hosts(matcher)
    allowed: set[str] = set()
    matched = ignored = 0
    date_hits = 0
    start = 0
    total = len(lines)
    while start < total:
        fused = _fused(matcher, -1)
        match = fused.match
        if match is None:
            if start == 0:
                return None
            break
        branches = fused.branches
        i1, i2, i3 = fused.idents
        spans, hours = heads.fast_hours()
        date_group, minute_group, second_group = spans or (0, 0, 0)
        seg = lines[start:] if start else lines
        general = -1  # the index in seg of a line for the general path
        for k, m in enumerate(map(match, seg)):
            if m is None:
                line = seg[k]
                if any(lit in line for lit in literals):
                    general = k
                    break
                continue  # no literal: the scan would not have looked at it
            branch = branches.get(m.lastindex)  # type: ignore[arg-type]
            if branch is None:
                continue  # the head alone matched: missed
            number, host_group, message_group = branch
            if check_idents:
                ident = m[i1] or m[i2] or m[i3]
                if ident is not None and ident not in allowed:
                    if matcher.ident_refused(ident):
                        continue
                    allowed.add(ident)
            if ignore:
                message = m.string[m.start(message_group) :]
                if any(ign.search(message) for ign in ignore):
                    if counts(m):
                        ignored += 1
                        continue
                    general = k
                    break
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
                    and m.string[date_start:minute] in hours
                ):
                    date_hits += 1
                    hits[number] += 1
                    continue
            if counts(m):
                matched += 1
                hits[number] += 1
                continue
            general = k
            break
        if general < 0:
            break
        # Not a date of the settled format after all, or no format settled yet: the
        # general path decides, and may settle another format (a new fused regex).
        heads.add_hits(date_hits)
        matched += date_hits
        date_hits = 0
        out = matcher.match_line(seg[general])
        if out.kind == MATCHED:
            matched += 1
            regex_hits[out.regex] = regex_hits.get(out.regex, 0) + 1
        elif out.kind == IGNORED:
            ignored += 1
        start += general + 1
    heads.add_hits(date_hits)
    matched += date_hits
    return matched, ignored
