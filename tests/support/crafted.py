"""Crafted lines for the time suite: what a regex backtracks over, up to the line cap.

Every line is a prefix of a real sample (cut where a token starts or ends)
followed by a filler repeated up to the wanted size, and then either nothing
(the regex must give up) or the rest of the sample (the regex must find its
end after the filler). Fillers are whitespace, separators, address-like
pieces, the literal pieces of the regex itself (``: wrong password, IP: ``,
``host=``: what an ambiguous regex tries to place more than one way), and
whole copies of the sample's own tail.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from re import _constants as sre  # type: ignore[attr-defined]
from re import _parser as sre_parse  # type: ignore[attr-defined]
from typing import Any

from journalban.matching.dates import DateReader
from journalban.matching.prefix import AFTER_DATE, PRI, RFC5424, split_syslog

LINE_CAP = 64 * 1024  # the longest line TestLine takes; sources cut longer ones
BASIC_FILLERS = (
    " ", "\t", "a", "0", "-", ":", ", ", "=", "[", '"', "1.", "1:", "a.", "1.2.3.4 ", "a ",
)  # fmt: skip
_WORD = re.compile(r"\w")


def cut_points(text: str) -> list[int]:
    """Where a token starts or ends in ``text`` (and both ends)."""
    points = {0, len(text)}
    for i in range(1, len(text)):
        if bool(_WORD.match(text[i - 1])) != bool(_WORD.match(text[i])) or not text[i].isalnum():
            points.add(i)
    return sorted(points)


def regex_literals(pattern: str, shortest: int = 2) -> list[str]:
    """The runs of literal characters in a regex (what it matches only one way)."""
    runs: list[str] = []

    def walk(parsed: Any) -> None:
        run: list[str] = []
        for op, arg in parsed:
            if op is sre.LITERAL:
                run.append(chr(arg))
                continue
            if len(run) >= shortest:
                runs.append("".join(run))
            run = []
            if op is sre.SUBPATTERN:
                walk(arg[-1])
            elif op is sre.BRANCH:
                for branch in arg[1]:
                    walk(branch)
            elif op in (sre.MAX_REPEAT, sre.MIN_REPEAT, sre.POSSESSIVE_REPEAT):
                walk(arg[2])
            elif op in (sre.ASSERT, sre.ASSERT_NOT):
                walk(arg[1])
            elif op is sre.ATOMIC_GROUP:
                walk(arg)
        if len(run) >= shortest:
            runs.append("".join(run))

    walk(sre_parse.parse(pattern))
    return sorted(set(runs))


def message_of(line: str) -> tuple[str, str]:
    """``(head, message)``: a sample line split where the filter's regexes start.

    As ``LineMatcher`` splits it: a syslog priority, an RFC 5424 header, a
    date, the syslog host and ident.
    """
    rest = line
    if rest.startswith("<"):
        m5424 = RFC5424.match(rest)
        if m5424 is not None:
            return rest[: m5424.end()], rest[m5424.end() :]
        mpri = PRI.match(rest)
        if mpri is not None:
            rest = rest[mpri.end() :]
    date = DateReader(lambda: 1_800_000_000.0).find(rest)
    if date is not None and date.start == 0:
        rest = rest[date.end :]
        rest = rest[AFTER_DATE.match(rest).end() :]  # type: ignore[union-attr]
    _, message = split_syslog(rest)
    return line[: len(line) - len(message)], message


def padded(prefix: str, filler: str, size: int, tail: str = "") -> str:
    """``prefix``, ``filler`` repeated, then ``tail``: ``size`` characters at most."""
    room = max(0, size - len(prefix) - len(tail))
    return prefix + (filler * (room // len(filler) + 1))[:room] + tail


def crafted(text: str, size: int, extra_fillers: tuple[str, ...] = ()) -> Iterator[tuple[str, str]]:
    """``(description, line)`` pairs built from ``text`` (a sample line or message)."""
    fillers = (*BASIC_FILLERS, *extra_fillers)
    for cut in cut_points(text):
        prefix, rest = text[:cut], text[cut:]
        for filler in (*fillers, rest) if rest else fillers:
            shown = filler if len(filler) <= 24 else filler[:21] + "..."
            yield f"{prefix[-40:]!r} + {shown!r}*", padded(prefix, filler, size)
            if rest and filler != rest:
                yield f"{prefix[-40:]!r} + {shown!r}* + rest", padded(prefix, filler, size, rest)
