"""A ban that ended by the clock while the agent was down (``BanDeciding.load_bans``).

The agent reads on from its stored position; the lines there are as old as they are. A
ban whose end the lines read had not passed when it stopped holds its span as a virtual
ban after the restart (never in the ban table, the firewall or ListBans), as it did for an
agent left running (decisions/banning.py ``_forget_virtual``).
"""

from __future__ import annotations

from pathlib import Path

from test_decisions import NOW, _engine, _feed

from journalban.addresses import parse_network
from journalban.clock import FakeClock
from journalban.decisions.engine import DecisionEngine

ADDRESS = "203.0.113.5"


def _restarted(tmp_path: Path, at: float) -> tuple[DecisionEngine, FakeClock]:
    clock = FakeClock(at)
    engine = _engine(tmp_path, clock, maxretry=2, bantime=60.0, findtime=3600.0)
    return engine, clock


def test_a_ban_ended_during_a_downtime_holds_its_span_until_the_lines_pass_it(
    tmp_path: Path,
) -> None:
    first, _ = _restarted(tmp_path, NOW)
    assert _feed(first, [(ADDRESS, NOW - 2), (ADDRESS, NOW - 1)]) == [ADDRESS]
    # Stopped; restarted once its end (NOW + 59) has passed by the clock.
    again, _ = _restarted(tmp_path, NOW + 600)
    assert again.load_bans() == []
    assert again.list_bans() == []
    failed = again.jails["sshd"].total_failed
    # The rest of its span, written while the agent was down: no count, no ban.
    assert _feed(again, [(ADDRESS, NOW + 10), (ADDRESS, NOW + 20)]) == []
    assert again.jails["sshd"].total_failed == failed
    assert again.list_bans() == []
    # Past its end: counts again, and the held span is dropped by the next chore.
    assert _feed(again, [(ADDRESS, NOW + 70)]) == []
    assert again.jails["sshd"].total_failed == failed + 1
    again.store.commit(again.expire().commits)
    assert again._virtual == {}


def test_a_ban_whose_end_the_stored_lines_passed_is_not_held(tmp_path: Path) -> None:
    """The state's newest failure of the jail (another address's, after that ban's end)
    says the lines read had passed it: an out-of-order line of its span counts."""
    first, clock = _restarted(tmp_path, NOW)
    assert _feed(first, [(ADDRESS, NOW - 2), (ADDRESS, NOW - 1)]) == [ADDRESS]
    clock.advance(100)
    assert _feed(first, [("198.51.100.9", NOW + 100)]) == []
    again, _ = _restarted(tmp_path, NOW + 600)
    again.load_bans()
    assert again._virtual == {}
    failed = again.jails["sshd"].total_failed
    assert _feed(again, [(ADDRESS, NOW + 30)]) == []
    assert again.jails["sshd"].total_failed == failed + 1


def test_a_running_ban_is_restored_and_not_held_virtual(tmp_path: Path) -> None:
    first, _ = _restarted(tmp_path, NOW)
    assert _feed(first, [(ADDRESS, NOW - 2), (ADDRESS, NOW - 1)]) == [ADDRESS]
    again, _ = _restarted(tmp_path, NOW + 30)
    assert [b.address for b in again.load_bans()] == [ADDRESS]
    assert again._virtual == {}


def test_a_manual_bans_clock_time_is_not_taken_for_the_lines_time(tmp_path: Path) -> None:
    """A manual ban's ``banned_at`` is the clock's (in a backlog, after the lines read):
    it does not say the lines passed the ended ban's end."""
    first, clock = _restarted(tmp_path, NOW)
    assert _feed(first, [(ADDRESS, NOW - 2), (ADDRESS, NOW - 1)]) == [ADDRESS]
    clock.advance(100)
    _, changes = first.manual_ban(
        "sshd", parse_network("198.51.100.9"), 3600.0, permanent=False, comment="", force=False
    )
    first.store.commit(changes.commits)
    again, _ = _restarted(tmp_path, NOW + 600)
    assert [b.address for b in again.load_bans()] == ["198.51.100.9"]
    assert again._virtual == {("sshd", f"{ADDRESS}/32"): (NOW - 1, NOW + 59)}


def test_a_damaged_ended_row_is_skipped(tmp_path: Path) -> None:
    first, _ = _restarted(tmp_path, NOW)
    assert _feed(first, [(ADDRESS, NOW - 2), (ADDRESS, NOW - 1)]) == [ADDRESS]
    with first.store.db:
        first.store.db.execute(
            "INSERT INTO bans VALUES ('sshd', 'not a network', ?, ?, 1, 'failures', 2, 'j', "
            "'[]', NULL), ('sshd', '198.51.100.3/32', 'junk', ?, 1, 'failures', 2, 'j', "
            "'[]', NULL)",
            (NOW - 1, NOW + 59, NOW + 59),
        )
    again, _ = _restarted(tmp_path, NOW + 600)
    assert again.load_bans() == []
    assert again._virtual == {("sshd", f"{ADDRESS}/32"): (NOW - 1, NOW + 59)}


def _ban_rows(engine: DecisionEngine) -> list[str]:
    return [str(r[0]) for r in engine.store.db.execute("SELECT network FROM bans ORDER BY 1")]


def test_the_row_of_a_ban_ended_during_a_downtime_goes_once_the_lines_pass_it(
    tmp_path: Path,
) -> None:
    """The expiry chore never lifts such a ban (it is not in the table), so its row stayed
    for good, one more at each restart: the prune drops it once the lines read passed its
    end, not before (a restart then would not hold its span any more)."""
    from journalban.agent.housekeeping import ENDED_GRACE, prune_state

    first, _ = _restarted(tmp_path, NOW)
    assert _feed(first, [(ADDRESS, NOW - 2), (ADDRESS, NOW - 1)]) == [ADDRESS]
    again, _ = _restarted(tmp_path, NOW + 600)
    again.load_bans()
    assert _feed(again, [("198.51.100.9", NOW + 30)]) == []  # inside its span
    prune_state(again, NOW + 600)
    assert _ban_rows(again) == [f"{ADDRESS}/32"], "kept: the lines read are inside its span"
    assert _feed(again, [("198.51.100.9", NOW + 70)]) == []  # past its end (NOW + 59)
    prune_state(again, NOW + 59 + ENDED_GRACE / 2)
    assert _ban_rows(again) == [f"{ADDRESS}/32"], "kept: just ended by the clock"
    prune_state(again, NOW + 600)
    assert _ban_rows(again) == []
    # and it holds no span at the next restart either
    third, _ = _restarted(tmp_path, NOW + 700)
    assert third.load_bans() == []
    assert third._virtual == {}


def test_the_prune_keeps_running_and_permanent_ban_rows(tmp_path: Path) -> None:
    from journalban.agent.housekeeping import prune_state

    engine, clock = _restarted(tmp_path, NOW)
    assert _feed(engine, [(ADDRESS, NOW - 2), (ADDRESS, NOW - 1)]) == [ADDRESS]
    _, changes = engine.manual_ban(
        "sshd", parse_network("198.51.100.9"), None, permanent=True, comment="", force=False
    )
    engine.store.commit(changes.commits)
    clock.advance(30)
    assert _feed(engine, [("192.0.2.1", NOW + 30)]) == []
    prune_state(engine, NOW + 30)
    assert _ban_rows(engine) == ["198.51.100.9/32", f"{ADDRESS}/32"]
