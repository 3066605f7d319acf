"""Running actions beside the agent: a slow or failing action never blocks it or loses a ban.

Each action gets a queue and a worker thread of its own, so calls to one
action keep their order (a ban before its unban) while a hanging mail server
cannot delay a command action. A worker runs each call in a short-lived
thread and waits at most ``timeout`` for it; an overrun is counted as an error
and the worker moves on, leaving the stuck call behind (Python threads cannot
be killed). Past ``max_stuck`` stuck calls the action's further calls are
dropped and counted, rather than piling up threads.

The ban itself is already in the state and the firewall when actions run: an
action's failure is only counted and shown in the status.
"""

from __future__ import annotations

import functools
import logging
import queue
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from typing import Final

from journalban.actions.base import Action
from journalban.clock import Clock, SystemClock
from journalban.events import Ban

log = logging.getLogger("journalban.actions")

DEFAULT_TIMEOUT: Final = 60.0
QUEUE_LIMIT: Final = 10_000


@dataclass(slots=True)
class ActionStats:
    """What the status shows of one action (or one jail's actions)."""

    calls: int = 0
    errors: int = 0
    timeouts: int = 0
    dropped: int = 0
    last_error: str = ""
    last_error_at: float | None = None


@dataclass(slots=True)
class _Call:
    jail: str
    label: str
    run: Callable[[], None]


@dataclass(slots=True)
class _Lane:
    """One action's queue, worker and counters."""

    action: Action
    calls: queue.Queue[_Call | None] = field(default_factory=lambda: queue.Queue(QUEUE_LIMIT))
    stats: ActionStats = field(default_factory=ActionStats)
    stuck: list[threading.Thread] = field(default_factory=list)
    worker: threading.Thread | None = None


