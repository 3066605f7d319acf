"""Where a D-Bus call's time goes: stage timestamps per call, when asked for.

``JOURNALBAN_CALL_TRACE=/path/file.jsonl`` in the agent's environment makes
the bus layer and the decisions task stamp each method call at its stages
(received, authorised, caller known, queued for the decisions task, started
there, committed, handled, reply queued, reply written to the socket) on
``time.monotonic()``, the clock a client on the same machine reads too, and
append one JSON line per call:
``{"sender": ..., "serial": ..., "member": ..., "marks": {"received": t, ...}}``.
A benchmark matches the lines to its own calls by (sender, serial) and so
sees how long a call waited before the agent read it, for polkit, for the
decisions task, for its commit, and to be written back.

The same file then also gets the pauses a call cannot see the cause of:
``{"gc": generation, "at": t, "seconds": d, "cpu": c}`` for each collection of
the garbage collector over ``PAUSE`` seconds (``c``: its thread's CPU time in it), and ``{"stall": d, "at": t, "cpu": c}``
when the event loop came back to a 10 ms timer more than ``PAUSE`` late,
with the CPU time its thread had meanwhile (near ``d``: a long step of some
task; near 0: the process was not given a core, or waited for the GIL).

Off (the default) it costs one context-variable lookup per stage.
"""

from __future__ import annotations

import asyncio
import atexit
import contextlib
import gc
import json
import os
import time
from collections.abc import Iterator
from contextvars import ContextVar
from typing import IO, Any, Final

ENV: Final = "JOURNALBAN_CALL_TRACE"
PAUSE: Final = 0.02  # seconds: shorter collections and loop delays are not written
TICK: Final = 0.01
FLUSH_TICKS: Final = 100  # the trace file is flushed about once a second


class CallTrace:
    """The stage timestamps of one call."""

    __slots__ = ("marks", "member", "sender", "serial")

    def __init__(self, sender: str, serial: int, member: str) -> None:
        self.sender = sender
        self.serial = serial
        self.member = member
        self.marks: dict[str, float] = {"received": time.monotonic()}

    def mark(self, stage: str) -> None:
        # The first time a stage is reached counts (a call runs one commit of its own).
        self.marks.setdefault(stage, time.monotonic())

    def as_json(self) -> str:
        fields = {"sender": self.sender, "serial": self.serial, "member": self.member}
        return json.dumps({**fields, "marks": self.marks})


TRACE: ContextVar[CallTrace | None] = ContextVar("journalban_call_trace", default=None)


def mark(stage: str) -> None:
    """Stamp ``stage`` on the call being served in this context (nothing when untraced)."""
    trace = TRACE.get()
    if trace is not None:
        trace.mark(stage)


@contextlib.contextmanager
def tracing(trace: CallTrace | None) -> Iterator[None]:
    """Run the body as part of ``trace``'s call."""
    token = TRACE.set(trace)
    try:
        yield
    finally:
        TRACE.reset(token)


class TraceLog:
    """Where finished traces go: one JSON line each, or nowhere when tracing is off."""

    def __init__(self, path: str | None = None) -> None:
        if path is None:
            path = os.environ.get(ENV) or None
        self._out: IO[str] | None = None
        self._gc_started = 0.0
        self._gc_cpu = 0.0
        self._watcher: asyncio.Task[None] | None = None
        if path is not None:
            # Block-buffered, flushed by the loop watcher every second: a write per call
            # (line buffering) was a system call per traced call in the agent's loop.
            self._out = open(path, "a", encoding="utf-8")  # noqa: SIM115
            atexit.register(self.close)
            gc.callbacks.append(self._on_gc)

    @property
    def enabled(self) -> bool:
        return self._out is not None

    def start(self, sender: str, serial: int, member: str) -> CallTrace | None:
        """A new trace for a call just received (None when tracing is off)."""
        return CallTrace(sender, serial, member) if self._out is not None else None

    def finish(self, trace: CallTrace | None, stage: str = "replied", done: Any = None) -> None:
        """Stamp ``stage`` (the reply queued, or written to the socket) and write the trace.

        ``done``: the future of the reply's write, whose result (``bus.writer``) is
        when it was written (its done-callbacks run later, at the loop's next turn).
        """
        if trace is not None and self._out is not None:
            at = None if done is None or done.cancelled() or done.exception() else done.result()
            if isinstance(at, float):
                trace.marks.setdefault(stage, at)
            trace.mark(stage)
            self._out.write(trace.as_json() + "\n")

    @contextlib.contextmanager
    def timed(self, kind: str, **fields: float) -> Iterator[None]:
        """Write how long the body (one of the agent's own steps, ``kind``) took, when tracing."""
        started = time.monotonic()
        yield
        if self._out is not None:
            step = {kind: time.monotonic() - started, "at": started, **fields}
            self._out.write(json.dumps(step) + "\n")

    def _on_gc(self, phase: str, info: dict[str, int]) -> None:
        now = time.monotonic()
        if phase == "start":
            self._gc_started, self._gc_cpu = now, time.thread_time()
        elif self._out is not None and now - self._gc_started > PAUSE:
            pause = {"gc": info["generation"], "at": self._gc_started,
                     "seconds": now - self._gc_started,
                     "cpu": time.thread_time() - self._gc_cpu}  # fmt: skip
            self._out.write(json.dumps(pause) + "\n")

    def start_watching(self) -> None:
        """Watch the running event loop for stalls, once per process (when tracing)."""
        if self._out is not None and self._watcher is None:
            self._watcher = asyncio.get_running_loop().create_task(self._watch_loop())

    async def _watch_loop(self) -> None:
        ticks = 0
        while self._out is not None:
            before, cpu = time.monotonic(), time.thread_time()
            await asyncio.sleep(TICK)
            ticks += 1
            if ticks % FLUSH_TICKS == 0 and self._out is not None:
                self._out.flush()
            late = time.monotonic() - before - TICK
            if late > PAUSE and self._out is not None:
                # cpu: the loop's own thread's CPU time meanwhile (near ``late``: a long step;
                # near 0: the process waited for a core, or for the GIL)
                stall = {"stall": late, "at": before + TICK, "cpu": time.thread_time() - cpu}
                self._out.write(json.dumps(stall) + "\n")

    def close(self) -> None:
        if self._out is not None:
            with contextlib.suppress(ValueError):
                gc.callbacks.remove(self._on_gc)
            self._out.close()
            self._out = None


_PROCESS_LOG: TraceLog | None = None


def trace_log() -> TraceLog:
    """The process's trace log (one file, one collector hook, one loop watcher)."""
    global _PROCESS_LOG
    if _PROCESS_LOG is None:
        _PROCESS_LOG = TraceLog()
    return _PROCESS_LOG
