"""GetBans' pages and the ban table's generation, over the in-memory control."""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import random
from collections.abc import Iterator

import pytest

from journalban import errors
from journalban.bus import paging
from journalban.bus.paging import KEPT_PAGES, MAX_PAGE, BanPages
from journalban.bus.service import BusService
from journalban.clock import FakeClock
from support.fake_control import FakeControl


@contextlib.contextmanager
def _listening() -> Iterator[tuple[FakeClock, FakeControl, BusService]]:
    """The in-memory control with the agent's bus listener subscribed: it owns the
    generation and keeps the order from the announcements."""
    clock = FakeClock(1_700_000_000.0)
    control = FakeControl(clock=clock)
    service = BusService(control)
    unsubscribe = control.subscribe(service)
    try:
        yield clock, control, service
    finally:
        unsubscribe()


def _banned(control: FakeControl, clock: FakeClock, count: int) -> None:
    async def ban_all() -> None:
        for i in range(count):
            clock.advance(1.0)
            await control.ban("sshd", ipaddress.ip_network(f"203.0.113.{i + 1}"), 600.0)

    asyncio.run(ban_all())


def test_pages_are_newest_first_and_cover_the_table_once() -> None:
    clock = FakeClock(1_700_000_000.0)
    control = FakeControl(clock=clock)
    pages = BanPages(control)
    _banned(control, clock, 25)
    seen: list[str] = []
    for offset in range(0, 30, 10):
        total, _generation, bans = pages.page("", offset, 10)
        assert total == 25
        seen += [b[0] for b in bans]
    assert seen == [f"203.0.113.{i}" for i in range(25, 0, -1)]
    times = [b[2] for b in pages.page("sshd", 0, 100)[2]]
    assert times == sorted(times, reverse=True)


def test_a_page_past_the_end_is_empty_and_the_limit_is_capped() -> None:
    clock = FakeClock(1_700_000_000.0)
    control = FakeControl(clock=clock)
    pages = BanPages(control)
    _banned(control, clock, 3)
    assert pages.page("", 3, 10)[0:1] == (3,)
    assert pages.page("", 3, 10)[2] == []
    assert pages.page("", 0, 0)[2] == []
    assert len(pages.page("", 0, 2**32 - 1)[2]) == 3
    assert MAX_PAGE == 10_000


def test_unknown_jail_is_no_such_jail() -> None:
    with pytest.raises(errors.NoSuchJail):
        BanPages(FakeControl()).page("nope", 0, 10)


def test_generation_changes_with_every_ban_and_unban_and_the_cache_follows() -> None:
    with _listening() as (clock, control, service):
        start = service.pages.generation
        assert start == int(control.started_at * 1_000_000)
        assert service.pages.page("", 0, 10)[0] == 0
        _banned(control, clock, 2)
        total, generation, _ = service.pages.page("", 0, 10)
        assert (total, generation) == (2, start + 2)
        asyncio.run(control.unban(ipaddress.ip_network("203.0.113.1"), None))
        total, generation, bans = service.pages.page("", 0, 10)
        assert (total, generation) == (1, start + 3)
        assert [b[0] for b in bans] == ["203.0.113.2"]


def test_the_order_kept_ban_by_ban_equals_a_fresh_sort() -> None:
    with _listening() as (clock, control, service):
        _banned(control, clock, 30)
        service.pages.page("", 0, 1)  # the order is built here, then kept by signals

        async def churn() -> None:
            for i in range(1, 31, 3):
                await control.unban(ipaddress.ip_network(f"203.0.113.{i}"), None)
            for i in (2, 5, 8):  # extended: same ban time, later expiry
                clock.advance(1.0)
                await control.ban("sshd", ipaddress.ip_network(f"203.0.113.{i}"), 7200.0)
            clock.advance(1.0)
            await control.ban("web-auth", ipaddress.ip_network("198.51.100.7"), 60.0)

        asyncio.run(churn())
        for jail in ("", "sshd", "web-auth"):
            kept = service.pages.page(jail, 0, 100)
            fresh = BanPages(control)
            fresh.generation = kept[1]
            assert kept == fresh.page(jail, 0, 100), jail
        assert service.pages.page("web-auth", 0, 10)[2][0][0] == "198.51.100.7"
        assert service.pages.page("", 0, 1)[2][0][0] == "198.51.100.7"
        assert service.pages.page("", 0, 100)[0] == 21


def test_a_jail_without_bans_is_an_empty_page_not_an_error() -> None:
    assert BanPages(FakeControl()).page("web-auth", 0, 10)[0] == 0


