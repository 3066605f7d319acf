"""A group's news is announced in runs (agent.news.news_runs), order kept."""

from __future__ import annotations

from journalban.addresses import stored_network
from journalban.agent.callers import Caller
from journalban.agent.news import News, news_runs
from journalban.events import Ban


def _ban(text: str) -> Ban:
    return Ban("sshd", stored_network(text), 1000.0, 2000.0)


def test_runs_of_the_same_kind_caller_and_time_in_order() -> None:
    caller = Caller(uid=0, bus_name=":1.42")
    a, b, c, d = (_ban(f"192.0.2.{n}/32") for n in range(4))
    news = [
        News(a, None, 1.0), News(b, None, 1.0), News(c, "expired", 1.0), News(d, "expired", 1.0),
        News(a, "manual", 1.0), News(b, None, 1.0, caller), News(c, None, 1.0, caller),
        News(d, None, 2.0, caller), News(a, None, 2.0),
    ]  # fmt: skip
    runs = list(news_runs(news))
    assert [[n.ban for n in run] for run in runs] == [[a, b], [c, d], [a], [b, c], [d], [a]]
    assert [item for run in runs for item in run] == news
    for run in runs:
        assert len({(n.caller, n.unban_reason, n.at) for n in run}) == 1


def test_no_news_no_run() -> None:
    assert list(news_runs([])) == []


def test_runs_found_in_c_as_the_loop_finds_them() -> None:
    import itertools
    import random

    rng = random.Random(3)
    caller = Caller(uid=0, bus_name=":1.42")
    bans = [_ban(f"192.0.2.{n}/32") for n in range(8)]
    kinds = [(None, None, 1.0), (None, "expired", 1.0), (caller, None, 1.0), (None, None, 2.0)]
    for _ in range(300):
        # mostly one kind (a flood's slice), sometimes a few; equal times of other objects
        chosen = kinds[: rng.choice([1, 1, 2, 4])]
        news = [
            News(rng.choice(bans), reason, float(at), who)
            for who, reason, at in (rng.choice(chosen) for _ in range(rng.randrange(1, 30)))
        ]
        runs = list(news_runs(news))
        assert [item for run in runs for item in run] == news
        for run in runs:
            assert len({(n.caller, n.unban_reason, n.at) for n in run}) == 1
        for before, after in itertools.pairwise(runs):
            last, first = before[-1], after[0]
            assert (last.caller, last.unban_reason, last.at) != (
                first.caller,
                first.unban_reason,
                first.at,
            )
