"""Failures without an address, correlated with the address their session learned.

Some failures name no address (sshd's "Disconnecting: Too many
authentication failures" without "from", PAM lines with an empty rhost). A
filter's ``sessions`` section marks which lines teach a session its address
(sshd at LogLevel VERBOSE: "Connection from ADDRESS port ..."), which count
as a failure of that address, which are an accepted login of that address
(``success``, with a ``user`` group: a known-good pair, as a successregex
gives) and which end the session:

    sessions:
      teach: ['^Connection from <ADDR> port \\d+ on \\S+ port \\d+']
      count: ['^Disconnecting: Too many authentication failures(?: \\[preauth\\])?$']
      end: ['^Connection closed by ', '^Disconnected from ']

The session is the journal's ``_PID`` of the entry (sshd handles each
connection in a process of its own; journald records the pid and a client
cannot forge it), never a field shared by every connection of a unit. The
table is bounded (``MAX_SESSIONS``, least recently used forgotten first),
forgets a session ``SESSION_TTL`` after it was taught, and its changes are
committed with the batch position (``changes``), so it survives a restart.
"""

from __future__ import annotations

import json
import math
import re
from collections import OrderedDict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from journalban.addresses import parse_address
from journalban.config.yamlsource import Marks
from journalban.errors import FilterError
from journalban.events import FAILURE, SUCCESS, Hit, JoinedLines
from journalban.matching.latecounts import MAX_LATE, LateCounts
from journalban.matching.literals import leading_literals, mode_literals
from journalban.matching.sessionlines import session_lines
from journalban.matching.tags import compile_failregex, compile_plain

MAX_SESSIONS = 10_000
SESSION_TTL = 3600.0
KINDS = ("teach", "count", "end", "success")


@dataclass(frozen=True)
class SessionRules:
    """A filter's session lines: those that teach a session's address, count a failure for
    it, end it, or are its accepted login."""

    teach: tuple[re.Pattern[str], ...]
    count: tuple[re.Pattern[str], ...]
    end: tuple[re.Pattern[str], ...]
    success: tuple[re.Pattern[str], ...] = ()
    late: float = 0.0  # seconds a count may wait for its session's teach line (latecounts)

    @property
    def literals(self) -> tuple[str, ...] | None:
        """Literals one of which every session line holds (for the readers' prefilter);
        None when a regex has none (then no prefilter may drop lines)."""
        found = mode_literals([*self.teach, *self.count, *self.end, *self.success], ())
        return None if found is None else tuple(found)


def parse_sessions(value: Any, marks: Marks) -> SessionRules | None:
    """A filter's ``sessions`` section. Raises: FilterError with file and line."""
    if value is None:
        return None
    if not isinstance(value, Mapping) or set(value) - {*KINDS, "late"}:
        raise FilterError(
            f"sessions: a mapping of {', '.join(KINDS)} to lists of regexes (and late:)",
            *marks.locate(("sessions",)),
        )
    compiled: dict[str, tuple[re.Pattern[str], ...]] = {}
    for kind in KINDS:
        items = value.get(kind) or []
        if isinstance(items, str):
            items = [items]
        out = []
        for i, pattern in enumerate(items):
            where = marks.locate(("sessions", kind, i))
            if not isinstance(pattern, str):
                raise FilterError(f"sessions.{kind}: regexes are strings", *where)
            out.append(
                compile_failregex(pattern, *where)
                if kind == "teach"
                else compile_plain(pattern, *where)
            )
        compiled[kind] = tuple(out)
    if not compiled["teach"] or not compiled["count"]:
        raise FilterError("sessions: needs teach and count regexes", *marks.locate(("sessions",)))
    for i, regex in enumerate(compiled["success"]):
        if "user" not in regex.groupindex:
            raise FilterError(
                "sessions.success: a regex needs a (?P<user>...) group (the account)",
                *marks.locate(("sessions", "success", i)),
            )
    late = _late(value.get("late"), compiled["count"], marks)
    return SessionRules(
        compiled["teach"], compiled["count"], compiled["end"], compiled["success"], late
    )


def _late(value: Any, count: tuple[re.Pattern[str], ...], marks: Marks) -> float:
    """``late: SECONDS`` (matching.latecounts): only for sessions the daemon numbers."""
    if value is None:
        return 0.0
    where = marks.locate(("sessions", "late"))
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0 < value <= MAX_LATE:
        raise FilterError(f"sessions.late: seconds, more than 0 and at most {MAX_LATE:g}", *where)
    if not all("session" in regex.groupindex for regex in count):
        raise FilterError(
            "sessions.late: every count regex needs a (?P<session>...) group (a number the "
            "daemon never reuses; a pid is reused, so a count could wait for another client)",
            *where,
        )
    return float(value)


