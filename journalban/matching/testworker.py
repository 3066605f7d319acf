"""``TestLine``'s matcher, in a child process the agent can kill at a time limit.

A caller of the D-Bus ``TestLine`` chooses the line, and Python's ``re`` holds
the interpreter for a whole match: a backtracking regex would stop the agent
(no bans, no expiries, no D-Bus) for as long as it runs, and a thread cannot
be interrupted. So the line is matched here, ``python -I -m
journalban.matching.testworker``, and the agent kills this process when the
answer is late (``journalban.agent.linetest``).

The child writes ``ready`` once it has imported the package, then answers each
request line (JSON ``{"spec": MatcherSpec, "line": str}``) with one JSON line:
``{"matched": bool, "address": str, "captures": {...}}`` or ``{"error": str}``.
Matchers are kept per spec: the agent starts a new child after a reload.
"""

from __future__ import annotations

import functools
import json
import sys
from typing import Any

from journalban.clock import SystemClock
from journalban.matching.engine import MATCHED, LineMatcher
from journalban.matching.spec import MatcherSpec

_CLOCK = SystemClock()


@functools.lru_cache(maxsize=32)
def _matcher(spec: str) -> LineMatcher:
    return MatcherSpec.from_json(json.loads(spec)).build(_CLOCK.now)


def answer(request: dict[str, Any]) -> dict[str, Any]:
    """The outcome of one line through one jail's matcher."""
    matcher = _matcher(json.dumps(request["spec"], sort_keys=True))
    out = matcher.match_line(str(request["line"]))
    if out.kind != MATCHED or out.address is None:
        return {"matched": False}
    return {"matched": True, "address": str(out.address), "captures": dict(out.captures)}


def main() -> int:
    out = sys.stdout
    out.write("ready\n")
    out.flush()
    for raw in iter(sys.stdin.readline, ""):
        try:
            reply = answer(json.loads(raw))
        except Exception as exc:  # a bad filter or request: the caller gets its text
            reply = {"error": f"{type(exc).__name__}: {exc}"}
        out.write(json.dumps(reply) + "\n")
        out.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main())
