"""FailureCounter: failures within findtime per network, in any arrival order."""

from __future__ import annotations

import ipaddress

from journalban.jails.counter import FailureCounter

NET = ipaddress.ip_network("203.0.113.5/32")


def test_failures_older_than_findtime_before_the_latest_are_dropped() -> None:
    counter: FailureCounter[ipaddress.IPv4Network | ipaddress.IPv6Network] = FailureCounter(
        maxretry=5, findtime=60.0, max_tracked=10
    )
    assert [counter.add(NET, t) for t in (0.0, 30.0, 61.0, 200.0)] == [1, 2, 2, 1]


def test_late_lines_are_counted_in_time_order() -> None:
    counter: FailureCounter[ipaddress.IPv4Network | ipaddress.IPv6Network] = FailureCounter(
        maxretry=5, findtime=60.0, max_tracked=10
    )
    counter.add(NET, 100.0)
    assert counter.add(NET, 50.0) == 2  # within findtime of the latest
    assert counter.add(NET, 10.0) == 2  # older than findtime before 100: dropped


def test_zero_findtime_keeps_nothing() -> None:
    counter: FailureCounter[ipaddress.IPv4Network | ipaddress.IPv6Network] = FailureCounter(
        maxretry=5, findtime=0.0, max_tracked=10
    )
    assert counter.add(NET, 10.0) == 0


def test_add_and_restore_count_as_a_model_of_sorted_windows() -> None:
    """``add`` (a network's first failure, or its times updated in place, no second call)
    and ``restore`` against a model: each network's times sorted, those older than findtime
    before its latest dropped, the least recently failed network evicted for a new one
    past ``max_tracked``; out of order, equal times, findtime 0."""
    import random
    from bisect import insort

    rng = random.Random(41)
    for findtime in (60.0, 0.0, 1e9):
        counter: FailureCounter[str] = FailureCounter(5, findtime, 8)
        model: dict[str, list[float]] = {}
        evicted = 0
        for step in range(4000):
            network = f"192.0.2.{rng.randrange(14)}/32"
            when = rng.choice([0.0, 1.0, 30.0, 59.0, 61.0, 500.0]) + 100.0 * (step // 50)
            times = model.pop(network, None)
            if times is None:
                if len(model) >= 8:
                    del model[next(iter(model))]
                    evicted += 1
                times = []
            insort(times, when)
            times[:] = [t for t in times if t > times[-1] - findtime]
            model[network] = times
            assert counter.add(network, when) == len(times), (findtime, step)
            assert list(counter.times.items()) == list(model.items()), (findtime, step)
            assert counter.evicted == evicted
        again: FailureCounter[str] = FailureCounter(5, findtime, 8)
        again.restore([(n, t) for n, times in model.items() for t in times])
        assert list(again.times.items()) == [(n, t) for n, t in model.items() if t]
