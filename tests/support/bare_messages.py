"""Bare messages (no date or syslog prefix) to check the journal reader's tests against:
every corpus's, every packaged filter's samples, and altered copies of them."""

from __future__ import annotations

import functools
import random
import re
import sys
from pathlib import Path

from journalban.matching.library import FilterLibrary

sys.path.insert(0, str(Path(__file__).parents[1] / "benchmarks"))

import corpora  # tests/benchmarks, put on the path above

SYSLOG = re.compile(r"^[A-Z][a-z]{2} [ \d]\d \d\d:\d\d:\d\d \S+ [^\s\[:]+(?:\[\d+\])?: (.+)$")


@functools.cache
def bare_messages() -> tuple[str, ...]:
    """Bare messages of every corpus, the filters' samples, and altered copies of them."""
    out: list[str] = []
    for name in corpora.CORPORA:
        for line, _ in corpora.flagged_lines(name, 1500):
            m = SYSLOG.match(line)
            out.append(m.group(1) if m else line)
    library = FilterLibrary(None)
    for name in library.names():
        for s in library.load(name).samples:
            m = SYSLOG.match(s.line)
            out.append(m.group(1) if m else s.line)
    rng = random.Random(19)
    for message in rng.sample(out, 400):
        at = rng.randrange(len(message) + 1)
        out += [message[:at], message[at:], message[:at] + "x" + message[at:], message + " \n"]
    return tuple(out)
