"""The firewall's change after a commit: the dry-run backend's ``apply`` (a dict and a log
line) runs in the event loop's thread, with no hand-off to a worker thread and back; a
backend that does not say so (netlink, commands, files) still runs in a worker thread,
where its I/O does not hold the loop (``agent.committing``)."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Sequence
from pathlib import Path

from journalban.agent.runtime import Agent
from journalban.events import LineBatch
from journalban.firewall.base import BanEntry
from journalban.firewall.dryrun import DryRunBackend
from support.agent import auth_log_config


class Threaded(DryRunBackend):
    """A backend whose ``apply`` may block (no ``inline_apply``)."""

    name = "threaded"
    inline_apply = False


def _config(tmp_path: Path) -> Path:
    return auth_log_config(tmp_path, maxretry=1)


def _applied_in(tmp_path: Path, backend: DryRunBackend | None) -> tuple[int, int, list[str]]:
    """The thread the loop runs in, the one ``apply`` ran in, and what it banned."""
    seen: list[int] = []
    banned: list[str] = []

    async def scenario() -> int:
        agent = Agent(_config(tmp_path), backend=backend)
        task = asyncio.create_task(agent.run())
        await agent.ready.wait()
        apply = agent.backend.apply
        loop, applied = asyncio.get_running_loop(), asyncio.Event()

        def recorded(add: Sequence[BanEntry], remove: Sequence[BanEntry], now: float) -> None:
            seen.append(threading.get_ident())
            banned.extend(str(entry.network) for entry in add)
            apply(add, remove, now)
            loop.call_soon_threadsafe(applied.set)

        agent.backend.apply = recorded  # type: ignore[method-assign]
        address = "198.51.100.7"
        hit = (f"Failed password for root from {address} port 22 ssh2", address,
               agent.clock.now(), "root", 0)  # fmt: skip
        await agent.feed("sshd", LineBatch("policy", [hit[0]], "1", prefixed=False, hits=[hit]))
        await applied.wait()
        agent.stop()
        await task
        return threading.get_ident()

    loop_thread = asyncio.run(asyncio.wait_for(scenario(), 60))
    (applied_in,) = seen
    return loop_thread, applied_in, banned


def test_the_dry_run_backend_changes_its_bans_in_the_loop_s_thread(tmp_path: Path) -> None:
    loop_thread, applied_in, banned = _applied_in(tmp_path, None)
    assert applied_in == loop_thread
    assert banned == ["198.51.100.7/32"]


def test_a_backend_that_may_block_changes_them_in_a_worker_thread(tmp_path: Path) -> None:
    loop_thread, applied_in, banned = _applied_in(tmp_path, Threaded())
    assert applied_in != loop_thread
    assert banned == ["198.51.100.7/32"]
