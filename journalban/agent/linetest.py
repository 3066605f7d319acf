"""Lines sent by D-Bus callers, matched in a child process killed at a time limit.

Any local user may call ``TestLine`` (``org.jailban.info``). Matching in the
agent would let a line that makes a regex backtrack stop the event loop, and
with it bans, expiries and every other call; ``re`` cannot be interrupted, so
the line goes to a child (``journalban.matching.testworker``) and the agent
only awaits a pipe. A late answer kills the child (the next line starts a new
one) and fails the call with ``LineTestTimeout``. One line is matched at a
time; each caller (a uid, as the bus layer names it) has a token bucket, and a
line that ran into the limit empties its caller's bucket.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import Sequence
from typing import Any

from journalban.agent.api import LineTest
from journalban.clock import Clock
from journalban.errors import LineTestError, LineTestTimeout, RateLimited
from journalban.matching.spec import MatcherSpec
from journalban.sources.isolated import python_module

WORKER = python_module("journalban.matching.testworker")
TIME_LIMIT = 2.0  # seconds for one line: a linear regex needs milliseconds for 64 KiB
START_LIMIT = 20.0  # seconds for a new child to import the package
BURST = 10  # lines a caller may send at once
REFILL = 1.0  # lines per second a caller gets back
KEPT_CALLERS = 1024  # buckets kept; full ones are dropped first
REPLY_BYTES = 1 << 20  # an answer holds captures of a line of at most 64 KiB


class LineTester:
    """Matches one line at a time in a killable child; see the module docstring."""

    def __init__(
        self,
        clock: Clock,
        *,
        time_limit: float = TIME_LIMIT,
        worker: Sequence[str] = WORKER,
    ) -> None:
        self._clock = clock
        self.time_limit = time_limit
        self._worker = list(worker)
        self._proc: asyncio.subprocess.Process | None = None
        self._stale = False
        self._lock = asyncio.Lock()
        self._buckets: dict[str, tuple[float, float]] = {}  # caller -> (tokens, at)

    def forget(self) -> None:
        """Filters changed (a reload): the next line gets a new child."""
        self._stale = True

    async def test(self, spec: MatcherSpec, line: str, caller: str) -> LineTest:
        """The outcome of ``line`` through the matcher ``spec`` describes.

        Raises:
            RateLimited: ``caller`` sent more than its share.
            LineTestTimeout: the match ran past ``time_limit``, or other
                callers' lines held the matcher that long.
            LineTestError: the child failed (a filter that no longer loads).
        """
        self._take(caller, 1.0)
        try:
            await asyncio.wait_for(self._lock.acquire(), self.time_limit)
        except TimeoutError:
            raise LineTestTimeout("other lines are being tested; try again") from None
        try:
            return await self._ask(spec, line, caller)
        finally:
            self._lock.release()

    async def aclose(self) -> None:
        """Stop the child (at the agent's exit)."""
        await self._kill()

    def _take(self, caller: str, cost: float, *, strict: bool = True) -> None:
        now = self._clock.monotonic()
        tokens, at = self._buckets.get(caller, (float(BURST), now))
        tokens = min(float(BURST), tokens + (now - at) * REFILL)
        if strict and tokens < cost:
            self._buckets[caller] = (tokens, now)
            raise RateLimited(
                f"more than {BURST} lines at once or {REFILL:g} per second: try again later"
            )
        self._buckets[caller] = (max(0.0, tokens - cost), now)
        if len(self._buckets) > KEPT_CALLERS:
            self._prune(now)

    def _prune(self, now: float) -> None:
        full = [c for c, (t, at) in self._buckets.items() if t + (now - at) * REFILL >= BURST]
        for caller in full:
            del self._buckets[caller]
        while len(self._buckets) > KEPT_CALLERS:  # all busy: forget the oldest
            del self._buckets[next(iter(self._buckets))]

    async def _ask(self, spec: MatcherSpec, line: str, caller: str) -> LineTest:
        proc = await self._child()
        assert proc.stdin is not None and proc.stdout is not None  # noqa: PT018,S101
        request = {"spec": spec.to_json(), "line": line}
        proc.stdin.write(json.dumps(request).encode() + b"\n")
        try:
            async with asyncio.timeout(self.time_limit):
                await proc.stdin.drain()
                raw = await proc.stdout.readline()
        except TimeoutError:
            await self._kill()
            self._take(caller, float(BURST), strict=False)
            raise LineTestTimeout(
                f"matching the line took longer than {self.time_limit:g}s and was stopped"
            ) from None
        except (ConnectionError, ValueError) as exc:  # a dead child, an oversized answer
            await self._kill()
            raise LineTestError(f"the line tester failed: {exc}") from None
        if not raw:
            await self._kill()
            raise LineTestError("the line tester exited")
        reply: dict[str, Any] = json.loads(raw)
        if "error" in reply:
            raise LineTestError(str(reply["error"]))
        captures = {str(k): str(v) for k, v in dict(reply.get("captures", {})).items()}
        return LineTest(bool(reply["matched"]), str(reply.get("address", "")), captures)

    async def _child(self) -> asyncio.subprocess.Process:
        proc = self._proc
        if proc is not None and (self._stale or proc.returncode is not None):
            await self._kill()
            proc = None
        if proc is not None:
            return proc
        self._stale = False
        proc = await asyncio.create_subprocess_exec(
            *self._worker,
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            limit=REPLY_BYTES,
        )
        self._proc = proc
        assert proc.stdout is not None  # noqa: S101
        try:
            ready = await asyncio.wait_for(proc.stdout.readline(), START_LIMIT)
        except TimeoutError:
            ready = b""
        if ready != b"ready\n":
            await self._kill()
            raise LineTestError("the line tester did not start")
        return proc

    async def _kill(self) -> None:
        proc, self._proc = self._proc, None
        if proc is None:
            return
        if proc.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                proc.kill()
        await proc.wait()
        if proc.stdin is not None:
            proc.stdin.close()
