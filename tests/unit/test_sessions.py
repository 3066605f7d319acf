"""Failures without an address, correlated by session (matching.sessions)."""

from __future__ import annotations

import pytest

from journalban.events import FAILURE, SUCCESS
from journalban.matching.library import FilterLibrary
from journalban.matching.sessions import SessionRules, SessionTable

RULES = FilterLibrary(None).load("sshd").sessions
TEACH = 'Connection from {} port 40000 on 192.0.2.1 port 22 rdomain ""'
COUNT = "Disconnecting: Too many authentication failures [preauth]"


def _rules() -> SessionRules:
    assert RULES is not None
    return RULES


def test_a_count_line_fails_for_the_address_its_session_learned() -> None:
    table = SessionTable(_rules())
    assert table.feed(TEACH.format("203.0.113.50"), "4242", 100.0) is None
    assert table.feed(COUNT, "4242", 101.0) == (COUNT, "203.0.113.50", 101.0, None, FAILURE)


def test_another_session_or_an_ended_one_counts_nothing() -> None:
    table = SessionTable(_rules())
    table.feed(TEACH.format("203.0.113.50"), "4242", 100.0)
    assert table.feed(COUNT, "4243", 101.0) is None
    table.feed("Connection closed by 203.0.113.50 port 40000 [preauth]", "4242", 102.0)
    assert table.feed(COUNT, "4242", 103.0) is None


def test_an_attacker_cannot_teach_a_session_a_name_or_a_bad_address() -> None:
    table = SessionTable(_rules())
    table.feed(TEACH.format("999.1.2.3"), "1", 100.0)
    table.feed(TEACH.format("attacker.example"), "2", 100.0)
    assert len(table) == 0


def test_sessions_expire_and_stay_bounded() -> None:
    table = SessionTable(_rules(), max_sessions=100, ttl=60.0)
    for i in range(10_000):
        table.feed(TEACH.format(f"10.0.{i >> 8 & 255}.{i & 255}"), str(i), 1000.0 + i * 0.001)
    assert len(table) == 100
    assert table.feed(COUNT, "9999", 1100.0) is None, "taught more than ttl ago"


def test_stored_rows_rebuild_the_table() -> None:
    table = SessionTable(_rules())
    table.feed(TEACH.format("203.0.113.50"), "4242", 100.0)
    table.feed(TEACH.format("203.0.113.51"), "4243", 100.0)
    table.feed("Disconnected from 203.0.113.51 port 1", "4243", 100.5)
    stored = {k: v for k, v in table.changes() if v is not None}
    again = SessionTable(_rules())
    again.restore(stored.items(), 101.0)
    assert again.feed(COUNT, "4242", 101.0) == (COUNT, "203.0.113.50", 101.0, None, FAILURE)
    assert again.feed(COUNT, "4243", 101.0) is None


def test_stored_rows_are_kept_by_the_newest_session_not_by_the_clock() -> None:
    """A restart in a backlog two hours old reads on from where it stopped: the sessions
    stored there count for its next lines (they were all dropped, being older than ttl by
    the clock); one older than ttl before the newest stored is dropped, and at most
    ``max_sessions`` are kept, the newest."""
    stored = [
        ("4241", '["203.0.113.49", 1000.0]'),
        ("4243", '["203.0.113.51", 5100.0]'),
        ("4242", '["203.0.113.50", 5000.0]'),
    ]
    again = SessionTable(_rules(), ttl=3600.0)
    again.restore(stored, 5100.0 + 7200)
    assert len(again) == 2
    assert again.feed(COUNT, "4242", 5200.0) == (COUNT, "203.0.113.50", 5200.0, None, FAILURE)
    assert again.feed(COUNT, "4241", 5200.0) is None
    bounded = SessionTable(_rules(), max_sessions=1, ttl=3600.0)
    bounded.restore(stored, 5100.0 + 7200)
    assert bounded.feed(COUNT, "4243", 5200.0) == (COUNT, "203.0.113.51", 5200.0, None, FAILURE)
    assert len(bounded) == 1
    # A clock before the newest stored: within ttl of the clock, as before.
    early = SessionTable(_rules(), ttl=3600.0)
    early.restore(stored, 4700.0)
    assert len(early) == 2
    assert early.feed(COUNT, "4241", 4700.0) is None


def test_a_daemons_own_session_id_keys_the_session() -> None:
    from journalban.config.yamlsource import Marks
    from journalban.matching.sessions import parse_sessions

    rules = parse_sessions(
        {
            "teach": [r"^(?P<session>[0-9A-F]{6,}): client=\S*\[<ADDR>\]$"],
            "count": [r"^(?P<session>[0-9A-F]{6,}): reject: too many bad recipients$"],
            "end": [r"^(?P<session>[0-9A-F]{6,}): removed$"],
        },
        Marks({}),
    )
    assert rules is not None
    table = SessionTable(rules)
    table.feed("4F2A11C0899: client=mail.example[203.0.113.80]", None, 100.0)
    hit = table.feed("4F2A11C0899: reject: too many bad recipients", "999", 101.0)
    assert hit is not None
    assert hit[1] == "203.0.113.80", "the queue id, not the process, is the session"
    table.feed("4F2A11C0899: removed", None, 102.0)
    assert table.feed("4F2A11C0899: reject: too many bad recipients", None, 103.0) is None


