"""A network's first ban, its bookkeeping done for a run of them at once.

``PlainBans.ban`` (decisions.plainban) decides a counted network's ban (by maxretry or a verdict, at
its first failure or later) that is its first (no history, none earlier in the step) and
feeds no recidive, and leaves the commit's lists, the unsaved bans and the ban table's
indexes to ``FirstBans.flush`` (decisions.firstban), in C for the run. These tests run the
same traffic with that path off (every ban through ``_decide_ban``'s general steps, as
before) and on, and compare everything the engine decided and keeps, the ban table's own
indexes (its expiry heap, counts per jail, texts) and the stored state; and
``BanTable.put_run`` against ``put`` one by one.
"""

from __future__ import annotations

import ipaddress
import random
from pathlib import Path
from typing import Any

import pytest
from test_first_failure_banned import _run, committed_lines

from journalban.clock import FakeClock
from journalban.decisions import banning, nativeban, plainban
from journalban.decisions.runtime import BanTable
from journalban.events import FAILURE, Ban, LineBatch
from journalban.state.store import StateStore


def _table(bans: BanTable) -> dict[str, Any]:
    """The table's indexes, versions aside (a process-wide count)."""
    return {
        "bans": sorted(((j, str(n)), b) for (j, n), b in bans.items()),
        "texts": sorted(bans.by_text.items()),
        "per_jail": dict(bans.per_jail),
        "heap": [(at, key[0], str(key[1])) for at, _, key in bans._expiries],
        "next": bans.next_expiry(),
    }


def _with_tables(tmp_path: Path, seed: int) -> tuple[list[Any], list[dict[str, Any]], int]:
    tables: list[dict[str, Any]] = []
    process_hits = banning.BanDeciding._end_bans

    def end(self: Any, rt: Any, commit: Any) -> None:
        process_hits(self, rt, commit)
        tables.append(_table(self.bans))

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(banning.BanDeciding, "_end_bans", end)
        seen, added = _run(tmp_path, seed, first=True)
    return seen, tables, added


