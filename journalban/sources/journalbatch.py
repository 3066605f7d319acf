"""One batch of the journal reader child: the loop over its entries (``Follower.read_batch``).

Per entry the jail's matches select: ``_next()``, ``MESSAGE``, the literal
prefilter (and a jail's session gate), or, where a message's start tells a
candidate, the route of starts (``journalroute``: no scan, and session lines
skipped while the gate is ``quiet``; its own loop, ``journalrouted``); per candidate its text and, for what
is handed on, the entry's time.

**A line's time is the entry's own** (``_get_realtime()``, sd_journal_get_realtime_usec:
read from the entry object, no walk of its fields), the time journald received it: the
clock the journal is ordered by and the agent seeks by (``seek_realtime``). Until
2026-12 it was ``_SOURCE_REALTIME_TIMESTAMP``, which cost a second walk of the entry's
fields in libsystemd a hit (about 14k instructions, half of what this child added above
sd-journal's own read on sshd). The two differ by journald's delay, normally under a
millisecond. Neither can be set by a sender: journald drops fields starting with ``_``
from its clients, writes ``_SOURCE_REALTIME_TIMESTAMP`` from the kernel's receive
timestamp of the datagram (not the syslog header's date, which it only skips) and
``__REALTIME_TIMESTAMP`` (the entry header) from its own clock as it processes the
message (its event loop's time), in the order it receives. As the attacker:

- a remote client controls only the text sshd logs, so neither time;
- a syslog date in the message changes neither;
- a backlog (journald behind a flood, or stopped while senders queue) makes the
  receive time later than the source time by the backlog. A queue that drains brings
  lines closer together (a sender's failures count sooner, not later); one that grows
  stretches the lines sent meanwhile by its growth, which the kernel's socket queue
  (a full one blocks the sender, sshd too) and journald's per-unit rate limits keep
  short (normally seconds), far below any findtime. A later time never starts a ban
  earlier nor ends it sooner, and the order is kept;
- journal-remote keeps a forwarded entry's ``__REALTIME_TIMESTAMP`` as the sending
  host's journald wrote it, like its ``_SOURCE_REALTIME_TIMESTAMP``: the sending host
  is trusted for both or for neither.

``journalban regex`` on the journal reads the same time (``cli.regexinput``), so the two
agree.

A finder that matches one message at a time (its ``match_one``: a regex's
``match`` and what makes a hit of a match, ``LineMatcher.message_hit``) is
asked while the reader stands on the entry, so
that the time is read only for a message it finds, or one its session table
needs (a session key); its batch call (``with_hits``) then gets the
failures found so and those messages, and adds what the session table
finds. The frame holds the same hits, in the same order, as the batch call
on every candidate: the failures in the order of their entries, then the
session table's.
"""

from __future__ import annotations

from collections import defaultdict
from typing import TYPE_CHECKING

from journalban.sources.journalrouted import read_routed
from journalban.sources.journalwire import Frame

if TYPE_CHECKING:
    from journalban.sources.journalworker import Follower

# (line, address text, time, account, mark): a failure found while reading
Found = tuple[str, str, float | None, str | None, int]
# The entries of a reader's first batch at most; each next batch reads twice as many, up
# to ``Request.batch_size``. The agent waits for the first frame with nothing to decide:
# at 5,000 entries (10-13 ms of sshd's reading, before any other) one core stood idle.
FIRST_ENTRIES = 500