END = "Connection closed by 203.0.113.50 port 40000 [preauth]"


def test_a_line_that_can_neither_teach_nor_reach_a_held_session_is_of_no_use() -> None:
    table = SessionTable(_rules())
    assert not table.may_use(END, "4242")
    assert not table.may_use(COUNT, "4242")
    assert table.may_use(TEACH.format("203.0.113.50"), "4242")
    table.feed(TEACH.format("203.0.113.50"), "4242", 100.0)
    assert table.may_use(COUNT, "4242")
    assert table.may_use(END, "4242")
    assert not table.may_use(COUNT, "4243")


FAILED = "Failed password for root from 198.51.100.9 port 22 ssh2"


def _gated(
    entries: list[tuple[str, str]], batch: int = 50, way: str = "check"
) -> tuple[list[object], list[str]]:
    """What the table finds when the journal gate filters each batch before it is fed,
    and the messages whose key the gate read. ``way``: ``check`` (the gate on every
    candidate), ``split`` (as the reader child takes candidates with ``prefixes``: the
    session lines through ``check_session``, the others by their failure literals) or
    ``scan`` (the gate without prefixes: its literal scans)."""
    from journalban.agent.journalfinder import Gate
    from journalban.sources.literalscan import literal_scan

    table = SessionTable(_rules())
    gate = Gate(table, ["Failed "])
    prefixes = gate.prefixes
    assert prefixes is not None, "sshd's session regexes all start with literals"
    failure = literal_scan(gate.failure_literals)
    assert failure is not None
    if way == "scan":
        gate.prefixes = None
    found: list[object] = []
    fetched: list[str] = []
    for start in range(0, len(entries), batch):  # a batch is fed after it is read
        gate.new_batch()
        kept: list[tuple[int, str, str | None]] = []
        for i, (message, pid) in enumerate(entries[start : start + batch], start):

            def get(field: str, pid: str = pid, message: str = message) -> bytes:
                assert field == "_PID"
                fetched.append(message)
                return pid.encode()

            raw = message.encode()
            if way != "split":
                wanted, key = gate.check(raw, get, "_PID")
            elif raw.startswith(prefixes):
                wanted, key = gate.check_session(raw, get, "_PID")
            else:
                wanted, key = failure.search(raw) is not None, None
            if wanted:
                kept.append((i, message, key))
            else:
                found.append(None)
        found += [table.feed(message, key, 100.0 + i) for i, message, key in kept]
    return found, fetched


def _entries(teach_share: float, seed: int) -> list[tuple[str, str]]:
    import random

    rng = random.Random(seed)
    out: list[tuple[str, str]] = []
    for _ in range(3000):
        pid = str(rng.randrange(40))
        kind = rng.random()
        if kind < teach_share:
            message = TEACH.format(f"203.0.113.{pid}")
        elif kind < 0.3:
            message = COUNT
        elif kind < 0.65:
            message = END
        elif kind < 0.7:  # holds the teach literal, teaches nothing
            message = f"banner exchange: Connection from 198.51.100.{pid} port 1: invalid format"
        elif kind < 0.75:  # holds an end literal further on, ends nothing
            message = "error: kex_exchange_identification: Connection closed by remote host"
        else:
            message = FAILED
        out.append((message, pid))
    return out


def test_the_journal_gate_skips_only_what_the_table_could_not_use() -> None:
    """Gated feeding finds exactly what feeding every message finds, over batches of
    teach, count, end and failure lines of many sessions, in a seeded random order."""
    for teach_share, seed in ((0.1, 7), (0.01, 8), (0.0, 9)):
        entries = _entries(teach_share, seed)
        every = SessionTable(_rules())
        expected = [every.feed(m, k, 100.0 + i) for i, (m, k) in enumerate(entries)]
        assert any(expected) == (teach_share > 0)
        for way in ("check", "split", "scan"):
            found, fetched = _gated(entries, way=way)
            assert [h for h in found if h is not None] == [h for h in expected if h is not None]
            assert len(found) == len(expected)
            assert FAILED not in fetched, "a line without a session literal needs no key"
            if teach_share == 0.0:
                assert fetched == [], "nothing taught: count and end lines are skipped unread"


