"""`journalban regex`'s summary of a big log file counted by several processes at once.

A file is cut at line boundaries into one part per CPU the process may use
(at most ``MAX_JOBS``); the parts after the first are counted by forked
children, which inherit the compiled filter, and the first by the process
itself. Each part's counts (lines, matched, ignored, hits per regex, date
formats) are added up: they are the counts of the whole file when every part
read its dates in one and the same format (a line's verdict then depends on
nothing but the line: syslog's year comes from the clock). A log of several
date formats is counted again in one pass by the caller, since which format
reads an ambiguous line depends on the lines before it. A part whose child
fails is counted again by the process itself.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

from journalban.cpus import usable_cpus
from journalban.matching.engine import LineMatcher

# Below this a file is counted faster than processes are forked and joined.
MIN_BYTES = 32 << 20
MAX_JOBS = 8
Counts = dict[str, Any]
CountRange = Callable[[LineMatcher, Path, int, int | None], Counts]


def jobs_for(size: int) -> int:
    """How many processes count a file of ``size`` bytes."""
    if size < MIN_BYTES:
        return 1
    return max(1, min(usable_cpus(), MAX_JOBS, size // (MIN_BYTES // 2)))


def cut_points(path: Path, parts: int, start: int = 0) -> list[int]:
    """Offsets that start up to ``parts`` ranges of whole lines from ``start`` (a line's start)."""
    size = path.stat().st_size
    points = [start]
    with path.open("rb") as f:
        for k in range(1, parts):
            f.seek(max(start + (size - start) * k // parts, points[-1]))
            f.readline()  # to the end of the line the cut fell in
            at = f.tell()
            if at >= size:
                break
            if at > points[-1]:
                points.append(at)
    return points


def count_parts(
    matcher: LineMatcher, path: Path, jobs: int, count: CountRange, start: int = 0
) -> Counts:
    """The summed counts of the parts of the file from ``start`` (a line's start) to its end;
    ``count(matcher, path, start, stop)`` counts one part.

    The matcher should have read the file's first lines already: each child then
    starts with the date format settled as a single pass would have it.
    """
    points = cut_points(path, jobs, start)
    ranges = list(zip(points, [*points[1:], None], strict=True))
    children: list[tuple[int, int, tuple[int, int | None]]] = []
    for part_start, stop in ranges[1:]:
        read, write = os.pipe()
        pid = os.fork()
        if pid == 0:  # the child: count its part, write the counts, leave at once
            os.close(read)
            code = 0
            try:
                data = json.dumps(count(matcher, path, part_start, stop)).encode()
                with os.fdopen(write, "wb") as out:
                    out.write(data)
            except BaseException:
                code = 1
            os._exit(code)
        os.close(write)
        children.append((pid, read, (part_start, stop)))
    total = count(matcher, path, *ranges[0])
    for pid, read, (part_start, stop) in children:
        with os.fdopen(read, "rb") as inp:
            data = inp.read()
        _, status = os.waitpid(pid, 0)
        if status == 0 and data:
            part = json.loads(data)
            part["regex_hits"] = {int(k): n for k, n in part["regex_hits"].items()}
            for name, n in part["dates"].items():
                matcher.dates.hits[name] = matcher.dates.hits.get(name, 0) + n
        else:  # the child failed: count its part here (its date hits land in matcher)
            part = count(matcher, path, part_start, stop)
        _add(total, part)
    return total


def first_part(path: Path, size: int) -> int:
    """The start of the first line at or after ``size`` bytes (the file's size at most)."""
    with path.open("rb") as f:
        f.seek(size)
        if size:
            f.readline()
        return min(f.tell(), path.stat().st_size)


def add_counts(total: Counts, part: Counts) -> None:
    """Add ``part``'s lines, matched, ignored and hits per regex to ``total``."""
    _add(total, part)


def _add(total: Counts, part: Counts) -> None:
    for key in ("lines", "matched", "ignored"):
        total[key] += part[key]
    hits = total["regex_hits"]
    for number, n in part["regex_hits"].items():
        hits[number] = hits.get(number, 0) + n
