"""sessions.late: a count of a session not taught yet waits for its teach line."""

from __future__ import annotations

import pytest

from journalban.config.yamlsource import Marks
from journalban.errors import FilterError
from journalban.matching.latecounts import PER_SESSION, LateCounts
from journalban.matching.sessions import SessionTable, parse_sessions

TEACH = r"^conn=(?P<session>\d+) ACCEPT from IP=<ADDR>:\d+$"
COUNT = r"^conn=(?P<session>\d+) RESULT err=49$"


def _table(late: float = 5) -> SessionTable:
    rules = parse_sessions({"teach": [TEACH], "count": [COUNT], "late": late}, Marks())
    assert rules is not None
    return SessionTable(rules)


def test_a_count_before_its_teach_line_is_released_with_the_taught_address() -> None:
    table = _table()
    assert table.feed("conn=7 RESULT err=49", None, 100.0) is None
    assert table.released() == []
    assert table.feed("conn=8 ACCEPT from IP=198.51.100.8:1", None, 100.5) is None
    assert table.released() == []  # another connection's teach releases nothing
    assert table.feed("conn=7 ACCEPT from IP=203.0.113.7:1", None, 101.0) is None
    hits = table.released()
    assert [(h[0], h[1], h[2]) for h in hits] == [("conn=7 RESULT err=49", "203.0.113.7", 100.0)]
    assert table.released() == []
    # Taught now: later counts are ordinary hits.
    hit = table.feed("conn=7 RESULT err=49", None, 102.0)
    assert hit is not None
    assert hit[1] == "203.0.113.7"


def test_a_count_waits_no_longer_than_late() -> None:
    table = _table(late=2)
    table.feed("conn=7 RESULT err=49", None, 100.0)
    table.feed("conn=7 ACCEPT from IP=203.0.113.7:1", None, 103.0)
    assert table.released() == []


def test_without_late_a_count_before_its_teach_line_is_lost() -> None:
    rules = parse_sessions({"teach": [TEACH], "count": [COUNT]}, Marks())
    assert rules is not None
    table = SessionTable(rules)
    table.feed("conn=7 RESULT err=49", None, 100.0)
    table.feed("conn=7 ACCEPT from IP=203.0.113.7:1", None, 100.0)
    assert table.released() == []


def test_late_needs_the_daemons_own_session_number_in_every_count_regex() -> None:
    # A pid (the reader's key) is reused: a waiting count could go to the next client.
    with pytest.raises(FilterError, match=r"\(\?P<session>"):
        parse_sessions({"teach": [TEACH], "count": ["^RESULT err=49$"], "late": 5}, Marks())
    for bad in (0, -1, 61, True, "5s"):
        with pytest.raises(FilterError, match=r"sessions\.late"):
            parse_sessions({"teach": [TEACH], "count": [COUNT], "late": bad}, Marks())


def test_waiting_counts_are_bounded() -> None:
    late = LateCounts(5, max_waiting=3)
    for key in ("a", "b", "c", "d"):
        late.hold(key, "x", 100.0, None)
    assert len(late) == 3
    assert late.release("a", "203.0.113.1", 100.0) == []  # the oldest went first
    for _ in range(PER_SESSION + 5):
        late.hold("b", "y" * 100_000, 100.0, None)
    released = late.release("b", "203.0.113.2", 100.0)
    assert len(released) == PER_SESSION  # "x" and seven of the long ones
    assert all(len(h[0]) <= 1024 for h in released)
    # Counts no teach line can release any more are dropped as new ones come.
    late.hold("e", "z", 200.0, None)
    assert len(late) == 1
