"""The reader child's loop over a batch where a jail's candidates are told by their start.

``journalbatch.read_batch`` hands the batch here when the finder matches one message at
a time and its route (``journalroute``) decides (sshd's jail): the loop then does only
what that case needs per entry (``_next()``, ``MESSAGE``, the start's table and match),
and per hit its match, the entry's time and the hit itself, with no test of the
other cases on every entry. It finds what ``read_batch``'s general loop would: the
same failures, messages, times and keys in the same order.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from journalban.sources.journalbatch import Found
    from journalban.sources.journalroute import Route
    from journalban.sources.journalwire import SessionGate
    from journalban.sources.sdreader import Reader

Match = Callable[[str], "re.Match[str] | None"]
HitOf = Callable[["re.Match[str]", str, float], "Found | None"]
# Per branch (a match's lastgroup): host group, user group, mark; None: ask hit_of
# (matching.engine.LineMatcher.hit_plans)
Plans = Mapping[str, "tuple[str, str | None, int] | None"]
# read, unreadable, the failures found, and the session lines: messages, times, keys
Routed = tuple[int, int, list["Found"], list[str], list[float], list["str | None"]]


def read_routed(
    reader: Reader,
    route: Route,
    gate: SessionGate,
    whole: Match,
    hit_of: HitOf,
    plans: Plans,
    limit: int,
    field: str,
    at_stop: Callable[[], bool],
    stop_usec: int | None,
) -> Routed:
    """Up to ``limit`` entries from where ``reader`` stands (``at_stop``: the first not to
    read was reached, with ``stop_usec`` its time). A hit is made here where ``plans`` gives
    its branch's groups, as ``hit_of`` would make it (a call less a hit), else by ``hit_of``."""
    next_entry, get, realtime = reader._next, reader._get, reader._get_realtime
    check_session, matchers, leaves = gate.check_session, route.matchers, route.leaves
    # Session lines of no use skipped unasked, until a teaching line is seen.
    quiet = gate.quiet()
    if quiet:
        firsts, starting = route.quiet_firsts, route.quiet_match
    else:
        firsts, starting = route.firsts, route.match
    # The native reader (journalnative) steps over the entries no start begins in C, onto
    # the next one that does (``_pass``): the loop below sees only those (the others would
    # stop at its first test), and those it is not sure of.
    skip = getattr(reader, "_pass", None)
    passing = None if skip is None else route.passing(quiet)
    if passing is None:
        skip = None
    else:
        table, starts, leaf_of = passing
        stop = -1 if stop_usec is None else stop_usec
    found: list[Found] = []
    messages: list[str] = []
    times: list[float] = []
    keys: list[str | None] = []
    unreadable = read = 0
    while read < limit:
        leaf = 0  # the start's leaf, where _pass tells it (else the route's match below)
        if skip is None:
            if not next_entry():
                break
        elif (passed := skip(limit - read, table, starts, stop)) < 0:
            # Passed over some, and standing on a message with a start: -(passed * 256 +
            # its index in starts) - 1.
            passed = -passed - 1
            read += passed >> 8
            leaf = leaf_of[passed & 255]
        else:
            read += passed
            if read >= limit or not next_entry():
                break
        if stop_usec is not None and realtime() >= stop_usec and at_stop():
            break
        read += 1
        try:
            raw = get("MESSAGE")
        except KeyError:
            continue  # no message, nothing to match; still moves the cursor
        if not leaf:
            if not (raw and firsts[raw[0]]) or (start := starting(raw)) is None:
                continue  # starts with neither a session prefix nor a failure's start
            # Its start (the match's text, ``start[0]``: a subscript, not ``raw[: start.end()]``'s
            # method call and slice)
            leaf = leaves[start[0]]
        # a failure's, matched by the regexes such a start may match
        match = matchers[leaf]
        key = None
        if match is None:
            match = whole
            # A teaching line may turn teaching on: every session line matters after it.
            firsts, starting = route.firsts, route.match
            if skip is not None and (passing := route.passing(False)) is not None:
                table, starts, leaf_of = passing
            wanted, key = check_session(raw, get, field)
            if not wanted:
                continue  # only a session's line, and no such session is held
        try:
            text = raw.decode()
        except UnicodeDecodeError:
            text = raw.decode("utf-8", "replace")
            unreadable += 1
        m = match(text)
        if m is None and key is None:
            continue  # no failure, nothing for the session table: no time needed
        when = realtime() / 1e6  # the entry's own time (journalbatch says why)
        if m is not None:
            plan = plans[m.lastgroup]  # type: ignore[index]
            if plan is None:
                if (hit := hit_of(m, text, when)) is not None:
                    found.append(hit)
            else:
                host_group, user_group, mark = plan
                # m[name] is m.group(name) without a method's call: about 250 instructions
                # less a group (sshd-flood: -0.8% of the child's, jchild's section)
                if host := m[host_group]:
                    user = m[user_group] if user_group is not None else None
                    found.append((text, host, when, user, mark))
        if key is not None:
            messages.append(text)
            times.append(when)
            keys.append(key)
    return read, unreadable, found, messages, times, keys