class SessionTable:
    """Sessions by key (a pid): the address each learned, bounded and expiring."""

    def __init__(
        self, rules: SessionRules, max_sessions: int = MAX_SESSIONS, ttl: float = SESSION_TTL
    ) -> None:
        self.rules = rules
        self.max_sessions = max_sessions
        self.ttl = ttl
        self._sessions: OrderedDict[str, tuple[str, float]] = OrderedDict()
        self._dirty: set[str] = set()
        self._late = LateCounts(rules.late) if rules.late else None
        self._released: list[Hit] = []
        # A count or end regex keying sessions by its own group: any held session may match.
        self._keyed_by_message = any(
            "session" in regex.groupindex for regex in (*rules.count, *rules.end)
        )
        teach = mode_literals(list(rules.teach), ())
        self._teach_literals = None if teach is None else tuple(teach)
        self._teach_marks = _syslog_marks(rules.teach, self._teach_literals)

    def __len__(self) -> int:
        return len(self._sessions)

    def may_use(self, message: str, key: str | None) -> bool:
        """False when ``feed(message, key, ...)`` would change nothing and find nothing:
        it cannot teach (it holds no teach literal) and no session it could count or
        end is held. Lets a reader skip the line's time and the regexes; most such
        lines end sessions nobody taught ("Connection closed by ..." without VERBOSE)."""
        sessions = self._sessions
        if self._late is not None or (sessions and (self._keyed_by_message or key in sessions)):
            return True
        teach = self._teach_literals
        if teach is not None and not any(literal in message for literal in teach):
            return False
        # Nothing held: only a line a teach regex matches can change the table (a count
        # or success line finds no session, an end line none to end).
        return any(regex.match(message) is not None for regex in self.rules.teach)

    @property
    def idle(self) -> bool:
        """True while no line but a teaching one can change the table or find anything:
        no session is held and no count waits (``late``)."""
        return self._late is None and not self._sessions

    @property
    def teach_literals(self) -> tuple[str, ...] | None:
        """Literals one of which every teaching line holds (None: the regexes have none)."""
        return self._teach_literals

    @property
    def teach_marks(self) -> tuple[str, ...] | None:
        """Strings one of which every syslog line (``ident[pid]: message``, as
        ``file_session_hits`` reads them) that can teach holds; None: no such strings.

        A teach regex matches at the message's start, which follows the line's
        first tag, whose end is ``]: ``: where every teach regex starts with one of a
        few strings, a teaching line holds ``]: `` and one of them. sshd's
        ``]: Connection from`` is in no line of the benchmark corpora, where
        ``Connection from `` is in every ``banner exchange:`` line (sshd, authlog-
        mixed), and a pass for it costs 10% less (a common last character, the
        blank, stops ``str.find`` at every word).
        """
        return self._teach_marks

    def idle_for(self, text: str) -> bool:
        """True when no line of the syslog ``text`` can change the table or find anything:
        it is ``idle`` and no line can teach (the text holds no ``teach_marks``)."""
        teach = self._teach_marks
        if not self.idle or teach is None:
            return False
        return not any(mark in text for mark in teach)

    @property
    def keyed_by_message(self) -> bool:
        """True when a count or end regex names its session itself (a keyless line may count)."""
        return self._keyed_by_message

    def holds_any(self, key: str | None) -> bool:
        """True when a count or end line of session ``key`` could matter."""
        if self._late is not None:
            return True  # a count may wait for its teach line
        return bool(self._sessions) and (self._keyed_by_message or key in self._sessions)

    def feed(self, message: str, key: str | None, when: float) -> Hit | None:
        """A failure of the session's address when ``message`` counts, an
        accepted login (marked SUCCESS) when it is a success line; else None.

        A regex's ``(?P<session>...)`` group, when it matched, is the session
        key (a daemon's own id, such as a queue id) instead of ``key``.
        """
        for regex in self.rules.count:
            m = regex.match(message)
            if m is not None:
                key = _key(m, key)
                if key is None:
                    return None
                found = self._sessions.get(key)
                if found is None and self._late is not None and m.groupdict().get("session"):
                    self._late.hold(key, message, when, m.groupdict().get("user"))
                if found is None or when - found[1] > self.ttl:
                    return None
                return (message, found[0], when, m.groupdict().get("user"), FAILURE)
        for regex in self.rules.success:
            m = regex.match(message)
            if m is not None:
                key, user = _key(m, key), m.group("user")
                found = None if key is None else self._sessions.get(key)
                if not user or found is None or when - found[1] > self.ttl:
                    return None
                return (message, found[0], when, user, SUCCESS)
        for regex in self.rules.teach:
            m = regex.match(message)
            if m is not None:
                key = _key(m, key)
                if key is not None and parse_address(m.group("host")) is not None:
                    self._teach(key, m.group("host"), when)
                    if self._late is not None:
                        self._released += self._late.release(key, m.group("host"), when)
                return None
        for regex in self.rules.end:
            m = regex.match(message)
            if m is not None:
                key = _key(m, key)
                if key is not None and self._sessions.pop(key, None) is not None:
                    self._dirty.add(key)
                return None
        return None

    def released(self) -> list[Hit]:
        """The failures that waited for a teach line fed since the last call (``late``)."""
        out, self._released = self._released, []
        return out

    def _teach(self, key: str, address: str, when: float) -> None:
        sessions = self._sessions
        if key in sessions:
            sessions.move_to_end(key)
        else:
            while len(sessions) >= self.max_sessions:
                gone, _ = sessions.popitem(last=False)
                self._dirty.add(gone)
            # The oldest are also the first to expire: forget those on the way.
            while sessions:
                first, (_, taught) = next(iter(sessions.items()))
                if when - taught <= self.ttl:
                    break
                del sessions[first]
                self._dirty.add(first)
        sessions[key] = (address, when)
        self._dirty.add(key)

    def changes(self) -> list[tuple[str, str | None]]:
        """(key, JSON [address, time] or None) of the sessions changed since the last call."""
        rows = []
        for key in self._dirty:
            found = self._sessions.get(key)
            rows.append((key, None if found is None else json.dumps(list(found))))
        self._dirty.clear()
        return rows

    def restore(self, rows: Iterable[tuple[str, str]], now: float) -> None:
        """Rebuild from stored rows (the agent hands only those ``session_value`` reads).

        A session is kept while within ``ttl`` of the newest stored (at most ``now``), the
        newest ``max_sessions`` of them, oldest first: a restart reads on from where it
        stopped, and the lines there are as old as that session, however long ago by the
        clock (a restart in a backlog forgot every session the lines read next counted on).
        """
        found = sorted((when, key, address) for key, (address, when) in
                       ((key, session_value(value)) for key, value in rows))  # fmt: skip
        if not found:
            return
        since = min(now, found[-1][0]) - self.ttl
        for when, key, address in found[-self.max_sessions :]:
            if when >= since:
                self._sessions[key] = (address, when)


