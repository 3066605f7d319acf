"""The failures in a file's text: its candidate lines matched one by one (``LineMatcher.hits``).

The literal scan (``line_ends``) gives the lines that may match and the needles each
holds; each is matched by its needle mask's fused regex (head and regexes,
``LineMatcher.fused_for``) after the mask's guard, and a match is a hit once its ident is
allowed, its host is there and its date converts. That loop was two thirds of the file
reader child's CPU on sshd-flood; its common path runs in C (``_texthits.run``: the same
guard and match calls, the groups read from the match, the date from the cache of minutes)
and hands a line back here where anything is off that path: the loop below goes on with
it from the step reached (``START``, ``GENERAL``, ``MATCHED``) and stays the reference
(``JOURNALBAN_NATIVE_TEXT=0``, or the module not built: the whole loop here).
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from journalban.events import Hit
from journalban.matching.literals import line_ends

if TYPE_CHECKING:
    from journalban.matching.engine import LineMatcher

# Where the Python loop goes on with a line the C loop hands back: from the top (the mask
# not in the C loop's table), the general path (the fused regex matched nothing), or the
# match it gives.
START, GENERAL, MATCHED = 0, 1, 2
# A mask's entry for the C loop: (match, guard or None, plans, the three ident groups).
Entry = tuple[Callable[..., Any], object, tuple[Any, ...], tuple[int, int, int]]
Run = Callable[..., tuple[int, int, int, "re.Match[str] | None"]]

# Texts and regexes whose matches check ``_texthits``'s reading of a match object.
_SAMPLES = (
    (r"(?P<a>x)?(y)(?P<b>z*)(w)?", "yzz"),
    (r"(a)|(b)(c)?", "b"),
    (r"(?:(q)|(r))+", "qrq"),
    (r"", ""),
    (r"(é+)(ü)", "ééü"),
)


def _native() -> Run | None:
    """``_texthits.run`` where it is built, reads match objects as ``re`` answers for them,
    and JOURNALBAN_NATIVE_TEXT is not 0; None: the loop is all Python."""
    if os.environ.get("JOURNALBAN_NATIVE_TEXT", "1") == "0":
        return None
    try:
        from journalban.matching import _texthits
    except ImportError:
        return None
    match_type = type(re.match("", ""))
    if not _texthits.adopt(match_type):
        return None
    for pattern, text in _SAMPLES:
        m = re.compile(pattern).match(text)
        if m is None:
            return None
        spans = [x for g in range(len(m.regs)) for x in m.span(g)]
        last = -1 if m.lastindex is None else m.lastindex
        if _texthits.marks(m) != (last, len(m.regs), spans):
            return None
    return _texthits.run


# Looked up once, at import; tests set it to None to run the pure-Python loop.
NATIVE: Run | None = _native()


def entry(matcher: LineMatcher, fused: re.Pattern[str], guard: object) -> Entry | None:
    """The C loop's entry for a mask whose lines ``fused`` matches, after ``guard`` (None:
    none); None where the C loop must leave its lines to the Python loop."""
    index = fused.groupindex
    idents = (index.get("ident"), index.get("ident2"), index.get("ident3"))
    if idents[0] is None or idents[1] is None or idents[2] is None:
        return None
    plans: list[tuple[int, int, int, bool] | None] = [None] * (fused.groups + 1)
    ignore = bool(matcher.filter.ignore)
    for name, branch in matcher.filter.branches.items():
        k = index.get(name)
        if k is None:
            continue
        host = -1 if branch.host is None else index.get(branch.host)
        user = -1 if branch.user is None else index.get(branch.user)
        if host is None or user is None:
            return None
        plans[k] = (host, user, branch.mark, not (ignore and not branch.mark))
    return fused.match, guard, tuple(plans), (idents[0], idents[1], idents[2])


def text_hits(matcher: LineMatcher, text: str) -> list[Hit]:
    """``LineMatcher.hits`` for lines with a date and syslog prefix, joined by newlines."""
    lines_of = matcher._guarded_lines()
    found = line_ends(text, matcher.filter.scan, lines_of)
    ends = sorted(found)
    out: list[Hit] = []
    append = out.append
    rfind = text.rfind
    branches = matcher.filter.branches
    ignore = matcher.filter.ignore
    time_of = matcher.heads.time
    fused_for = matcher.fused_for
    verdicts = matcher._refused
    refused = matcher.ident_refused
    # Each needle mask's fused regex, as fused_for gives it until the general path
    # settles another date format (the dict is then emptied); and, for the masks that
    # have one, a test every line its regexes may match passes (Guards.for_mask).
    by_mask: dict[int, re.Pattern[str] | None] = {}
    guarded: dict[int, Callable[[str, int, int], object]] = {}
    guard_of = matcher.guards.for_mask
    # The C loop's entries (``entry``), emptied with by_mask.
    native = NATIVE
    table: dict[int, Entry | None] = {}
    # ``heads.time``'s first step, here (a call and its lookups less a failure): a date
    # ending with its seconds in a minute seen before; counted once per text (``dated``).
    heads = matcher.heads
    (dg, sg, fg), minutes = heads.minute_cache()
    dated = 0
    i, n = 0, len(ends)
    while i < n:
        stage, m = START, None
        if native is not None:
            i, counted, stage, m = native(
                text, ends, found, i, table, verdicts, minutes, dg, sg, fg, out
            )
            dated += counted
            if i >= n:
                break
        end = ends[i]
        i += 1
        start = rfind("\n", 0, end) + 1
        if stage == START:
            mask = found[end]
            if mask in by_mask:
                fused = by_mask[mask]
            else:
                fused = by_mask[mask] = fused_for(mask)
                # (a needle's lone mask whose lines the scan told by a regex already: none)
                told = mask & (mask - 1) == 0 and isinstance(
                    lines_of.get(mask.bit_length() - 1), re.Pattern
                )
                if fused is not None and not told and (guard := guard_of(mask)) is not None:
                    guarded[mask] = guard
                if native is not None:
                    table[mask] = (
                        None if fused is None else entry(matcher, fused, guarded.get(mask))
                    )
            if fused is None:
                line = text[start:end]
                heads.add_hits(dated)  # (before the general path may settle another format)
                matcher._hit_of(matcher.match_line(line), line, out, "")
                by_mask.clear()
                table.clear()
                (dg, sg, fg), minutes = heads.minute_cache()
                dated = 0
                continue
            if guarded and mask in guarded and guarded[mask](text, start, end) is None:
                continue  # passes no test of a regex it may match: none matches it
            m = fused.match(text, start, end)
        if m is not None:
            name = m.lastgroup
            if name is None or (branch := branches.get(name)) is None:
                continue  # the head alone, a near miss: no failregex matched, no text cut
            # (``m[g]``: ``m.group(g)`` without the method's call: jchild's 4a98860)
            ident = m["ident"] or m["ident2"] or m["ident3"]
            if ident is not None:
                verdict = verdicts.get(ident)
                if verdict if verdict is not None else refused(ident):
                    continue
            if ignore and not branch.mark:
                message = text[m.start(name) : end]
                if any(ign.search(message) for ign in ignore):
                    continue
            host = m[branch.host] if branch.host is not None else None
            if not host:
                continue
            when = None
            if dg:
                s0, s1 = m.span(sg)
                if s1 == m.end(dg) and s0 > 0 and (not fg or m[fg] is None):
                    # (the date group opens every head, so the match: ``start``)
                    base = minutes.get(text[start:s0])
                    if base is not None:
                        when = base + int(text[s0:s1])
                        dated += 1
            if when is None:
                when = time_of(m)
            if when is not None:
                user = m[branch.user] if branch.user is not None else None
                # (an accepted login's line not cut: events.Hit)
                append(("" if branch.mark else text[start:end], host, when, user, branch.mark))
                continue
            # Not a real date after all: the general path treats the line as undated.
        line = text[start:end]
        heads.add_hits(dated)
        matcher._hit_of(matcher._match_line_slowly(line, 0), line, out, "")
        by_mask.clear()
        table.clear()
        (dg, sg, fg), minutes = heads.minute_cache()
        dated = 0
    heads.add_hits(dated)
    return out
