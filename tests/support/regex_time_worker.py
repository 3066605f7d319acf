"""The time suite's child: match crafted lines against filters, announcing each first.

    PYTHONPATH=tests python -m support.regex_time_worker < request.json

The request is one JSON line: ``{"filters": [path, ...], "small": N, "large": N,
"top": K, "status": PATH}``. For every filter, every failregex, successregex and session regex alone
(``match`` on the message, as the engine applies them), every ignoreregex
(``search``) and the whole ``LineMatcher`` of every mode (with the
successregexes) (full lines: date, syslog prefix, the mode's
alternation) are run over crafted lines of ``small`` characters; the ``top``
slowest of each are run again at ``large`` characters. Before each match the
child writes what it matches into the file ``status`` (mapped in memory: no
system call per line) and, every ``BEAT`` seconds, a ``B`` line on stdout; the
parent is the watchdog that kills the child when no beat comes for its limit
(``re`` cannot be interrupted) and reads ``status`` to say which line hung. At
the end of each filter the child writes ``R <json>``: per target, the slowest
line at ``large``.
"""

from __future__ import annotations

import heapq
import json
import mmap
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TextIO

from journalban.matching.engine import CompiledFilter, LineMatcher
from journalban.matching.filterdef import FilterDef, load_filter_file
from support.crafted import crafted, message_of, regex_literals

NOW = 1_800_000_000.0
BEAT = 0.05
STATUS_BYTES = 4096
MISSED_SAMPLES = 4
SAMPLES_PER_REGEX = 6

Target = tuple[str, Callable[[str], Any], list[str], tuple[str, ...]]  # name, run, texts, fillers


def targets(fdef: FilterDef) -> list[Target]:
    """What to time: each regex alone on messages, each mode's matcher on whole lines."""
    lines = sorted({s.line for s in fdef.samples})
    messages = sorted({message_of(line)[1] for line in lines})
    out: list[Target] = []
    for i, rdef in enumerate(fdef.failregex):
        literals = tuple(regex_literals(rdef.regex.pattern))
        # A regex goes deep only into lines that start as its own samples do.
        own = [m for m in messages if rdef.regex.match(m)] or messages
        out.append((f"failregex[{i}]", rdef.regex.match, own[:SAMPLES_PER_REGEX], literals))
    for j, ign in enumerate(fdef.ignoreregex):
        literals = tuple(regex_literals(ign.pattern))
        own = [m for m in messages if ign.search(m)] or messages
        out.append((f"ignoreregex[{j}]", ign.search, own[:SAMPLES_PER_REGEX], literals))
    for i, rdef in enumerate(fdef.successregex):
        literals = tuple(regex_literals(rdef.regex.pattern))
        own = [m for m in messages if rdef.regex.match(m)] or messages
        out.append((f"successregex[{i}]", rdef.regex.match, own[:SAMPLES_PER_REGEX], literals))
    if fdef.sessions is not None:
        rules = fdef.sessions
        for kind, regexes in (("teach", rules.teach), ("count", rules.count), ("end", rules.end)):
            for j, regex in enumerate(regexes):
                literals = tuple(regex_literals(regex.pattern))
                own = [m for m in messages if regex.match(m)] or messages
                out.append(
                    (f"sessions.{kind}[{j}]", regex.match, own[:SAMPLES_PER_REGEX], literals)
                )
    for mode in fdef.modes:
        compiled = CompiledFilter(fdef, mode, successes=bool(fdef.successregex))
        matcher = LineMatcher(compiled, lambda: NOW)
        out.append((f"matcher[{mode}]", matcher.match_line, representatives(matcher, lines), ()))
    return out


def representatives(matcher: LineMatcher, lines: list[str]) -> list[str]:
    """A sample line per regex the mode's matcher reports, and a few it misses.

    Each regex alone is timed on every sample it matches; through the whole
    matcher (date, prefix, the mode's alternation) one sample per branch does.
    """
    by_regex: dict[int, str] = {}
    missed: list[str] = []
    for line in lines:
        outcome = matcher.match_line(line)
        if outcome.regex >= 0:
            by_regex.setdefault(outcome.regex, line)
        elif len(missed) < MISSED_SAMPLES:
            missed.append(line)
    return [*by_regex.values(), *missed]


class Status:
    """What the child is matching now, where the watchdog can read it, and its beats."""

    def __init__(self, path: str, out: TextIO) -> None:
        with open(path, "r+b") as f:
            self._map = mmap.mmap(f.fileno(), STATUS_BYTES)
        self._out = out
        self._beat = 0.0

    def now(self, what: str) -> None:
        data = what.encode(errors="replace")[: STATUS_BYTES - 4]
        self._map[: 4 + len(data)] = len(data).to_bytes(4, "little") + data
        clock = time.monotonic()
        if clock - self._beat >= BEAT:
            self._beat = clock
            self._out.write("B\n")
            self._out.flush()


def read_status(path: str) -> str:
    """What the child was matching (for the watchdog, after killing it)."""
    raw = Path(path).read_bytes()
    return raw[4 : 4 + int.from_bytes(raw[:4], "little")].decode(errors="replace")


def time_target(
    where: str, target: Target, small: int, large: int, top: int, status: Status
) -> dict[str, Any]:
    name, run, texts, fillers = target
    seen: set[str] = set()
    slow: list[tuple[float, str, str, int]] = []  # (seconds, what, text, index)
    for text in texts:
        for index, (what, line) in enumerate(crafted(text, small, fillers)):
            if line in seen:
                continue
            seen.add(line)
            status.now(f"{where} {name} {small}: {what}")
            start = time.thread_time()
            run(line)
            took = time.thread_time() - start
            heapq.heappush(slow, (took, what, text, index))
            if len(slow) > top:
                heapq.heappop(slow)
    worst: dict[str, Any] = {"target": name, "seconds": 0.0, "line": "", "lines": len(seen)}
    for _, what, text, index in slow:
        line = next(line for i, (_, line) in enumerate(crafted(text, large, fillers)) if i == index)
        status.now(f"{where} {name} {len(line)}: {what}")
        start = time.thread_time()
        run(line)
        took = time.thread_time() - start
        if took >= worst["seconds"]:
            worst.update(seconds=took, line=what, size=len(line))
    return worst


def main() -> int:
    request = json.loads(sys.stdin.readline())
    out = sys.stdout
    status = Status(request["status"], out)
    for path in request["filters"]:
        fdef = load_filter_file(Path(path), Path(path).stem)
        results = [
            time_target(fdef.name, t, request["small"], request["large"], request["top"], status)
            for t in targets(fdef)
        ]
        out.write("R " + json.dumps({"filter": fdef.name, "targets": results}) + "\n")
        out.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main())