class ActionRunner:
    """Dispatches action calls to worker threads and keeps their error counts."""

    def __init__(
        self,
        *,
        timeout: float = DEFAULT_TIMEOUT,
        max_stuck: int = 4,
        clock: Clock | None = None,
    ) -> None:
        self.timeout = timeout
        self.max_stuck = max_stuck
        self._clock = clock or SystemClock()
        self._lanes: dict[int, _Lane] = {}
        self._jail_stats: dict[str, ActionStats] = {}
        self._lock = threading.Lock()  # counters are written by workers, read by the agent

    # -- dispatch (never blocks) -------------------------------------------

    def ban(self, jail: str, actions: Sequence[Action], ban: Ban) -> None:
        """Queue ``action.ban(ban)`` for each action."""
        for action in actions:
            self._submit(action, _Call(jail, "ban", functools.partial(action.ban, ban)))

    def unban(self, jail: str, actions: Sequence[Action], ban: Ban, reason: str) -> None:
        """Queue ``action.unban(ban, reason)`` for each action."""
        for action in actions:
            call = functools.partial(action.unban, ban, reason)
            self._submit(action, _Call(jail, "unban", call))

    def flush_due(self, jail: str, actions: Sequence[Action], now: float) -> None:
        """Queue ``flush()`` for each action whose buffer is due (the agent's timer).

        Buffering actions (mail digests) have ``due(now) -> bool``; others are skipped.
        """
        for action in actions:
            due = getattr(action, "due", None)
            if callable(due) and due(now):
                self._submit(action, _Call(jail, "flush", action.flush))

    # -- status ------------------------------------------------------------

    def action_stats(self) -> dict[str, ActionStats]:
        """Counters per action name (actions sharing a name are summed)."""
        with self._lock:
            totals: dict[str, ActionStats] = {}
            for lane in self._lanes.values():
                _add(totals.setdefault(lane.action.name, ActionStats()), lane.stats)
            return totals

    def jail_stats(self) -> dict[str, ActionStats]:
        """Counters per jail, over all its actions."""
        with self._lock:
            return {jail: replace(stats) for jail, stats in self._jail_stats.items()}

    # -- lifecycle -----------------------------------------------------------

    def wait_idle(self, timeout: float) -> bool:
        """Wait until every queue is empty and its last call done; False on timeout."""
        # A real wait even under a fake clock: workers run in real time.
        real = SystemClock()
        deadline = real.monotonic() + timeout
        for lane in list(self._lanes.values()):
            while lane.calls.unfinished_tasks:
                if real.monotonic() >= deadline:
                    return False
                threading.Event().wait(0.01)
        return True

    def stop(self, timeout: float = 10.0) -> None:
        """Flush and stop every action, then the workers; gives up waiting after ``timeout``."""
        for lane in list(self._lanes.values()):
            self._enqueue(lane, _Call("", "flush", lane.action.flush))
            self._enqueue(lane, _Call("", "stop", lane.action.stop))
            self._enqueue(lane, None)
        for lane in list(self._lanes.values()):
            if lane.worker is not None:
                lane.worker.join(timeout)
        self._lanes.clear()

    # -- internals -----------------------------------------------------------

    def _submit(self, action: Action, call: _Call) -> None:
        lane = self._lanes.get(id(action))
        if lane is None:
            lane = self._lanes[id(action)] = _Lane(action)
            lane.worker = threading.Thread(
                target=self._work, args=(lane,), name=f"action-{action.name}", daemon=True
            )
            lane.worker.start()
        self._enqueue(lane, call)

    def _enqueue(self, lane: _Lane, call: _Call | None) -> None:
        try:
            lane.calls.put_nowait(call)
        except queue.Full:
            if call is not None:
                self._record(lane, call, f"{call.label} dropped: queue full", dropped=True)

    def _work(self, lane: _Lane) -> None:
        while True:
            call = lane.calls.get()
            try:
                if call is None:
                    return
                self._run_one(lane, call)
            finally:
                lane.calls.task_done()

    def _run_one(self, lane: _Lane, call: _Call) -> None:
        lane.stuck = [t for t in lane.stuck if t.is_alive()]
        if len(lane.stuck) >= self.max_stuck:
            self._record(lane, call, f"{call.label} dropped: action stuck", dropped=True)
            return
        failure: list[BaseException] = []

        def target() -> None:
            try:
                call.run()
            except Exception as exc:  # an action's own failure is counted, never raised
                failure.append(exc)

        thread = threading.Thread(target=target, name=f"{lane.worker and lane.worker.name}-call")
        thread.daemon = True
        thread.start()
        thread.join(self.timeout)
        if thread.is_alive():
            lane.stuck.append(thread)
            self._record(
                lane, call, f"{call.label} timed out after {self.timeout:g} s", timeout=True
            )
        elif failure:
            exc = failure[0]
            self._record(lane, call, f"{call.label} failed: {type(exc).__name__}: {exc}")
        else:
            with self._lock:
                lane.stats.calls += 1
                if call.jail:
                    self._jail_stats.setdefault(call.jail, ActionStats()).calls += 1

    def _record(
        self,
        lane: _Lane,
        call: _Call,
        message: str,
        *,
        timeout: bool = False,
        dropped: bool = False,
    ) -> None:
        log.warning("action %s (jail %s): %s", lane.action.name, call.jail or "-", message)
        now = self._clock.now()
        with self._lock:
            targets = [lane.stats]
            if call.jail:
                targets.append(self._jail_stats.setdefault(call.jail, ActionStats()))
            for stats in targets:
                stats.calls += 1
                stats.errors += 1
                stats.timeouts += int(timeout)
                stats.dropped += int(dropped)
                stats.last_error = message
                stats.last_error_at = now


def _add(total: ActionStats, part: ActionStats) -> None:
    total.calls += part.calls
    total.errors += part.errors
    total.timeouts += part.timeouts
    total.dropped += part.dropped
    if part.last_error_at is not None and (
        total.last_error_at is None or part.last_error_at >= total.last_error_at
    ):
        total.last_error = part.last_error
        total.last_error_at = part.last_error_at
