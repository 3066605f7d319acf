"""A call waiting for the decisions task runs before the stream's committed bans are announced.

The agent (in-process, dry-run, its real SQLite state) is fed one batch that
bans 400 addresses; while that group is committed, a manual Ban and an Unban
of one of the stream's addresses arrive. The manual Ban is answered, durable
and announced before most of the stream's bans are; the Unban of a stream ban
is announced after that ban's own announcement; the stream's bans announced
during a call are not counted as the caller's.
"""

from __future__ import annotations

import asyncio
import ipaddress
from collections.abc import Sequence
from pathlib import Path

from journalban.agent.callers import CALLER, Caller, calling
from journalban.agent.deciding import ANNOUNCE_SLICE
from journalban.agent.news import News, NewsQueue
from journalban.agent.runtime import Agent
from journalban.events import Ban, LineBatch
from support.agent import StateReader, auth_log_config

STREAM = [f"198.51.{i // 250}.{i % 250 + 1}" for i in range(400)]
MANUAL = "203.0.113.9"
WHO = Caller(0, ":1.42")


class Recorder:
    """The listener: what was announced, in order, and as whose doing."""

    def __init__(self, agent: Agent) -> None:
        self.agent = agent
        self.seen: list[tuple[str, str, Caller | None]] = []
        self.durable_when_answered: bool | None = None
        self._calls: list[asyncio.Task[object]] = []
        self.calls_made = asyncio.Event()
        self.all_seen = asyncio.Event()

    def _saw(self, kind: str, address: str, who: Caller | None) -> None:
        self.seen.append((kind, address, who))
        if len(self.seen) >= len(STREAM) + 3:  # with the manual ban, its answer and the unban
            self.all_seen.set()

    def banned(self, ban: Ban) -> None:
        self._saw("ban", ban.address, CALLER.get())

    def unbanned(self, ban: Ban, reason: str) -> None:
        self._saw("unban", ban.address, CALLER.get())

    def reloaded(self) -> None:
        pass

    def status_changed(self, jails: Sequence[str]) -> None:
        if not self._calls and self.agent.banned_count() >= len(STREAM):  # the group committed
            loop = asyncio.get_running_loop()
            self._calls = [loop.create_task(self._manual_ban()),
                           loop.create_task(self._unban(STREAM[-1]))]  # fmt: skip
            self.calls_made.set()

    async def _manual_ban(self) -> object:
        with calling(WHO):
            await self.agent.ban("sshd", ipaddress.ip_network(MANUAL), 3600.0)
        reader = StateReader(Path(self.agent.config.state_dir), dry_run=True)
        self.durable_when_answered = ("sshd", f"{MANUAL}/32") in reader.bans()
        self._saw("answered", MANUAL, None)
        return None

    async def _unban(self, address: str) -> object:
        with calling(WHO):
            return await self.agent.unban(ipaddress.ip_network(address), "sshd")

    async def calls_done(self) -> None:
        await self.calls_made.wait()
        await asyncio.gather(*self._calls)


def _config(tmp_path: Path) -> Path:
    return auth_log_config(tmp_path, maxretry=1)


def test_a_call_is_answered_and_announced_before_the_streams_bans(tmp_path: Path) -> None:
    async def scenario() -> Recorder:
        agent = Agent(_config(tmp_path))
        task = asyncio.create_task(agent.run())
        await agent.ready.wait()
        recorder = Recorder(agent)
        agent.subscribe(recorder)
        now = agent.clock.now()
        hits = [(f"Failed password for root from {a} port 22 ssh2", a, now, "root", 0)
                for a in STREAM]  # fmt: skip
        batch = LineBatch("policy", [h[0] for h in hits], "1", prefixed=False, hits=hits)
        await agent.feed("sshd", batch)
        await asyncio.wait_for(recorder.calls_done(), 20)
        await asyncio.wait_for(recorder.all_seen.wait(), 20)
        agent.stop()
        await task
        return recorder

    recorder = asyncio.run(asyncio.wait_for(scenario(), 60))
    order = [(kind, address) for kind, address, _ in recorder.seen]
    assert recorder.durable_when_answered is True
    manual, answered = order.index(("ban", MANUAL)), order.index(("answered", MANUAL))
    last_stream = max(order.index(("ban", a)) for a in STREAM)
    # Answered once announced, ahead of most of the stream's 400 bans (a slice went first).
    assert manual < answered < last_stream
    assert manual <= ANNOUNCE_SLICE * 2
    # The Unban of a stream ban is announced after that ban, not before.
    assert order.index(("ban", STREAM[-1])) < order.index(("unban", STREAM[-1]))
    assert all(who is None for kind, a, who in recorder.seen if kind == "ban" and a != MANUAL)
    assert [who for kind, a, who in recorder.seen if a == MANUAL and kind == "ban"] == [WHO]


def _news(address: str, reason: str | None = None) -> News:
    network = ipaddress.ip_network(address)
    return News([Ban("sshd", network, 0.0, 60.0)], reason, 0.0)


def test_the_news_of_the_same_ban_is_taken_first_in_order() -> None:
    queue = NewsQueue()
    queue.defer([_news("192.0.2.1"), _news("192.0.2.2"), _news("192.0.2.1", "expired")])
    first = queue.take_before([_news("192.0.2.1", "manual")])
    assert [(b.address, n.unban_reason) for n in first for b in n.bans] == [
        ("192.0.2.1", None), ("192.0.2.1", "expired"),
    ]  # fmt: skip
    assert [b.address for n in queue.take(10) for b in n.bans] == ["192.0.2.2"]
    assert len(queue) == 0