def test_order_built_in_slices_while_bans_come_and_go_equals_a_fresh_sort(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import journalban.bus.paging as paging

    monkeypatch.setattr(paging, "BUILD_SLICE", 4)  # many turns of the loop for 40 bans
    with _listening() as (clock, control, service):
        _banned(control, clock, 40)

        async def build_under_churn() -> list[int]:
            build = asyncio.create_task(service.pages.ready())
            turns = []
            for i in range(1, 41, 4):
                await asyncio.sleep(0)
                turns.append(int(build.done()))
                await control.unban(ipaddress.ip_network(f"203.0.113.{i}"), None)
                clock.advance(1.0)
                await control.ban("web-auth", ipaddress.ip_network(f"198.51.100.{i}"), 60.0)
            await build
            return turns

        turns = asyncio.run(build_under_churn())
        assert turns[0] == 0  # the build took turns: others ran between its slices
        for jail in ("", "sshd", "web-auth"):
            kept = service.pages.page(jail, 0, 100)
            fresh = BanPages(control)
            fresh.generation = kept[1]
            assert kept == fresh.page(jail, 0, 100), jail
        assert service.pages.page("", 0, 100)[0] == 40


def test_a_reload_during_the_build_builds_again() -> None:
    clock = FakeClock(1_700_000_000.0)
    control = FakeControl(clock=clock)
    pages = BanPages(control)
    _banned(control, clock, 12)

    async def reload_midway() -> None:
        waiting = asyncio.create_task(pages.ready())
        await asyncio.sleep(0)
        pages.changed()
        await waiting

    asyncio.run(reload_midway())
    assert pages.page("", 0, 100)[0] == 12


def test_a_page_is_built_once_per_generation_and_kept_pages_are_bounded() -> None:
    with _listening() as (clock, control, service):
        _banned(control, clock, 30)
        pages = service.pages
        first = pages.page("", 0, 10)
        assert pages.page("", 0, 10) is first  # the same answer, not built again
        assert pages.page("sshd", 0, 10) is not first
        asyncio.run(control.ban("sshd", ipaddress.ip_network("198.51.100.1"), 600.0))
        again = pages.page("", 0, 10)  # a ban: the kept pages were of an older table
        assert again is not first
        assert again[1] == first[1] + 1
        assert again[2][0][0] == "198.51.100.1"
        for offset in range(3 * KEPT_PAGES):
            pages.page("", offset, 5)
        assert len(pages._kept) <= KEPT_PAGES
        kept = pages.page("", 0, 10)
        service.reloaded()  # the order is built again: nothing kept survives
        assert pages.page("", 0, 10) is not kept
        assert pages.page("", 0, 10)[2] == kept[2]


def test_the_newest_bans_gathered_ahead_keep_the_order_of_a_fresh_sort(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # A short head of the newest bans (merged into the rest at HEAD): through bans, older
    # bans, extensions and lifts, every page is the one a fresh sort of the table gives.
    monkeypatch.setattr(paging, "HEAD", 8)
    rng = random.Random(16)
    with _listening() as (clock, control, service):
        _banned(control, clock, 20)
        service.pages.page("", 0, 1)  # built: kept from here by the announcements

        async def churn() -> None:
            for step in range(300):
                network = ipaddress.ip_network(f"203.0.{rng.randrange(4)}.{rng.randrange(40)}")
                if rng.random() < 0.3:
                    with contextlib.suppress(errors.NotBanned):
                        await control.unban(network, None)
                else:
                    clock.advance(rng.choice([0.0, 1.0, 1.0, 2.0]))
                    jail = rng.choice(["sshd", "web-auth"])
                    await control.ban(jail, network, 3600.0)
                if step % 25 == 0:
                    check()

        def check() -> None:
            fresh = BanPages(control)
            fresh.generation = service.pages.generation
            for jail in ("", "sshd", "web-auth"):
                total = fresh.page(jail, 0, 1)[0]
                for offset, limit in ((0, 5), (3, 9), (7, 4), (0, total + 3), (total - 2, 5)):
                    offset = max(offset, 0)
                    assert service.pages.page(jail, offset, limit) == fresh.page(
                        jail, offset, limit
                    ), (jail, offset, limit)
                assert service.pages.newest_first(jail) == fresh.newest_first(jail)

        asyncio.run(churn())
        check()


def test_a_run_of_bans_told_at_once_counts_each_with_or_without_an_order() -> None:
    """``banned_all``: without an order kept, the generation counts the run's bans at once;
    with one, each ban is put in it, as ban by ban."""
    clock = FakeClock(1_700_000_000.0)
    control = FakeControl(clock=clock)
    _banned(control, clock, 6)
    held = sorted(control.list_bans(), key=lambda b: b.banned_at)
    pages = BanPages(control)
    start = pages.generation
    pages.banned_all(held[:3])
    assert pages.generation == start + 3
    pages.page("", 0, 1)  # the order built, then kept by the announcements
    pages.banned_all(held[3:])
    assert pages.generation == start + 6
    fresh = BanPages(control)
    fresh.generation = pages.generation
    assert pages.page("", 0, 100) == fresh.page("", 0, 100)
    assert [b[0] for b in pages.page("", 0, 2)[2]] == ["203.0.113.6", "203.0.113.5"]
