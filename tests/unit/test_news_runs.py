"""A group's news is queued and announced in runs (agent.news), order kept."""

from __future__ import annotations

import random

from journalban.addresses import stored_network
from journalban.agent.callers import Caller
from journalban.agent.news import News, NewsQueue, jails_of, news_of, news_runs, news_slices
from journalban.events import Ban

CALLER = Caller(uid=0, bus_name=":1.42")


def _ban(text: str, jail: str = "sshd") -> Ban:
    return Ban(jail, stored_network(text), 1000.0, 2000.0)


def _flat(news: list[News]) -> list[tuple[Ban, str | None, float, Caller | None]]:
    """What the news says ban by ban (the items a queue of one per ban held)."""
    return [(ban, n.unban_reason, n.at, n.caller) for n in news for ban in n.bans]


def test_a_commits_news_is_its_bans_then_its_unbans_by_reason() -> None:
    a, b, c, d = (_ban(f"192.0.2.{n}/32") for n in range(4))
    news = news_of([a, b], [(c, "expired"), (d, "expired"), (a, "manual")], 5.0, CALLER)
    assert news == [
        News([a, b], None, 5.0, CALLER), News([c, d], "expired", 5.0, CALLER),
        News([a], "manual", 5.0, CALLER),
    ]  # fmt: skip
    assert news_of([], [], 5.0, None) == []
    assert news_of([], [(a, "flush")], 5.0, None) == [News([a], "flush", 5.0)]


def test_runs_of_the_same_kind_caller_and_time_joined_in_order() -> None:
    a, b, c, d = (_ban(f"192.0.2.{n}/32") for n in range(4))
    news = [
        News([a], None, 1.0), News([b], None, 1.0), News([c, d], "expired", 1.0),
        News([a], "manual", 1.0), News([b], None, 1.0, CALLER), News([c], None, 1.0, CALLER),
        News([d], None, 2.0, CALLER), News([a], None, 2.0),
    ]  # fmt: skip
    runs = list(news_runs(news))
    assert [run.bans for run in runs] == [[a, b], [c, d], [a], [b, c], [d], [a]]
    assert _flat(runs) == _flat(news)
    assert news[0].bans == [a]  # (a joined run is a new list)
    assert list(news_runs([])) == []


def _random_news(rng: random.Random, bans: list[Ban]) -> list[News]:
    kinds = [(None, None, 1.0), (None, "expired", 1.0), (CALLER, None, 1.0), (None, None, 2.0)]
    chosen = kinds[: rng.choice([1, 1, 2, 4])]
    news = []
    for _ in range(rng.randrange(1, 12)):
        who, reason, at = rng.choice(chosen)
        run = [rng.choice(bans) for _ in range(rng.randrange(1, 9))]
        news.append(News(run, reason, at, who))
    return news


def test_the_queue_takes_slices_of_bans_as_a_queue_of_one_item_a_ban_did() -> None:
    rng = random.Random(3)
    bans = [_ban(f"192.0.2.{n}/32", rng.choice(["sshd", "web"])) for n in range(8)]
    for _ in range(300):
        news = _random_news(rng, bans)
        flat = _flat(news)
        queue = NewsQueue()
        queue.defer(news)
        assert len(queue) == len(flat)
        taken: list[News] = []
        while queue:
            size = rng.randrange(1, 10)
            part = queue.take(size)
            assert sum(len(n.bans) for n in part) == min(size, len(flat) - len(_flat(taken)))
            taken += part
        assert _flat(taken) == flat
        assert queue.take(5) == []
        sliced = list(news_slices(news, 7))
        assert _flat([n for part in sliced for n in part]) == flat
        assert all(sum(len(n.bans) for n in part) <= 7 for part in sliced)
        assert _flat(list(news_runs(news))) == flat
        assert jails_of(news) == {ban.jail for ban, *_ in flat}
        assert _flat(news) == flat  # (nothing taken from the news itself)


def test_the_news_of_the_same_bans_is_taken_first_in_order() -> None:
    rng = random.Random(5)
    bans = [_ban(f"192.0.2.{n}/32") for n in range(8)]
    for _ in range(300):
        news = _random_news(rng, bans)
        queue = NewsQueue()
        queue.defer(news)
        done = queue.take(rng.randrange(0, 4))  # (a run started: its first bans announced)
        left = _flat(news)[len(_flat(done)) :]
        asked = rng.sample(bans, rng.randrange(0, 3))
        first = queue.take_before([News(asked, "manual", 3.0)])
        keys = {(b.jail, b.network) for b in asked}
        assert _flat(first) == [x for x in left if (x[0].jail, x[0].network) in keys]
        rest = [x for x in left if (x[0].jail, x[0].network) not in keys]
        assert len(queue) == len(rest)
        assert _flat(queue.take(len(queue))) == rest
