"""AuthorizationCache: what is shared, what is kept, what is forgotten (a fake polkit).

The real polkitd side (a rule taking effect at the next call) is in
tests/real/test_dbus_auth_cache.py.
"""

from __future__ import annotations

import asyncio

import pytest

from journalban.bus import contract
from journalban.bus.authcache import RENEW, AuthorizationCache, Check


class FakePolkit:
    def __init__(self, answer: Check = (True, False)) -> None:
        self.answer = answer
        self.asked = 0
        self.release = asyncio.Event()

    async def ask(self) -> Check:
        self.asked += 1
        await self.release.wait()
        return self.answer


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


async def _burst(cache: AuthorizationCache, polkit: FakePolkit, action: str, n: int) -> list[Check]:
    tasks = [asyncio.create_task(cache.check(":1.5", action, polkit.ask)) for _ in range(n)]
    await asyncio.sleep(0)
    polkit.release.set()
    return list(await asyncio.gather(*tasks))


def test_concurrent_reads_share_one_check() -> None:
    cache, polkit = AuthorizationCache(), FakePolkit()
    answers = asyncio.run(_burst(cache, polkit, contract.ACTION_INFO, 90))
    assert answers == [(True, False)] * 90
    assert polkit.asked == 1


@pytest.mark.parametrize(
    "action", [contract.ACTION_BAN, contract.ACTION_UNBAN, contract.ACTION_MANAGE]
)
def test_actions_that_change_or_reveal_are_asked_every_time(action: str) -> None:
    cache, polkit = AuthorizationCache(), FakePolkit()
    asyncio.run(_burst(cache, polkit, action, 5))
    assert polkit.asked == 5
    assert not cache.allowed(":1.5", action)


def test_yes_is_kept_for_its_connection_until_it_ages() -> None:
    clock = Clock()
    cache, polkit = AuthorizationCache(ttl=5.0, clock=clock), FakePolkit()
    asyncio.run(_burst(cache, polkit, contract.ACTION_INFO, 1))
    assert cache.allowed(":1.5", contract.ACTION_INFO)
    assert not cache.allowed(":1.6", contract.ACTION_INFO)  # another connection asks itself
    clock.now += 5.0
    assert not cache.allowed(":1.5", contract.ACTION_INFO)


@pytest.mark.parametrize("answer", [(False, False), (False, True), (True, True)])
def test_no_or_challenge_is_never_kept(answer: Check) -> None:
    cache, polkit = AuthorizationCache(), FakePolkit(answer)
    assert asyncio.run(_burst(cache, polkit, contract.ACTION_INFO, 3)) == [answer] * 3
    assert not cache.allowed(":1.5", contract.ACTION_INFO)


def test_clear_forgets_and_an_answer_asked_before_it_is_not_kept() -> None:
    async def scenario() -> tuple[bool, bool]:
        cache, polkit = AuthorizationCache(), FakePolkit()
        task = asyncio.create_task(cache.check(":1.5", contract.ACTION_INFO, polkit.ask))
        await asyncio.sleep(0)
        cache.clear()  # polkit changed while the check was in flight
        polkit.release.set()
        await task
        after_flight = cache.allowed(":1.5", contract.ACTION_INFO)
        await cache.check(":1.5", contract.ACTION_INFO, polkit.ask)
        kept = cache.allowed(":1.5", contract.ACTION_INFO)
        cache.clear()
        return after_flight, kept and not cache.allowed(":1.5", contract.ACTION_INFO)

    assert asyncio.run(scenario()) == (False, True)


def test_a_failed_check_fails_every_caller_sharing_it() -> None:
    async def scenario() -> list[BaseException | Check]:
        cache = AuthorizationCache()
        release = asyncio.Event()

        async def broken() -> Check:
            await release.wait()
            raise RuntimeError("polkit went away")

        tasks = [
            asyncio.create_task(cache.check(":1.5", contract.ACTION_INFO, broken)) for _ in range(3)
        ]
        await asyncio.sleep(0)
        release.set()
        return list(await asyncio.gather(*tasks, return_exceptions=True))

    assert [type(r) for r in asyncio.run(scenario())] == [RuntimeError] * 3


def test_callers_of_a_cancelled_check_ask_for_themselves() -> None:
    async def scenario() -> tuple[Check, int]:
        cache, polkit = AuthorizationCache(), FakePolkit()
        first = asyncio.create_task(cache.check(":1.5", contract.ACTION_INFO, polkit.ask))
        await asyncio.sleep(0)
        second = asyncio.create_task(cache.check(":1.5", contract.ACTION_INFO, polkit.ask))
        await asyncio.sleep(0)
        first.cancel()
        await asyncio.sleep(0)
        polkit.release.set()
        return await second, polkit.asked

    assert asyncio.run(scenario()) == ((True, False), 2)


