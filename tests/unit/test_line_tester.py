"""TestLine's matcher runs in a child process killed at a time limit; the loop never waits on it.

These start the real child (``python -I -m journalban.matching.testworker``);
``tests/real/test_agent_testline.py`` drives the same through the agent on a bus.
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import pytest

from journalban.agent.linetest import BURST, LineTester
from journalban.clock import FakeClock, SystemClock
from journalban.errors import LineTestError, LineTestTimeout, RateLimited
from journalban.matching.spec import MatcherSpec

# lighttpd-auth's digest regex before issue 13: cubic in the blanks after "for".
SLOW_FILTER = r"""
description: a filter whose regex backtracks (lighttpd-auth's digest regex before issue 13)
prefilter: ["IP: "]
failregex:
  - regex: '^digest: auth failed for\s+(?P<user>.*?)\s*: wrong password,? IP: <HOST>$'
samples:
  - line: "digest: auth failed for bob : wrong password, IP: 203.0.113.3"
    host: 203.0.113.3
"""
SLOW_LINE = "digest: auth failed for" + " " * 4000 + "x"  # minutes of backtracking
GOOD_SLOW_FILTER_LINE = "digest: auth failed for bob : wrong password, IP: 203.0.113.3"
SSHD_LINE = "Nov 21 10:00:01 host sshd[42]: Failed password for root from 203.0.113.5 port 22 ssh2"
SSHD = MatcherSpec("sshd", None, None)


def _slow_spec(tmp_path: Path) -> MatcherSpec:
    local = tmp_path / "filters.d"
    local.mkdir()
    (local / "slow.yaml").write_text(SLOW_FILTER)
    return MatcherSpec("slow", None, str(local), check_idents=False)


def test_a_line_is_matched_in_the_child() -> None:
    async def main() -> None:
        tester = LineTester(SystemClock())
        try:
            found = await tester.test(SSHD, SSHD_LINE, "uid 1000")
            missed = await tester.test(SSHD, "Nov 21 10:00:01 host sshd[42]: hello", "uid 1000")
        finally:
            await tester.aclose()
        assert (found.matched, found.address) == (True, "203.0.113.5")
        assert found.captures["user"] == "root"
        assert not missed.matched

    asyncio.run(main())


def test_a_backtracking_line_is_stopped_at_the_limit_while_the_loop_goes_on(
    tmp_path: Path,
) -> None:
    spec = _slow_spec(tmp_path)

    async def main() -> None:
        tester = LineTester(SystemClock(), time_limit=1.0)
        ticks = 0

        async def ticker() -> None:
            nonlocal ticks
            while True:
                await asyncio.sleep(0.01)
                ticks += 1

        beat = asyncio.get_running_loop().create_task(ticker())
        try:
            await tester.test(spec, GOOD_SLOW_FILTER_LINE, "uid 1000")  # the child is up
            start = time.monotonic()
            with pytest.raises(LineTestTimeout, match="longer than 1s"):
                await tester.test(spec, SLOW_LINE, "uid 1000")
            took = time.monotonic() - start
            seen = ticks
            # The killed child is replaced: the next line is answered.
            after = await tester.test(spec, GOOD_SLOW_FILTER_LINE, "uid 0")
        finally:
            beat.cancel()
            await tester.aclose()
        assert 1.0 <= took < 3.0
        assert seen > 40  # the loop ran all along (100 ticks a second when idle)
        assert (after.matched, after.address) == (True, "203.0.113.3")

    asyncio.run(main())


def test_each_caller_has_a_rate_and_a_timeout_costs_the_whole_burst(tmp_path: Path) -> None:
    clock = FakeClock()

    async def main() -> None:
        tester = LineTester(clock, time_limit=1.0)
        try:
            for _ in range(BURST):
                await tester.test(SSHD, SSHD_LINE, "uid 1000")
            with pytest.raises(RateLimited):
                await tester.test(SSHD, SSHD_LINE, "uid 1000")
            assert (await tester.test(SSHD, SSHD_LINE, "uid 1001")).matched
            clock.advance(1.0)
            assert (await tester.test(SSHD, SSHD_LINE, "uid 1000")).matched
            clock.advance(BURST)
            with pytest.raises(LineTestTimeout):
                await tester.test(_slow_spec(tmp_path), SLOW_LINE, "uid 1002")
            with pytest.raises(RateLimited):
                await tester.test(SSHD, SSHD_LINE, "uid 1002")
        finally:
            await tester.aclose()

    asyncio.run(main())


def test_a_filter_that_does_not_load_is_a_named_error() -> None:
    async def main() -> None:
        tester = LineTester(SystemClock())
        try:
            with pytest.raises(LineTestError, match="nosuchfilter"):
                await tester.test(MatcherSpec("nosuchfilter", None, None), "x", "uid 0")
            assert (await tester.test(SSHD, SSHD_LINE, "uid 0")).matched
        finally:
            await tester.aclose()

    asyncio.run(main())
