"""The fused regexes a file's first lines will need, compiled before they are read.

A file reader child compiles, at its first burst, the fused line regex
(``LineMatcher.fused_for``) of each needle mask it meets: sshd's first burst
met seven, 9.6 ms of its 13 ms, while the agent waited for that first frame
with nothing to decide. A fused regex is the date format's head regex and the
regexes a mask leaves, so it can only be compiled once the date format is
known, which the first line settles. ``warm`` compiles, before any line, the
ones the filter's own samples (``FilterDef.samples``, lines as the service
writes them, under the usual date formats) need, under each sample's date
format, without settling it: a file in one of those formats then finds them
compiled (``LineMatcher.fused_under``, keyed by the head's pattern); a file in
another format compiles its own as before. The matching is the same either way:
only when each regex is compiled changes.
"""

from __future__ import annotations

from collections.abc import Sequence

from journalban.clock import SystemClock
from journalban.matching.dates import DateReader
from journalban.matching.engine import LineMatcher
from journalban.matching.literals import line_ends


def warm(matcher: LineMatcher, lines: Sequence[str]) -> int:
    """Compile the fused regexes ``lines`` need (their needle masks, under their own date
    formats) without settling a format or counting anything; the lines that had one."""
    if matcher.filter.trusted or not matcher.filter.literals:
        return 0  # its lines take the general path (``LineMatcher.hits``): no mask's regex
    text = "\n".join(line for line in lines if "\n" not in line)
    dates = DateReader(SystemClock().now)  # its own: the matcher's reader settles nothing
    compiled = 0
    for end, mask in line_ends(text, matcher.filter.scan).items():
        start = text.rfind("\n", 0, end) + 1
        date = dates.find(text[start:end])
        if date is None or date.start != 0:
            continue
        head = matcher.heads.head_for(date.format)
        if head is not None and matcher.fused_under(head, mask) is not None:
            compiled += 1
    return compiled