def session_value(value: str) -> tuple[str, float]:
    """A stored session's (address, time), as ``changes`` wrote them: the JSON of an
    address a session line taught and a finite time.

    Raises:
        ValueError: not JSON, or not such a pair (a row damaged by hand or by a disk: the
            agent skips it and counts it, state.detection.readable_rows).
    """
    found = json.loads(value)
    if type(found) is list and len(found) == 2:
        address, when = found
        if (
            type(address) is str
            and type(when) in (float, int)
            and math.isfinite(when)
            and parse_address(address) is not None
        ):
            return address, float(when)
    raise ValueError(f"not a session's address and time: {value!r:.80}")


def _key(m: re.Match[str], key: str | None) -> str | None:
    """The session key: the regex's ``session`` group if it captured one (as ``id:...``)."""
    own = m.groupdict().get("session")
    return key if not own else "id:" + own[:128]


# A syslog line's tag: the daemon's ident and its process id ("sshd[1601]: ").
SYSLOG_TAG = re.compile(r"(?P<ident>[\w./-]+)\[(?P<pid>\d+)\]: ")
# How SYSLOG_TAG ends: a message starts right after it.
TAG_END = "]: "


def _syslog_marks(
    teach: Sequence[re.Pattern[str]], literals: tuple[str, ...] | None
) -> tuple[str, ...] | None:
    """``SessionTable.teach_marks``: ``TAG_END`` and each start the teach regexes' matches
    begin with (its trailing blanks left off) where each such mark holds a teach
    literal (it is as rare: sshd's, not slapd's ``]: conn=``), else the teach literals
    without their outer blanks (a line holding a literal holds it stripped)."""
    if literals is None:
        return None
    bare = tuple(sorted({literal.strip() or literal for literal in literals}))
    starts = leading_literals(teach)
    if starts is None:
        return bare
    marks = tuple(sorted({TAG_END + start.rstrip() for start in starts}))
    if not all(any(literal in mark for literal in bare) for mark in marks):
        return bare
    return marks


def file_session_hits(
    table: SessionTable,
    lines: Sequence[str],
    line_time: Callable[[str], float | None],
    ident_refused: Callable[[str], bool],
    now: float,
) -> list[Hit]:
    """Correlated failures among syslog lines; the session is the line's ident and pid.

    Only lines holding a session regex's literal are looked at (all of them
    when the regexes have none).
    """
    literals = table.rules.literals
    text = lines.text if isinstance(lines, JoinedLines) else "\n".join(lines)
    if literals is None:
        if table.idle_for(text):
            return []
        candidates: Iterable[str] = text.split("\n")
    else:
        candidates = session_lines(table, text, literals)
    out: list[Hit] = []
    for line in candidates:
        tag = SYSLOG_TAG.search(line)
        if tag is None or ident_refused(tag.group("ident")):
            continue
        key = f"{tag.group('ident')}[{tag.group('pid')}]"
        message = line[tag.end() :]
        if not table.may_use(message, key):
            continue
        when = line_time(line)
        hit = table.feed(message, key, now if when is None else when)
        if hit is not None:
            out.append((line, hit[1], hit[2], hit[3], hit[4]))
        out += table.released()
    return out
