"""Time suite: no filter regex backtracks its way through a crafted line.

Every failregex, ignoreregex, successregex and session regex of every filter
file (``filters/*.yaml``: a new filter is covered as soon as it exists), and
every mode's whole matcher, runs over crafted
lines (``support.crafted``: prefixes of the filter's own samples padded with
whitespace, separators, address pieces, the regex's own literals and copies
of the sample's tail) of 1 KiB, and the slowest of each again at the 64 KiB
line cap. The matching runs in a child process per batch of filters; this
side is its watchdog: a single match spending past ``LIMIT`` of CPU (or ``WALL_CAP`` of
wall, if the machine starves it) kills the child
and fails with the filter, the regex and the line. Python's ``re`` cannot be
interrupted, so a regression would otherwise hang the suite rather than fail.

``JOURNALBAN_REGEX_TIME_TABLE=PATH`` writes the slowest line per filter as a
Markdown table (``docs/threat-model.md`` records one).
"""

from __future__ import annotations

import json
import os
import selectors
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from support.regex_time_worker import STATUS_BYTES, read_status

REPO = Path(__file__).resolve().parents[2]
FILTERS = sorted((REPO / "filters").glob("*.yaml"))
LIMIT = 2.0  # CPU seconds for one match: generous, so that only a real regression fails
WALL_CAP = 120.0  # wall seconds a match may take on a starved machine before it counts as hung
SMALL = 1024
LARGE = 64 * 1024
TOP = 4  # lines per regex run again at LARGE
BATCHES = 4


def _batch(index: int) -> list[Path]:
    return FILTERS[index::BATCHES]


def _cpu_seconds(pid: int) -> float:
    """A process's CPU time so far (user and system, /proc/PID/stat), 0 once it is gone."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as stat:
            fields = stat.read().rsplit(b")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _run_watched(
    filters: list[Path], status: Path, limit: float = LIMIT
) -> tuple[list[dict[str, Any]], str | None]:
    """The child's results, and what hung (``None`` when every match kept to ``limit``)."""
    status.write_bytes(bytes(STATUS_BYTES))
    request = {
        "filters": [str(p) for p in filters], "small": SMALL, "large": LARGE, "top": TOP,
        "status": str(status),
    }  # fmt: skip
    env = {**os.environ, "PYTHONPATH": str(REPO / "tests"), "PYTHONDONTWRITEBYTECODE": "1"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "support.regex_time_worker"],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, env=env, cwd=REPO,
    )  # fmt: skip
    assert proc.stdin is not None
    assert proc.stdout is not None
    proc.stdin.write(json.dumps(request).encode() + b"\n")
    proc.stdin.close()
    results: list[dict[str, Any]] = []
    buffer = b""
    with selectors.DefaultSelector() as sel:
        sel.register(proc.stdout, selectors.EVENT_READ)
        allowed = limit * 5  # imports and compiling before the first line
        deadline = time.monotonic() + allowed
        cpu_at = _cpu_seconds(proc.pid)
        wall_cap = time.monotonic() + WALL_CAP
        try:
            while True:
                if not sel.select(timeout=max(0.0, deadline - time.monotonic())):
                    # The limit is the child's CPU since its last word, not the wall: on a
                    # busy machine a match waits for a core, which is no backtracking.
                    spent = _cpu_seconds(proc.pid) - cpu_at
                    if spent < allowed and time.monotonic() < wall_cap:
                        deadline = time.monotonic() + max(0.05, allowed - spent)
                        continue
                    proc.kill()
                    proc.wait()
                    return results, read_status(str(status)) or "starting"
                chunk = os.read(proc.stdout.fileno(), 1 << 16)
                if not chunk:
                    break
                *lines, buffer = (buffer + chunk).split(b"\n")
                for raw in lines:
                    text = raw.decode(errors="replace")
                    if text == "B":
                        allowed = limit
                    elif text.startswith("R "):
                        results.append(json.loads(text[2:]))
                        allowed = limit * 5  # the next filter's set-up
                    else:
                        continue
                    deadline = time.monotonic() + allowed
                    cpu_at = _cpu_seconds(proc.pid)
                    wall_cap = time.monotonic() + WALL_CAP
        finally:
            proc.kill()
            proc.wait()
            proc.stdout.close()
    assert proc.returncode == 0, f"time suite child failed ({proc.returncode})"
    return results, None


def _slowest(result: dict[str, Any]) -> dict[str, Any]:
    return max(result["targets"], key=lambda t: t["seconds"])


@pytest.mark.parametrize("batch", range(BATCHES))
def test_every_filter_regex_is_fast_on_crafted_lines_up_to_the_cap(
    batch: int, tmp_path: Path
) -> None:
    filters = _batch(batch)
    results, hung = _run_watched(filters, tmp_path / "status")
    assert hung is None, f"a match ran past {LIMIT}s: {hung}"
    assert sorted(r["filter"] for r in results) == sorted(p.stem for p in filters)
    too_slow = [
        f"{r['filter']} {t['target']}: {t['seconds']:.2f}s on {t['line']}"
        for r in results
        for t in r["targets"]
        if t["seconds"] >= LIMIT
    ]
    assert too_slow == []
    for r in results:
        assert all(t["lines"] > 0 for t in r["targets"]), r["filter"]
        assert any(t.get("size") == LARGE for t in r["targets"]), r["filter"]
    table = os.environ.get("JOURNALBAN_REGEX_TIME_TABLE")
    if table:
        with open(table, "a") as out:
            for r in sorted(results, key=lambda r: str(r["filter"])):
                worst = _slowest(r)
                line = worst["line"].replace("|", "\\|")
                out.write(
                    f"| {r['filter']} | {worst['target']} | {worst['seconds'] * 1000:.0f} ms"
                    f" | `{line}` |\n"
                )


# lighttpd-auth's digest regex before issue 13 (36 s on a 4 KiB line): the
# suite must catch such a regex, not hang on it.
_OLD_LIGHTTPD = r"""
description: the digest regex lighttpd-auth had before issue 13
prefilter: ["IP: "]
failregex:
  - regex: '^\(?(?:http|mod)_auth\.c\.\d+\) digest: auth failed for\s+(?P<user>.*?)\s*: wrong password,? IP: <HOST>$'
samples:
  - line: "2021-09-30 17:44:37: (mod_auth.c.791) digest: auth failed for  tester : wrong password, IP: 203.0.113.3"
    host: 203.0.113.3
"""


def test_a_backtracking_regex_fails_the_suite_instead_of_hanging_it(tmp_path: Path) -> None:
    old = tmp_path / "old-lighttpd-auth.yaml"
    old.write_text(_OLD_LIGHTTPD)
    start = time.monotonic()
    results, hung = _run_watched([old], tmp_path / "status")
    assert hung is not None
    assert hung.startswith("old-lighttpd-auth failregex[0] ")
    assert results == []
    assert time.monotonic() - start < WALL_CAP  # (killed by its CPU, not the wall's cap)
