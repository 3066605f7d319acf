"""The deciding's per-failure loop (``DecisionEngine.process_hits``), in C and in Python.

``count_hits`` walks a batch's hits: each address text's (network, reason) from the
memos (``JailRuntime.network_of`` on a miss), the ignored ones counted aside, accepted
logins handed to the detectors, failures of a network banned (or virtually banned: a ban
skipped while catching up) at their time passed over, the others counted (a network's
first failure with room after its verdicts: ``JailRuntime.first_room``), each ban decided
(``BanDeciding._decide_ban``) and the networks it spent noted in ``spent``. What is rare or
large (tracing, logins, the detectors, the verdicts' applier, a ban) is called back in
Python. ``journalban.decisions._hitloop`` does the same steps on the same objects, in the
same order, without a bytecode of its own a failure (and the common steps of
``FailureCounter.add`` and ``RecentLines.add``: a first failure or one more in order, a
first line with room; their methods for the others, or where they are not these); where it is not built, or with
JOURNALBAN_NATIVE_HITS=0, the Python function is used (``use`` switches).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any

from journalban.decisions import trace
from journalban.decisions.recentlines import LINE_CHARS, RecentLines
from journalban.events import Ban, Hit
from journalban.jails.counter import FailureCounter

if TYPE_CHECKING:
    from journalban.decisions.runtime import Changes, JailRuntime
    from journalban.state.store import BatchCommit

ENV = "JOURNALBAN_NATIVE_HITS"

# (engine, rt, jail, source, hits, commit, changes, now, default_time, banned, virtual,
#  apply, traced, spent) -> (failures counted, the latest line's time)
CountHits = Callable[..., tuple[int, float]]


def count_hits_python(
    engine: Any,
    rt: JailRuntime,
    jail: str,
    source: str,
    hits: Iterable[Hit],
    commit: BatchCommit,
    changes: Changes,
    now: float,
    default_time: float,
    banned: dict[str, Ban],
    virtual: dict[str, tuple[float, float]],
    apply: Callable[..., list[str]],
    traced: bool,
    spent: dict[str, int],
) -> tuple[int, float]:
    """The Python path (``_hitloop.count_hits`` the C one): failures counted, latest time."""
    maxretry = rt.config.maxretry
    # network_of's two memos first, each one lookup in C (IPv4 texts, then IPv6 and junk)
    network_of, hosts, networks = rt.network_of, rt.ignore.hosts, rt.networks
    add, new_failures, recent = rt.counter.add, commit.new_failures, rt.recent_lines
    room, times, kept = rt.first_room(), rt.counter.times, recent.kept
    latest, detecting = rt.latest_line, rt.detection
    failed = 0
    for line, host, when, user, mark in hits:
        # (an IPv4 text's first sight: ``hosts``' own miss, no frame of network_of)
        known = hosts.get(host) or networks.get(host) or hosts[host] or network_of(host)
        if known is None:
            continue
        key, ignored = known
        if ignored is not None:
            if not mark:
                rt.ignored_failures += 1
                if traced:
                    trace.ignored(jail, host, ignored)
            continue
        when = default_time if when is None else now if now < when else when  # (min())
        if mark:  # an accepted login (after the crowd's verdicts if it waits: decisions.crowd)
            if detecting is not None and not detecting.succeeded(key, user, when):
                engine._logged_in(rt, (key, user, when), commit, changes, now, source)
            continue
        if when > latest:
            latest = when
        ban = banned.get(key)
        if (
            ban is not None
            and ban.banned_at <= when
            and (ban.expires_at is None or when < ban.expires_at)
        ):
            continue
        if virtual and (span := virtual.get(key)) is not None and span[0] <= when < span[1]:
            continue  # (BanDeciding._virtually_banned, inline)
        failed += 1
        # A network's first failure with room (JailRuntime.first_room) is counted after
        # its verdicts: not at all if they ban it (most of a flood's failures).
        first = room > 0 and key not in times and key not in kept
        if first:
            count = 1
        else:
            room, count = room - 1, add(key, when)
            new_failures.append((key, when))
            recent.add(key, line)
        if traced:
            trace.found(jail, host, count, maxretry)
        if detecting is not None and (verdicts := detecting.observe_apart(key, user, when)):
            recent.held = (key, line) if first else None
            by_detector = apply(rt, verdicts, when, source, commit, changes, now, banned, virtual)
            for network in by_detector:
                spent[network] = len(new_failures)
            if key in by_detector:
                continue  # banned (its count spent) by a detector
            recent.held = None
        if first:
            room, count = room - 1, add(key, when)
            new_failures.append((key, when))
            recent.add(key, line)
        if count >= maxretry:
            engine._decide_ban(rt, key, when, count, source, commit, changes, now)
            spent[key] = len(new_failures)
    return failed, latest


def _native() -> CountHits | None:
    """The C ``count_hits``, set up; None where it is not to be used."""
    if os.environ.get(ENV, "1") == "0":
        return None
    try:
        from journalban.decisions import _hitloop
    except ImportError:
        return None
    _hitloop.setup(trace, count_hits_python, FailureCounter.add, RecentLines.add, LINE_CHARS)
    return _hitloop.count_hits


NATIVE: CountHits | None = _native()
# What ``DecisionEngine.process_hits`` calls (read at each call: tests switch it with ``use``).
count_hits: CountHits = count_hits_python if NATIVE is None else NATIVE


def use(native: bool) -> bool:
    """Count hits in C (if built) or in Python; whether C is in use."""
    global count_hits
    count_hits = NATIVE if native and NATIVE is not None else count_hits_python
    return count_hits is not count_hits_python
