"""Checks a converted filter passes before it is written enabled.

- **slow**: each regex runs on crafted long lines in a child process
  (``journalban.migrate.probe``) that is killed past a time limit;
- **injectable**: a regex with a free wildcard (``.*``, ``.+``) before the address
  and nothing tying the address to the end of the line lets a client's text (a
  user name, a path) carry an address of its choosing to where the regex reads it.

A jail whose converted filter fails either is written disabled, with the reason.
"""

from __future__ import annotations

import json
import re
import subprocess

from journalban.sources.isolated import python_module

LIMIT = 2.0  # seconds for all of one filter's regexes on the crafted lines
_ADDRESS_TAG = re.compile(r"<HOST>|<ADDR>|\(\?P<host>")
_FREE = re.compile(r"(?<!\\)\.[*+]")


def injectable(regex: str) -> bool:
    """True when client text before the address could move it (see the module docstring)."""
    m = _ADDRESS_TAG.search(regex)
    if m is None:
        return False
    before, after = regex[: m.start()], regex[m.end() :]
    if not _FREE.search(before):
        return False
    anchored_end = after.rstrip(")").endswith("$") and not after.rstrip(")").endswith("\\$")
    return not anchored_end or bool(_FREE.search(after))


def slow_regexes(patterns: list[str], limit: float = LIMIT) -> list[int]:
    """Indexes of the patterns that did not finish on the crafted lines within ``limit``.

    The child reports each pattern as it finishes; when it is killed, the first
    pattern not reported is the slow one, and the rest run again in a new child.
    """
    slow: list[int] = []
    start = 0
    while start < len(patterns):
        finished = _probe(patterns[start:], limit)
        if finished == len(patterns) - start:
            break
        slow.append(start + finished)
        start += finished + 1
    return slow


def _probe(patterns: list[str], limit: float) -> int:
    """How many of ``patterns`` (in order) the child got through within ``limit``."""
    proc = subprocess.Popen(
        python_module("journalban.migrate.probe"),
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        out, _ = proc.communicate(json.dumps(patterns), timeout=limit)
    except subprocess.TimeoutExpired:
        proc.kill()
        out, _ = proc.communicate()
    return len(out.split())
