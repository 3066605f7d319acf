"""The lines of a syslog text a file reader's session table must look at, in order.

A line matters if it holds a session regex's literal, and, while the table is
idle (no session held, no count waiting), only if it could teach (it holds one
of the table's ``teach_marks``, a teach regex's start right after the tag):
any other line could neither teach, count nor end anything. sshd without
VERBOSE logging teaches nothing, yet a third of its lines hold an ``end``
literal ("Connection closed by ...") and one in fifty its teach literal inside
another message ("banner exchange: Connection from ...", no mark): while idle
the scan jumps from one mark to the next (``memmem`` in an ASCII text, see
``memfind``), and a line it passes over is neither cut out nor looked at; a
text without a mark costs one pass per mark.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from typing import Protocol

from journalban.matching.memfind import ascii_text


class _Table(Protocol):
    @property
    def idle(self) -> bool: ...

    @property
    def teach_marks(self) -> tuple[str, ...] | None: ...


def session_lines(table: _Table, text: str, literals: Sequence[str]) -> Iterator[str]:
    """The lines of ``text`` holding one of ``literals`` that ``table`` may use, each once,
    in order; lazily, as the table's state after each line decides what may follow."""
    scan = re.compile("|".join(re.escape(lit) for lit in literals))
    teach = table.teach_marks
    size = len(text)
    raw = None if teach is None else ascii_text(text)
    find = text.find if raw is None else raw.find
    pos = 0
    while pos < size:
        if teach is not None and table.idle:
            found = [i for lit in teach if (i := find(lit, pos)) >= 0]
            if not found:
                return
            pos = text.rfind("\n", 0, min(found)) + 1
        m = scan.search(text, pos)
        if m is None:
            return
        start = text.rfind("\n", 0, m.start()) + 1
        end = text.find("\n", m.end())
        if end < 0:
            end = size
        yield text[start:end]
        pos = end + 1