def read_batch(follower: Follower) -> Frame | None:
    """Up to ``follower.limit`` entries from where the reader stands (the next batch: up to
    twice as many, ``batch_size`` at most); None when it had none."""
    if follower.find_hits is None and follower.make_finder is not None:
        follower.ensure_finder()
    follower.finder_used = True
    find_hits = follower.find_hits
    messages: list[str] = []
    times: list[float] = []
    found: list[Found] = []
    unreadable = read = 0
    reader = follower.reader
    next_entry, get, realtime = reader._next, reader._get, reader._get_realtime
    search = follower.scan.search if follower.scan is not None else None
    look = follower.first_look
    if look is not None:
        table, first = look
    limit = follower.limit
    session_field = follower.request.session_field
    keys: list[str | None] = []
    gate, field = follower.gate, session_field or ""
    split = route = None
    if gate is not None:
        gate.new_batch()
        split = follower.split
        if split is not None:
            prefixes, failure, route = split
            check_session = gate.check_session
    one = getattr(find_hits, "match_one", None)
    if session_field is not None and gate is None:
        one = None  # every candidate's key goes to the finder's table
    match = hit_of = None
    if one is not None:
        match, hit_of = one
    exact = search
    if look is not None and match is not None and session_field is None:
        # After the first look the exact scan would spare its few false finds a decode and
        # a match, and cost every candidate a second scan (dovecot's: 2% of the child's
        # instructions): the match decides (a failregex match holds a literal).
        search = None
    # Messages the session table takes whatever their key: a table keyed by its
    # messages' own session ids takes keyless lines too.
    every = gate is not None and bool(getattr(find_hits, "feeds_keyless", True))
    stop_usec = follower.stop_usec
    if (
        route is not None
        and gate is not None
        and match is not None
        and hit_of is not None
        and not every
    ):
        # Candidates told by their start alone (journalrouted); else a candidate not
        # starting as a failure may still be one.
        plans = getattr(find_hits, "hit_plans", None) or defaultdict(type(None))
        read, unreadable, found, messages, times, keys = read_routed(
            reader, route, gate, match, hit_of, plans, limit, field, follower.at_stop, stop_usec
        )
        limit = 0  # nothing more to read below
    key: str | None = None  # stays None without a gate
    # The native reader (journalnative) steps over the entries holding none of the
    # prefilter's literals in C, onto the next one that holds one (``_scan``, journalskip):
    # the loop below sees only those (it would pass over the others at its scan), and
    # those the C is not sure of.
    skip = None if split is not None else getattr(reader, "_scan", None)
    literals = follower.scan_literals
    if literals is None:
        skip = None
    else:
        pivots, held, at = literals
        stop = -1 if stop_usec is None else stop_usec
    told = False  # the C told that the entry stood on holds a literal: no scan asks again
    while read < limit:
        if skip is None:
            if not next_entry():
                break
        elif (passed := skip(limit - read, pivots, held, at, stop)) < 0:
            read += (-passed - 1) >> 8  # passed over some, standing on one holding a literal
            told = True
        else:
            told = False
            read += passed
            if not passed and not getattr(reader, "native", False):
                skip = None  # handed over to libsystemd: _scan does nothing any more
            if read >= limit or not next_entry():
                break
        if stop_usec is not None and realtime() >= stop_usec and follower.at_stop():
            break
        read += 1
        try:
            raw = get("MESSAGE")
        except KeyError:
            continue  # no message, nothing to match; still moves the cursor
        if split is not None:
            if raw.startswith(prefixes):
                wanted, key = check_session(raw, get, field)
                if not wanted:
                    continue  # only a session's line, and no such session is held
            elif failure(raw) is None:
                continue  # neither a session line nor a failure literal
            else:
                key = None
        else:
            if told:
                pass  # holds a literal: _scan found one, no scan asks again
            elif look is not None and first(raw.translate(table)) is None:
                continue  # holds no literal (the first look is sure of that)
            elif search is not None and search(raw) is None:
                continue  # holds no literal: no failregex can match it
            if gate is not None:
                wanted, key = gate.check(raw, get, field)
                if not wanted:
                    continue  # only a session's line, and no such session is held
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError:
            if exact is not None and exact(raw) is None:
                continue  # no candidate: not one that was unreadable
            text = raw.decode("utf-8", "replace")
            unreadable += 1
        if match is not None:
            m = match(text)
            if m is None and key is None and not every:
                continue  # no failure, nothing for the session table: no time needed
        when = realtime() / 1e6
        if hit_of is not None:
            if m is not None and (hit := hit_of(m, text, when)) is not None:
                found.append(hit)
            if key is None and not every:
                continue
        messages.append(text)
        times.append(when)
        if gate is not None:
            keys.append(key)
        elif session_field is not None:
            try:
                keys.append(get(session_field).decode("ascii", "replace"))
            except KeyError:
                keys.append(None)
    if not read:
        return None  # (a file's entries lost meanwhile: counted in the next frame)
    if follower.lost:  # entries of a file found shrunk while read (journalnative)
        unreadable, follower.lost = unreadable + follower.lost, 0
    follower.limit = min(follower.request.batch_size, 2 * follower.limit)
    follower.cursor = reader._get_cursor()
    follower.read_since_open += read
    cursor, invalidations = follower.cursor, follower.invalidations
    if find_hits is None:
        return Frame(cursor, read, unreadable, invalidations, messages, times)
    if one is not None:
        hits, sessions = find_hits.with_hits(found, messages, times, keys)  # type: ignore[attr-defined]
    else:
        hits, sessions = find_hits(messages, times, keys)
    return Frame(
        cursor, read, unreadable, invalidations, hits=hits, sessions=sessions or None
    )  # fmt: skip
