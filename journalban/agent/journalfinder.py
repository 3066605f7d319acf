"""The jail's finder of failures inside the journal reader child (``agent.journalreader``).

Imported by the child only when it needs the finder (``journalreader.finder``):
the child's own start-up then imports only the standard library and
systemd-python.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from journalban.clock import SystemClock
from journalban.events import Hit, LineBatch
from journalban.matching.compiled import journal_prefilter
from journalban.matching.engine import LineMatcher
from journalban.matching.guards import KEEP_RATIO, TRIAL, literal_guard
from journalban.matching.literals import leading_literals, mode_literals
from journalban.matching.sessions import SessionTable
from journalban.matching.spec import MatcherSpec, unpickle_filter
from journalban.matching.starts import start_classes
from journalban.sources import journalwire
from journalban.sources.journalroute import Route, StartClass, guard_ahead
from journalban.sources.literalscan import literal_scan


class Gate:
    """Which candidates a jail with sessions hands to its table (``journalwire.SessionGate``).

    A message holding a session literal but no failure literal is a count or
    end line unless it teaches (a teach regex matches it): it matters only to a
    session the table holds, so without one the child skips it before reading
    its time and key (most sshd lines of that kind close connections nobody
    taught). A teach line in the batch turns skipping off until the next
    batch, as the table learns it only when the batch is matched.

    Every session regex is tried with ``match``, at the message's start: when
    each starts with literals (``prefixes``: sshd's ``Connection closed by ``...),
    a message is a session line only if it starts with one, which
    ``bytes.startswith`` tells at the cost of a call; a message holding a
    session literal further on cannot change the table, and is handed out
    (without a key) or not as its failure literals say. A reader then scans
    a message for the failure literals only when it is not a session line
    (``failure_literals``, ``check_session``).
    """

    def __init__(self, table: SessionTable, failure_literals: Sequence[str]) -> None:
        self.table = table
        rules = table.rules
        self.failure_literals = tuple(failure_literals)
        failure = literal_scan(failure_literals) if failure_literals else None
        session = rules.literals
        teach = mode_literals(list(rules.teach), ())
        self._failure = None if failure is None else failure.search
        self._session = None if not session else _search(literal_scan(session))
        self._teach = None if not teach else _search(literal_scan(teach))
        self._teaching = False
        # The finder's failure starts (use_starts): tested instead of the failure literals.
        self._starts: tuple[bytes, ...] | None = None
        self._overlap = True  # a session line may start with one of them
        # The session and teaching regexes' starts (None: a regex may start otherwise).
        self.prefixes: tuple[bytes, ...] | None = None
        self.teach_prefixes: tuple[bytes, ...] = ()  # the teaching regexes' starts
        starts = leading_literals([*rules.teach, *rules.count, *rules.end, *rules.success])
        teach_starts = leading_literals(rules.teach)
        if (
            self._failure is not None
            and self._session is not None
            and self._teach is not None
            and starts
            and teach_starts
            and all(s.isascii() for s in (*starts, *teach_starts))
        ):
            self.prefixes = tuple(s.encode() for s in starts)
            self.teach_prefixes = tuple(s.encode() for s in teach_starts)

    def _teaches(self, raw: bytes) -> bool:
        # The literal is found anywhere ("banner exchange: Connection from ..."); the
        # regexes say whether the line teaches.
        text = raw.decode("utf-8", "replace")
        return any(regex.match(text) is not None for regex in self.table.rules.teach)

    def new_batch(self) -> None:
        self._teaching = False

    def use_starts(self, starts: tuple[bytes, ...]) -> None:
        """Failures are found only by ``match`` of regexes every match of which starts with
        one of ``starts`` (``JailFinder.starts``): a line starting with none cannot fail,
        whatever failure literal it holds further on."""
        self._starts = starts
        prefixes = self.prefixes
        self._overlap = prefixes is None or any(
            s.startswith(p) or p.startswith(s) for s in starts for p in prefixes
        )

    def quiet(self) -> bool:
        """Whether, until a line starting with one of ``teach_prefixes`` is checked, every
        other session line is of no use (``check_session`` would say so): the table holds
        no session and no count waits, and no session line can fail (``use_starts``)."""
        return self._starts is not None and not self._overlap and self.table.idle

    def check(self, raw: bytes, get: Callable[[str], bytes], field: str) -> tuple[bool, str | None]:
        if self.prefixes is not None:
            if not raw.startswith(self.prefixes):
                return True, None  # no session regex can match it
            return self.check_session(raw, get, field)
        if self._session is None or self._teach is None or self._failure is None:
            return True, _key(get, field)  # a regex without literals: no telling
        if self._session(raw) is None:
            return True, None  # no session regex can match it
        if self._teach(raw) is not None and self._teaches(raw):
            self._teaching = True
            return True, _key(get, field)
        return self._counts(raw, get, field)

    def check_session(
        self, raw: bytes, get: Callable[[str], bytes], field: str
    ) -> tuple[bool, str | None]:
        """``check`` of a message starting with one of ``prefixes`` (set: not None)."""
        if raw.startswith(self.teach_prefixes) and self._teaches(raw):
            self._teaching = True
            return True, _key(get, field)
        return self._counts(raw, get, field, self._overlap)

    def _counts(
        self, raw: bytes, get: Callable[[str], bytes], field: str, may_fail: bool = True
    ) -> tuple[bool, str | None]:
        """``check`` of a session message that does not teach: wanted when the batch
        teaches, it may fail or count later, or the table holds its session.
        ``may_fail`` False: it starts with none of the failure starts (``use_starts``)."""
        if self._teaching:
            return True, _key(get, field)
        starts = self._starts
        if starts is not None:
            if may_fail and raw.startswith(starts):
                return True, _key(get, field)
        elif (failure := self._failure) is not None and failure(raw) is not None:
            return True, _key(get, field)
        if self.table.rules.late:
            return True, _key(get, field)  # a count may wait for its teach line
        if not len(self.table):
            return False, None
        key = _key(get, field)
        return self.table.holds_any(key), key

    def learn(
        self, raw: bytes, get: Callable[[str], bytes], field: str, when: Callable[[], float]
    ) -> None:
        table = self.table
        if self.prefixes is not None:
            if not raw.startswith(self.prefixes):
                return  # no session regex can match it
            if table.idle and not raw.startswith(self.teach_prefixes):
                return  # no session held, no count waiting, and it teaches none
        elif self._session is not None and self._session(raw) is None:
            return  # no session regex can match it: the finder feeds no such line either
        key = _key(get, field)
        if key is None and not table.keyed_by_message:
            return
        table.feed(raw.decode("utf-8", "replace"), key, when())
        table.released()
        table.changes()


def _key(get: Callable[[str], bytes], field: str) -> str | None:
    try:
        return get(field).decode("ascii", "replace")
    except KeyError:
        return None


def _search(scan: re.Pattern[bytes] | None) -> Callable[[bytes], re.Match[bytes] | None] | None:
    return None if scan is None else scan.search


class ClassMatch:
    """The match of a class of failure starts (``CompiledFilter.alternation_of`` its regexes,
    or ``whole`` where that does not compile), compiled at its first message: sshd's 14
    classes cost 5.7 ms of the child's start, and its corpora start 4-6 of them (a held
    child compiles them all before the agent's GO: ``JailFinder.prepare``). Once
    compiled it is put in the route's slots it was bound to (``journalroute``), which then
    call it directly.

    A class with a ``guard`` (strings one of which every message it matches holds beyond
    its start) stays in the slots for its first ``TRIAL`` messages, counting those holding
    none; where at least one in ``KEEP_RATIO`` did (the file path's rule, ``Guards``), the
    routes it watches guard its starts (``Route.guard``): such messages are skipped there."""

    def __init__(
        self,
        compiled: Any,
        regexes: int,
        whole: Callable[[str], Any],
        guard: tuple[str, ...] | None = None,
        starts: tuple[bytes, ...] = (),
    ) -> None:
        self._compiled, self._regexes, self._whole = compiled, regexes, whole
        self._match: Callable[[str], Any] | None = None
        self._slots: list[tuple[list[Any], int]] = []
        self._routes: list[Route] = []
        self.guard, self.starts = guard, starts
        self._tried = self._told = 0  # messages of the guard's trial, those holding none
        self._kept: tuple[bytes, ...] | None = None  # the guard, once its trial kept it

    def bind(self, table: list[Any], index: int) -> None:
        self._slots.append((table, index))

    def watch(self, route: Route) -> None:
        self._routes.append(route)
        if self._kept is not None:
            route.guard(self.starts, self._kept)

    def __call__(self, text: str) -> Any:
        match = self._match or self.compile()
        if self.guard is not None:
            self._try_guard(self.guard, text)
        return match(text)

    def compile(self) -> Callable[[str], Any]:
        """The class's match, compiled if not yet (put in its slots unless a guard's trial
        is still to run)."""
        match = self._match
        if match is None:
            alternation = self._compiled.alternation_of(self._regexes)
            match = self._match = self._whole if alternation is None else alternation.match
            if self.guard is None:
                self._settle()
        return match

    def _try_guard(self, strings: tuple[str, ...], text: str) -> None:
        self._tried += 1
        if not any(s in text for s in strings):
            self._told += 1
        if self._tried < TRIAL:
            return
        if self._told * KEEP_RATIO >= self._tried:
            self._kept = tuple(s.encode() for s in strings)
            for route in self._routes:
                route.guard(self.starts, self._kept)
        self.guard = None
        self._settle()

    def _settle(self) -> None:
        for table, index in self._slots:
            table[index] = self._match


def _guard(compiled: Any, regexes: int, starts: tuple[str, ...]) -> tuple[str, ...] | None:
    """Strings one of which every message the regexes in mask ``regexes`` match holds beyond
    their ``starts`` (``guards.literal_guard``: sshd's reason 3 or 14 of a ``Received
    disconnect``), ASCII (a message's bytes hold one where its text does), where the route
    can guard a start by them (``guard_ahead``); None: none."""
    chosen = [r for k, (_, r) in enumerate(compiled.regexes) if regexes >> k & 1]
    strings = literal_guard(chosen, starts) if chosen else None
    if strings is None or not all(s.isascii() for s in strings):
        return None
    encoded = tuple(s.encode() for s in strings)
    return strings if any(guard_ahead(s.encode(), encoded) for s in starts) else None


class JailFinder:
    """The failures among a batch's candidate messages, found by the jail's matcher."""

    def __init__(self, spec: Mapping[str, Any]) -> None:
        self.clock = SystemClock()
        data = dict(spec)
        stored = data.pop("session_rows", None) or []
        fdef = data.pop("filter_def", None)
        wanted = MatcherSpec.from_json(data)
        if fdef is None:
            self.matcher = wanted.build(self.clock.now)
        else:  # the agent's own definition: no YAML read or imported here
            self.matcher = LineMatcher(wanted.compile(unpickle_filter(fdef)), self.clock.now)
        # What the reader hands on, where the agent left it to this finder.
        self.prefilter = journal_prefilter(self.matcher.filter)
        rules = self.matcher.filter.fdef.sessions
        self.table: SessionTable | None = None
        self.gate: Gate | None = None
        if rules is not None:
            self.table = SessionTable(rules)
            self.table.restore(stored, self.clock.now())
            self.gate = Gate(self.table, self.matcher.filter.literals or ())
        # One message at a time, while the reader stands on its entry (journalbatch).
        try:
            self.match_one: tuple[Any, Any] | None = self.matcher.message_hit()
        except LookupError:
            self.match_one = None  # the batch call matches
        # Each branch's hit as the reader makes it itself (journalrouted)
        self.hit_plans = self.matcher.hit_plans() if self.match_one is not None else None
        self.feeds_keyless = self.table is not None and self.table.keyed_by_message
        # How a message must start for match_one to find it (matching.starts), where only
        # match_one finds failures: the reader then tests a candidate's start, not its
        # literals (journalbatch); None: the literals decide. By class of starts, the
        # match of the messages starting so: the alternation of the regexes they may match.
        self.starts: tuple[bytes, ...] | None = None
        self.start_classes: tuple[StartClass, ...] | None = None
        if self.match_one is not None and not self.feeds_keyless:
            self._set_starts(self.match_one[0])
        if self.gate is not None and self.starts is not None:
            self.gate.use_starts(self.starts)

    def prepare(self) -> None:
        """Compile every class's match now (a held reader child, before the agent's GO):
        sshd's 14 cost about 6 ms, 3 ms of them at the head of the first frame when
        compiled at their first message; about 60 KB in all."""
        for _, match in self.start_classes or ():
            if isinstance(match, ClassMatch):
                match.compile()

    def _set_starts(self, whole: Callable[[str], re.Match[str] | None]) -> None:
        compiled = self.matcher.filter
        classes = start_classes([regex for _, regex in compiled.regexes])
        if not classes or not all(s.isascii() for starts, _ in classes for s in starts):
            return
        self.starts = tuple(s.encode() for starts, _ in classes for s in starts)
        self.start_classes = tuple(
            (
                tuple(s.encode() for s in starts),
                ClassMatch(
                    compiled,
                    regexes,
                    whole,
                    _guard(compiled, regexes, starts),
                    tuple(s.encode() for s in starts),
                ),
            )
            for starts, regexes in classes
        )

    def __call__(
        self, messages: list[str], times: list[float], keys: list[str | None]
    ) -> journalwire.FoundHits:
        batch = LineBatch("", messages, "", times, prefixed=False, read=len(messages))
        return self.with_hits(self._timed(self.matcher.hits(batch)), messages, times, keys)

    def with_hits(
        self,
        hits: list[Hit],
        messages: list[str],
        times: list[float],
        keys: list[str | None],
    ) -> journalwire.FoundHits:
        """``hits`` (the batch's failures, found by ``match_one`` or ``hits``) and what the
        session table finds in ``messages`` (with their times and keys)."""
        changed: list[tuple[str, str | None]] = []
        table = self.table
        if table is not None and keys:
            # Without a key, a table keyed by process only can do nothing with a line.
            keyless = table.keyed_by_message
            for message, when, key in zip(messages, times, keys, strict=True):
                if key is None and not keyless:
                    continue
                if (hit := table.feed(message, key, when)) is not None:
                    hits.append(hit)
                hits += self._timed(table.released())
            changed = table.changes()
        return hits, changed

    def _timed(self, hits: list[Hit]) -> list[Hit]:
        """``hits`` with a time each: a journal entry always has one (the reader's own hits
        do); ``now`` only stands in for the type."""
        if all(hit[2] is not None for hit in hits):
            return hits
        now = self.clock.now()
        return [hit if hit[2] is not None else (*hit[:2], now, *hit[3:]) for hit in hits]
