"""A ban's matched lines read between its decision and its commit (``GetBanDetails``).

The ban table holds the engine's bans without their lines (decisions.forgetting), and the
state has them only once the commit is written: before, a query in between found none. A
jail whose actions read no lines (the firewall alone) commits its first bans' lines beside
the one ``Ban`` (``BatchCommit.lines_of``); one with a mail action commits a copy with
them. ``DecisionEngine.unsaved_lines`` reads them from the groups not yet committed
(decisions.unsaved). The real engine and store; the commit is held back by not making it.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from journalban.addresses import parse_network
from journalban.config.schema import JailConfig
from journalban.decisions.engine import DecisionEngine
from journalban.decisions.ignore import IgnoreList
from journalban.decisions.runtime import Changes
from journalban.events import Ban
from support.deciding import fail, failure, jail_engine

MAIL = {"type": "mail", "to": "root@localhost"}


def _engine(tmp_path: Path, maxretry: int, mail: bool) -> DecisionEngine:
    actions = ({"type": "firewall"}, MAIL) if mail else ({"type": "firewall"},)
    cfg = JailConfig(name="sshd", maxretry=maxretry, actions=actions)
    engine = jail_engine(tmp_path / "state.sqlite", cfg, IgnoreList(()))
    # the history's networks read once, as the agent's first ban does: a first ban then
    # goes decisions.plainban's way (one object for a jail whose actions read no lines)
    engine.store.ban_history(parse_network("192.0.2.250"), 0.0, "192.0.2.250/32")
    return engine


def _banned(engine: DecisionEngine, address: str) -> Ban:
    ban = engine.bans[("sshd", parse_network(address))]
    assert ban.lines == ()  # (the table's: without them)
    return ban


def _commit(engine: DecisionEngine, changes: Changes) -> None:
    engine.store.commit(changes.commits)
    engine.forget_lines(changes.bans)


@pytest.mark.parametrize("mail", [False, True], ids=["firewall alone", "a mail action"])
@pytest.mark.parametrize("maxretry", [1, 2], ids=["at the first failure", "counted"])
def test_an_unsaved_bans_lines_are_read_before_its_commit_lands(
    tmp_path: Path, mail: bool, maxretry: int
) -> None:
    engine = _engine(tmp_path, maxretry, mail)
    expected = tuple(f"fail {n} from 203.0.113.9" for n in range(maxretry))
    for line in expected[:-1]:
        _commit(engine, failure(engine, "203.0.113.9", line))
    changes = failure(engine, "203.0.113.9", expected[-1])
    ban = _banned(engine, "203.0.113.9")
    made = [b for b in changes.bans if b.network == ban.network]
    assert (made[0] is ban) is not mail  # (one object, or a copy with lines for the mail)
    assert engine.store.ban_lines("sshd", ban.network) == ()  # not written yet
    assert engine.unsaved_lines(ban) == expected
    _commit(engine, changes)
    assert engine.unsaved_lines(ban) is None  # (let go once landed: the state's now)
    assert engine.store.ban_lines("sshd", ban.network) == expected


def test_sealed_groups_lines_are_read_until_their_commit_lands(tmp_path: Path) -> None:
    """The agent's way: a group sealed and handed to the store, the next decided meanwhile;
    each ban's lines read from its own group until that one is written."""
    engine = _engine(tmp_path, 1, mail=False)
    first = failure(engine, "203.0.113.9", "first group's line")
    engine.seal()
    second = failure(engine, "198.51.100.7", "second group's line")
    also = failure(engine, "192.0.2.33", "second group's other line")
    one, two, three = (_banned(engine, a) for a in ("203.0.113.9", "198.51.100.7", "192.0.2.33"))
    assert engine.unsaved_lines(one) == ("first group's line",)
    assert engine.unsaved_lines(two) == ("second group's line",)
    assert engine.unsaved_lines(three) == ("second group's other line",)
    _commit(engine, first)
    assert engine.unsaved_lines(one) is None
    assert engine.store.ban_lines("sshd", one.network) == ("first group's line",)
    assert engine.unsaved_lines(two) == ("second group's line",)
    engine.seal()
    _commit(engine, Changes(commits=second.commits + also.commits, bans=second.bans + also.bans))
    assert engine.unsaved_lines(two) is None
    assert engine.unsaved_lines(three) is None
    assert engine.store.ban_lines("sshd", three.network) == ("second group's other line",)
    fail(engine, "192.0.2.1")  # the next step holds nothing of theirs
    assert engine.unsaved_lines(two) is None


def test_a_ban_decided_again_before_its_commit_reads_its_own_lines(tmp_path: Path) -> None:
    """Unbanned and banned again in the same group: the lines of the ban the table holds."""
    engine = _engine(tmp_path, 1, mail=False)
    failure(engine, "203.0.113.9", "the first ban's line")
    engine.unban(parse_network("203.0.113.9"), "sshd", "manual")
    failure(engine, "203.0.113.9", "the second ban's line")
    ban = _banned(engine, "203.0.113.9")
    assert engine.unsaved_lines(ban) == ("the second ban's line",)