def test_session_lines_are_told_by_the_start_their_regexes_match() -> None:
    """leading_literals: what every match of a regex starts with, or None when unknown;
    the gate's prefixes only where every session regex has one."""
    import re

    from journalban.agent.journalfinder import Gate
    from journalban.matching.literals import leading_literals

    def starts(*patterns: str) -> tuple[str, ...] | None:
        return leading_literals([re.compile(p) for p in patterns])

    assert starts(r"^Connection closed by ", r"^Disconnected from ") == (
        "Connection closed by ",
        "Disconnected from ",
    )
    assert starts(r"^(?:a|bc)d\d+") == ("ad", "bcd")
    assert starts(r"(?=x)abc?") == ("ab",)
    assert starts(r"(a)|b") == ("a", "b")
    assert starts(r"^Too many(?: for (?P<user>\S+))?$") == ("Too many",)
    for unknown in (r"(?i)abc", r"\w+abc", r"a?bc", r"(?:x)*y", r"^.*closed", r"(a)|\d"):
        assert starts(unknown) is None, unknown
    assert starts(r"^abc", r"\w+") is None
    assert Gate(SessionTable(_rules()), ["Failed "]).prefixes == (
        b"Connection closed by ",
        b"Connection from ",
        b"Disconnected from ",
        b"Disconnecting: Too many authentication failures",
    )
    anywhere = SessionRules((re.compile(r"(?P<host>\S+) connected"),), (), (re.compile("^bye"),))
    assert Gate(SessionTable(anywhere), ["Failed "]).prefixes is None


OPENSMTPD = FilterLibrary(None).load("opensmtpd").sessions
SMTPD_TEACH = "5d86095f0a1e9dd7 smtp connected address=[2001:db8::41] host=mail.example.net"


def test_a_success_line_is_an_accepted_login_of_the_sessions_address() -> None:
    assert OPENSMTPD is not None
    table = SessionTable(OPENSMTPD)
    table.feed(SMTPD_TEACH, "29208", 100.0)
    ok = "5d86095f0a1e9dd7 smtp authentication user=alice result=ok"
    assert table.feed(ok, "29208", 101.0) == (ok, "2001:db8::41", 101.0, "alice", SUCCESS)
    assert table.feed(ok.replace("5d86095f", "00000000"), "29208", 101.0) is None


def test_one_process_many_sessions_each_counts_for_its_own_client() -> None:
    assert OPENSMTPD is not None
    table = SessionTable(OPENSMTPD)
    table.feed(SMTPD_TEACH, "29208", 100.0)
    table.feed(
        "00000000000000aa smtp connected address=198.51.100.9 host=<unknown>", "29208", 100.0
    )
    fail = "{} smtp authentication user=root result=permfail"
    hits = [
        table.feed(fail.format(s), "29208", 101.0) for s in ("00000000000000aa", "5d86095f0a1e9dd7")
    ]
    assert [None if h is None else h[1] for h in hits] == ["198.51.100.9", "2001:db8::41"]


def test_a_success_regex_must_name_the_account() -> None:
    from journalban.config.yamlsource import Marks
    from journalban.errors import FilterError
    from journalban.matching.sessions import parse_sessions

    with pytest.raises(FilterError, match="needs a"):
        parse_sessions(
            {"teach": ["^c <ADDR>$"], "count": ["^f$"], "success": ["^(?P<session>\\w+) ok$"]},
            Marks({}),
        )


def test_a_line_without_a_session_key_changes_nothing_unless_the_regex_names_its_session() -> None:
    """What the journal finder relies on to skip keyless lines of a table keyed by process."""
    table = SessionTable(_rules())
    assert not table.keyed_by_message
    table.feed(TEACH.format("203.0.113.50"), "4242", 100.0)
    table.changes()
    for message in (TEACH.format("198.51.100.1"), COUNT, END, FAILED):
        assert table.feed(message, None, 101.0) is None
    assert table.changes() == []
    assert len(table) == 1
    assert table.feed(COUNT, "4242", 102.0) is not None


def test_priming_teaches_what_feeding_every_line_teaches_reading_fewer_keys() -> None:
    """Gate.learn (journalprime: the hour before a handover) leaves the table as feeding
    every line would; while it holds no session, a line that cannot teach is not looked at
    further (no key read)."""
    from journalban.agent.journalfinder import Gate

    for teach_share, seed in ((0.1, 3), (0.0, 4)):
        entries = _entries(teach_share, seed)
        every = SessionTable(_rules())
        for i, (message, pid) in enumerate(entries):
            every.feed(message, pid, 100.0 + i)
        primed = SessionTable(_rules())
        gate = Gate(primed, ["Failed "])
        fetched: list[str] = []
        for i, (message, pid) in enumerate(entries):

            def get(
                field: str, pid: str = pid, message: str = message, fetched: list[str] = fetched
            ) -> bytes:
                fetched.append(message)
                return pid.encode()

            def when(i: int = i) -> float:
                return 100.0 + i

            gate.learn(message.encode(), get, "_PID", when)
        later = len(entries) + 100.0
        counts = [(COUNT, str(pid)) for pid in range(40)]
        assert [primed.feed(m, k, later) for m, k in counts] == [
            every.feed(m, k, later) for m, k in counts
        ]
        if teach_share:
            assert any(every.feed(m, k, later) for m, k in counts)
        else:
            assert fetched == [], "nothing taught: no line's key is read"
