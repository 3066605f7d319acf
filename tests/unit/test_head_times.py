"""A line head's time (matching.heads): the caches of hours and minutes give what converting
each date on its own gives, and count the same hits."""

from __future__ import annotations

import random

import pytest

from journalban.matching.dates import DateMatch, DateReader
from journalban.matching.heads import HeadReader

NOW = 1_800_000_000.0  # 2027-01-15

MONTHS = ("Jan", "Feb", "Mar", "Oct", "Nov", "Dec")
# The formats ``dates`` writes.
FORMATS = ["Syslog", "Syslog year", "Syslog bracketed", "ISO", "ISO zone", "ISO fraction"]


def dates(fmt: str, rng: random.Random) -> list[str]:
    """Dates of one format: runs within a minute, across minutes, hours and days."""
    out = []
    for _ in range(400):
        mon, day = rng.choice(MONTHS[:3]), rng.randint(1, 3)
        hour, minute = rng.choice((0, 1, 2, 23)), rng.choice((0, 1, 59))
        for second in sorted(rng.sample(range(60), 3)):
            if fmt == "Syslog":
                out.append(f"{mon} {day:2} {hour:02}:{minute:02}:{second:02}")
            elif fmt == "Syslog year":
                out.append(f"{mon} {day:2} {hour:02}:{minute:02}:{second:02} 2026")
            elif fmt == "Syslog bracketed":
                out.append(f"[{mon} {day:2} {hour:02}:{minute:02}:{second:02}]")
            elif fmt == "ISO":
                out.append(f"2026-0{1 + day}-1{day}T{hour:02}:{minute:02}:{second:02}")
            elif fmt == "ISO zone":
                out.append(f"2026-0{1 + day}-1{day}T{hour:02}:{minute:02}:{second:02}+0{day}:00")
            elif fmt == "ISO fraction":
                out.append(f"2026-0{1 + day}-1{day} {hour:02}:{minute:02}:{second:02}.{second}5")
    return out


def settled(fmt: str) -> tuple[list[str], HeadReader, DateMatch]:
    """Lines of ``fmt``'s dates, and a head reader settled on the format its first line
    was found in (and that finding)."""
    lines = [f"{d} host sshd[1]: Failed password" for d in dates(fmt, random.Random(fmt))]
    reader = HeadReader(DateReader(lambda: NOW))
    found = reader.dates.find(lines[0])
    assert found is not None
    reader.settle(found.format)
    assert reader.regex is not None
    return lines, reader, found


@pytest.mark.parametrize("fmt", FORMATS)
def test_cached_times_are_the_dates_converted_one_by_one(fmt: str) -> None:
    lines, cached, name = settled(fmt)
    assert cached.regex is not None
    got, want, hits = [], [], cached.dates.hits.get(name.format, 0)  # find() counted one
    for line in lines:
        m = cached.regex.match(line)
        assert m is not None
        got.append(cached.time(m))
        fresh = HeadReader(DateReader(lambda: NOW))
        fresh.settle(name.format)
        assert fresh.regex is not None
        want.append(fresh.time(fresh.regex.match(line)))  # type: ignore[arg-type]
        hits += fresh.dates.hits.get(name.format, 0)
    assert got == want
    assert all(isinstance(t, float) for t in got)
    assert cached.dates.hits[name.format] == hits == len(lines) + 1


@pytest.mark.parametrize("fmt", FORMATS)
def test_the_date_group_opens_every_head_match(fmt: str) -> None:
    """``LineMatcher._text_hits`` takes a minute's text from the line's start (where it
    matched the fused regex, the head first), not from the date group's own start: the
    two are the same for every head, matched at a line inside a text."""
    lines, reader, _ = settled(fmt)
    assert reader.regex is not None
    assert reader.regex.pattern.startswith("(?P<jbdate>")
    text = "\n".join(lines)
    start = 0
    for line in lines:
        m = reader.regex.match(text, start, start + len(line))
        assert m is not None
        assert m.start("jbdate") == start
        start += len(line) + 1