def test_disabled_cache_keeps_nothing() -> None:
    cache, polkit = AuthorizationCache(), FakePolkit()
    cache.disable()
    asyncio.run(_burst(cache, polkit, contract.ACTION_INFO, 1))
    assert not cache.allowed(":1.5", contract.ACTION_INFO)


def test_entries_are_bounded() -> None:
    async def scenario(cache: AuthorizationCache) -> None:
        async def yes() -> Check:
            return True, False

        for n in range(10):
            await cache.check(f":1.{n}", contract.ACTION_INFO, yes)

    cache = AuthorizationCache(max_entries=4)
    asyncio.run(scenario(cache))
    kept = [n for n in range(10) if cache.allowed(f":1.{n}", contract.ACTION_INFO)]
    assert kept == [6, 7, 8, 9]


async def _kept(cache: AuthorizationCache, polkit: FakePolkit) -> None:
    polkit.release.set()
    await cache.check(":1.5", contract.ACTION_INFO, polkit.ask)
    polkit.release.clear()


def test_a_yes_used_near_its_end_is_renewed_while_calls_go_on() -> None:
    async def scenario() -> list[object]:
        clock = Clock()
        cache, polkit = AuthorizationCache(ttl=5.0, clock=clock), FakePolkit()
        await _kept(cache, polkit)
        seen: list[object] = [cache.use(":1.5", contract.ACTION_INFO, polkit.ask), polkit.asked]
        clock.now += 5.0 - RENEW / 2  # in the last RENEW seconds: renewed, not waited for
        uses = [cache.use(":1.5", contract.ACTION_INFO, polkit.ask) for _ in range(90)]
        await asyncio.sleep(0)
        seen += [all(uses), polkit.asked]  # one renewal for the 90
        asked_at = clock.now
        clock.now += RENEW / 4  # the answer comes a moment later
        polkit.release.set()
        await asyncio.sleep(0.01)
        clock.now = asked_at + 5.0 - 0.01  # kept from the renewal's question on
        seen.append(cache.allowed(":1.5", contract.ACTION_INFO))
        clock.now = asked_at + 5.0
        seen.append(cache.allowed(":1.5", contract.ACTION_INFO))
        return seen

    assert asyncio.run(scenario()) == [True, 1, True, 2, True, False]


@pytest.mark.parametrize("answer", [(False, False), (True, True)])
def test_a_renewal_that_hears_no_drops_the_yes_at_once(answer: Check) -> None:
    async def scenario() -> bool:
        clock = Clock()
        cache, polkit = AuthorizationCache(ttl=5.0, clock=clock), FakePolkit()
        await _kept(cache, polkit)
        clock.now += 5.0 - RENEW / 2
        polkit.answer = answer  # a rule changed, and polkit did not say so
        assert cache.use(":1.5", contract.ACTION_INFO, polkit.ask)
        polkit.release.set()
        await asyncio.sleep(0.01)
        return cache.allowed(":1.5", contract.ACTION_INFO)

    assert asyncio.run(scenario()) is False


def test_a_renewal_asked_before_polkit_changed_is_not_kept() -> None:
    async def scenario() -> bool:
        clock = Clock()
        cache, polkit = AuthorizationCache(ttl=5.0, clock=clock), FakePolkit()
        await _kept(cache, polkit)
        clock.now += 5.0 - RENEW / 2
        assert cache.use(":1.5", contract.ACTION_INFO, polkit.ask)
        await asyncio.sleep(0)
        cache.clear()
        polkit.release.set()
        await asyncio.sleep(0.01)
        return cache.allowed(":1.5", contract.ACTION_INFO)

    assert asyncio.run(scenario()) is False


def test_a_failed_renewal_leaves_the_yes_to_run_out() -> None:
    async def failing() -> Check:
        raise OSError("the bus went away")

    async def scenario() -> tuple[bool, bool]:
        clock = Clock()
        cache, polkit = AuthorizationCache(ttl=5.0, clock=clock), FakePolkit()
        await _kept(cache, polkit)
        clock.now += 5.0 - RENEW / 2
        assert cache.use(":1.5", contract.ACTION_INFO, failing)
        await asyncio.sleep(0.01)
        held = cache.allowed(":1.5", contract.ACTION_INFO)
        clock.now += RENEW
        return held, cache.allowed(":1.5", contract.ACTION_INFO)

    assert asyncio.run(scenario()) == (True, False)
