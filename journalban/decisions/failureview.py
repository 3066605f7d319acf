"""The last failures of a jail that have not (yet) led to a ban, for consoles.

Read from what the jail keeps anyway: its failure counter (the networks seen
most recently, with their failure times within findtime) and the lines kept
for each network's ban. Nothing is added to the failure path; a network
leaves the view when it is banned (its lines go with the ban), forgotten by
the counter, or its failures age past findtime.
"""

from __future__ import annotations

from journalban.decisions.runtime import JailRuntime

# How many networks a view holds at most.
RECENT_FAILURES = 20


def recent_failures(
    rt: JailRuntime, now: float, limit: int = RECENT_FAILURES
) -> list[tuple[str, int, float, tuple[str, ...]]]:
    """(network text, failures within findtime, last failure time, lines), newest first."""
    since = now - rt.counter.findtime
    out = []
    # A few more than asked: some of the newest may have aged out meanwhile.
    for network, times in rt.counter.newest(limit * 2):
        live = [t for t in times if t > since]
        if not live:
            continue
        lines = tuple(rt.recent_lines.lines_of(network))
        out.append((_shown(network), len(live), live[-1], lines))
        if len(out) >= limit:
            break
    return out


def _shown(text: str) -> str:
    """A counted network's text as a ban shows it: one address without /32 or /128."""
    if text.endswith("/128") or (text.endswith("/32") and ":" not in text):
        return text.rsplit("/", 1)[0]
    return text
