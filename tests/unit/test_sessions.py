"""Failures without an address, correlated by session (matching.sessions)."""

from __future__ import annotations

from journalban.events import FAILURE
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
