"""Where a D-Bus call's time goes: stage timestamps per call, when asked for.

``JOURNALBAN_CALL_TRACE=/path/file.jsonl`` in the agent's environment makes
the bus layer and the decisions task stamp each method call at its stages
(received, authorised, caller known, queued for the decisions task, started
there, committed, handled, reply queued) on ``time.monotonic()``, the clock a
client on the same machine reads too, and append one JSON line per call:
``{"sender": ..., "serial": ..., "member": ..., "marks": {"received": t, ...}}``.
A benchmark matches the lines to its own calls by (sender, serial) and so
sees how long a call waited before the agent read it, for polkit, for the
decisions task, for its commit, and to be written back.

Off (the default) it costs one context-variable lookup per stage.
"""

from __future__ import annotations

import contextlib
import json
import os
import time
from collections.abc import Iterator
from contextvars import ContextVar
from typing import IO, Final

ENV: Final = "JOURNALBAN_CALL_TRACE"


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
        if path is not None:
            self._out = open(path, "a", buffering=1, encoding="utf-8")  # noqa: SIM115

    @property
    def enabled(self) -> bool:
        return self._out is not None

    def start(self, sender: str, serial: int, member: str) -> CallTrace | None:
        """A new trace for a call just received (None when tracing is off)."""
        return CallTrace(sender, serial, member) if self._out is not None else None

    def finish(self, trace: CallTrace | None) -> None:
        if trace is not None and self._out is not None:
            trace.mark("replied")
            self._out.write(trace.as_json() + "\n")

    def close(self) -> None:
        if self._out is not None:
            self._out.close()
            self._out = None