@pytest.mark.parametrize("seed", range(8))
def test_the_same_decisions_state_and_table_with_first_bans_done_as_a_run(
    tmp_path: Path, seed: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    taken: list[bool] = []
    ban_first = plainban.PlainBans.ban

    reasons: set[str] = set()

    def counting(self: plainban.PlainBans, *args: Any) -> bool:
        key = args[0]
        held = self.rt.recent_lines.held
        took = ban_first(self, *args)
        taken.append(took)
        if took:  # at its first failure, or counted before (its lines kept)
            reasons.add("first" if held is not None and held[0] == key else "counted")
            if self.first.run[-1][6] is None:  # (ended by the clock when decided)
                reasons.add("ended")
        return took

    # (the Python path, whose ``PlainBans.ban`` is counted here: test_native_first_bans
    # compares the C one with it)
    monkeypatch.setattr(nativeban, "first_ban", nativeban.first_ban_python)
    monkeypatch.setattr(nativeban, "apply_verdicts", None)
    monkeypatch.setattr(plainban.PlainBans, "ban", counting)
    run, run_tables, _ = _with_tables(tmp_path / "run", seed)
    assert taken.count(True) > 5  # bans went the run's way
    assert False in taken  # and some did not (a history, an earlier ban in the step)
    # (and bans ended by the clock when decided: a virtual ban and a history row each)
    assert reasons == {"first", "counted", "ended"}
    monkeypatch.setattr(plainban.PlainBans, "ban", lambda self, *args: False)
    one_by_one, tables, _ = _with_tables(tmp_path / "one", seed)
    assert len(run) == len(one_by_one)
    for step, (ours, theirs) in enumerate(zip(run, one_by_one, strict=True)):
        assert ours == theirs, step
    assert run_tables == tables


def test_a_first_failure_ban_is_in_the_table_for_the_failures_after_it(tmp_path: Path) -> None:
    from test_first_failure_banned import NOW, _engine

    engine = _engine(StateStore(tmp_path / "s.sqlite"), FakeClock(NOW), max_tracked=1000)
    hits = [
        (f"Failed password for u{i} from 203.0.113.{i}", f"203.0.113.{i}", NOW - 10 + i / 10,
         f"u{i}", FAILURE)
        for i in range(40)
    ]  # fmt: skip
    again = [(h[0], h[1], h[2] + 1, h[3], h[4]) for h in hits[24:]]  # each banned one again
    batch = LineBatch("journal", [h[0] for h in hits + again], "c", prefixed=False)
    changes = engine.process_hits("sshd", batch, hits + again)
    attack = [b for b in changes.bans if b.reason == "attack_mode"]
    assert [b.address for b in attack] == [f"203.0.113.{i}" for i in range(24, 40)]
    assert engine.jails["sshd"].total_failed == 40  # the repeats not counted: banned
    assert engine.jails["sshd"].total_banned == len(changes.bans)
    assert not engine._first.run
    (commit,) = changes.commits
    assert commit.bans == changes.bans
    assert [b for b, _ in commit.history] == changes.bans
    assert commit.cleared[-16:] == [f"203.0.113.{i}/32" for i in range(24, 40)]
    for ban in attack:
        assert engine.bans[("sshd", ban.network)].lines == ()  # the table's, without lines
        assert (
            engine.bans.texts_of("sshd")[f"{ban.address}/32"] is engine.bans[("sshd", ban.network)]
        )


def _ban(jail: str, text: str, at: float) -> Ban:
    return Ban(jail, ipaddress.ip_network(text), at, at + 60.0, 1, "account", 1, "journal")


@pytest.mark.parametrize("held_texts", [False, True])
@pytest.mark.parametrize("replaced", [False, True])
@pytest.mark.parametrize("counted", [False, True])
def test_put_run_leaves_the_table_as_put_one_by_one(
    counted: bool, replaced: bool, held_texts: bool
) -> None:
    rng = random.Random(7)
    earlier = [_ban("sshd", f"198.51.100.{i}/32", 100.0 + i) for i in range(20)]
    # new networks of every kind (prefixes among them), and some held already (an older
    # ban replaced)
    texts = [f"203.0.113.{i}/32" for i in range(30)] + ["2001:db8::/64", "2001:db8:1::/48"]
    texts += ["2001:db8:2::1/128", "10.0.0.0/8", "192.0.2.0/31"]
    texts += [f"198.51.100.{i}/32" for i in rng.sample(range(20), 5 if replaced else 0)]
    run = [_ban("sshd", t, 200.0 + rng.random()) for t in texts]
    tables = []
    for by_run in (True, False):
        table = BanTable()
        table.put(("web", earlier[0].network), earlier[0], "198.51.100.0/32")
        for ban in earlier:
            table.put(("sshd", ban.network), ban, str(ban.network))
        if counted:  # the counts of prefixes and lengths asked for: kept from then on
            assert (table.prefixes, table.lengths[(4, 32)]) == (0, 21)
        version = table.version
        if by_run:
            given: list[str] | None = texts
            if held_texts:  # (decisions.firstban: each put by its text as it was decided)
                table.texts_of("sshd").update(zip(texts, run, strict=True))
                given = None
            table.put_run(
                "sshd", [b.network for b in run], run, given, [b.expires_at or 0.0 for b in run]
            )
        else:
            for ban, text in zip(run, texts, strict=True):
                table.put(("sshd", ban.network), ban, text)
        assert table.version > version
        tables.append((_table(table), table.prefixes, dict(table.lengths)))
    assert tables[0] == tables[1]
    assert tables[0][0]["per_jail"] == {"sshd": 55, "web": 1}
    assert tables[0][1:] == (3, {(4, 32): 51, (6, 64): 1, (6, 48): 1, (6, 128): 1, (4, 8): 1,
                                 (4, 31): 1})  # fmt: skip


def _forty_failures(now: float) -> tuple[list[Any], LineBatch]:
    """Forty failures of forty accounts from forty addresses of one /24, a tenth of a second
    apart, ending at ``now``: a flood's first failures (attack mode bans most)."""
    hits = [
        (f"Failed password for u{i} from 203.0.113.{i}", f"203.0.113.{i}", now - 10 + i / 10,
         f"u{i}", FAILURE)
        for i in range(40)
    ]  # fmt: skip
    return hits, LineBatch("journal", [h[0] for h in hits], "c", prefixed=False)


def test_a_verdicts_first_bans_skip_decide_ban_and_match_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A detector's verdict that bans goes to ``PlainBans.ban`` from ``_apply_verdicts``
    itself (no ``_decide_ban`` frame a ban); with that path off, the general steps decide
    the same bans."""
    from test_first_failure_banned import NOW, _engine

    hits, batch = _forty_failures(NOW)
    decided: list[str] = []
    decide_ban = banning.BanDeciding._decide_ban

    def counting(self: Any, rt: Any, key: str, *args: Any, **kwargs: Any) -> None:
        decided.append(key)
        decide_ban(self, rt, key, *args, **kwargs)

    monkeypatch.setattr(banning.BanDeciding, "_decide_ban", counting)
    monkeypatch.setattr(nativeban, "first_ban", nativeban.first_ban_python)
    monkeypatch.setattr(nativeban, "apply_verdicts", None)
    runs = []
    for plainly in (True, False):
        if not plainly:
            monkeypatch.setattr(plainban.PlainBans, "ban", lambda self, *args: False)
        engine = _engine(
            StateStore(tmp_path / f"{plainly}.sqlite"), FakeClock(NOW), max_tracked=1000
        )
        changes = engine.process_hits("sshd", batch, hits)
        verdicts = [b for b in changes.bans if b.reason != "failures"]
        assert len(verdicts) >= 16, [b.reason for b in verdicts]
        runs.append((changes.bans, committed_lines(changes, changes.bans), engine.bans.by_text))
    # (subnet's prefix, and maxretry's bans, none here, still go _decide_ban's way)
    assert set(decided) == {"203.0.113.0/24"}
    assert runs[0] == runs[1]


def test_a_steps_first_bans_read_the_stores_facts_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The store's commit count and history networks are read once for a step's first bans
    (``PlainBans``), not once a ban; the bans are the first bans all the same."""
    from test_first_failure_banned import NOW, _engine

    engine = _engine(StateStore(tmp_path / "s.sqlite"), FakeClock(NOW), max_tracked=1000)
    other = ipaddress.ip_network("192.0.2.1/32")
    engine.store.ban_history(other, 0.0, str(other))  # (the history's networks read: known)
    reads: list[int] = []
    networks = StateStore.history_networks

    def counted(store: StateStore) -> Any:
        reads.append(store.commit_count)
        return networks.fget(store)  # type: ignore[attr-defined]

    monkeypatch.setattr(StateStore, "history_networks", property(counted))
    hits, batch = _forty_failures(NOW)
    changes = engine.process_hits("sshd", batch, hits)
    firsts = [b for b in changes.bans if b.reason == "attack_mode"]
    assert len(firsts) >= 16
    assert all(b.ban_count == 1 for b in firsts)
    general = [b for b in changes.bans if b.reason == "subnet"]  # (each reads its history)
    assert len(general) == 1
    assert len(reads) == 1 + len(general)  # one for the first bans (it was one a ban)
    assert engine._plain is None  # (the step's commit not held after it)


@pytest.mark.parametrize(
    "actions", [({"type": "firewall"},), (), ({"type": "firewall"}, {"type": "mail", "to": "x"})]
)
def test_a_first_ban_is_one_object_unless_an_action_reads_its_lines(
    tmp_path: Path, actions: tuple[dict[str, str], ...]
) -> None:
    """A jail whose actions read no matched lines (the firewall alone, or none) keeps one
    ``Ban`` a first ban: the table's, announced and committed, its lines beside it in the
    commit (``lines_of``); a jail with a mail or command action is handed the ban with its
    lines. The stored rows are the same either way."""
    import dataclasses
    import sqlite3

    from test_first_failure_banned import NOW, _engine

    from journalban.decisions import plainban as plain

    hits, batch = _forty_failures(NOW)
    store = StateStore(tmp_path / "s.sqlite")
    engine = _engine(store, FakeClock(NOW), max_tracked=1000)
    rt = engine.jails["sshd"]
    rt.config = dataclasses.replace(rt.config, actions=actions)
    changes = engine.process_hits("sshd", batch, hits)
    firsts = [b for b in changes.bans if b.reason == "attack_mode"]
    assert len(firsts) == 16
    lineless = plain.lines_unread(actions)
    assert lineless == ("mail" not in str(actions))
    # (the step's first ban went the general way: the store's history not read before)
    assert firsts[0].lines
    for ban in firsts[1:]:
        kept = engine.bans[("sshd", ban.network)]
        assert kept.lines == ()
        assert (kept is ban) is lineless
        assert bool(ban.lines) is not lineless
    # lines_of is keyed by id: safe while each key is the id of a ban its own commit holds
    # (``bans`` only grows, and the commit keeps them alive until written: no id of a ban
    # freed meanwhile, taken again by another, is ever looked up)
    for commit in changes.commits:
        assert set(commit.lines_of) <= {*map(id, commit.bans)}
        assert bool(commit.lines_of) is (lineless and commit.jail == "sshd")
    lines = committed_lines(changes, changes.bans)
    assert [line for b, line in zip(changes.bans, lines, strict=True) if b in firsts] == [
        (f"Failed password for u{i} from 203.0.113.{i}",) for i in range(24, 40)
    ]
    store.commit(changes.commits)
    db = sqlite3.connect(tmp_path / "s.sqlite")
    stored = dict(db.execute("SELECT network, lines FROM bans WHERE reason = 'attack_mode'"))
    db.close()
    assert stored == {
        f"203.0.113.{i}/32": f'["Failed password for u{i} from 203.0.113.{i}"]'
        for i in range(24, 40)
    }
