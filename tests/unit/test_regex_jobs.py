"""`journalban regex`'s summary counted by several processes equals the single pass."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any

import pytest

from journalban.cli.regex import _count_range, count_file
from journalban.cli.regexjobs import MIN_BYTES, count_parts, cut_points, jobs_for
from journalban.matching.engine import CompiledFilter, LineMatcher
from journalban.matching.library import FilterLibrary

sys.path.insert(0, str(Path(__file__).parents[1] / "benchmarks"))

import corpora

NOW = 1_800_000_000.0


def summary(path: Path, filt: str, jobs: int) -> tuple[Any, ...]:
    matcher = LineMatcher(CompiledFilter(FilterLibrary(None).load(filt)), lambda: NOW)
    tally = count_file(matcher, path, jobs)
    hits = sorted(tally.regex_hits.items())
    return tally.lines, tally.matched, tally.ignored, hits, dict(matcher.dates.hits)


@pytest.mark.parametrize("name", sorted(corpora.CORPORA))
def test_parts_count_what_one_pass_counts(name: str, tmp_path: Path) -> None:
    # 3 MiB or so: the first MiB in the process, the rest in parts.
    path = tmp_path / "log"
    corpora.write_corpus(name, path, 25_000)
    filt = corpora.CORPORA[name].filter
    one = summary(path, filt, 1)
    assert one[1] > 0
    for jobs in (2, 3, 5):
        assert summary(path, filt, jobs) == one, jobs


def test_odd_files(tmp_path: Path) -> None:
    line = "Nov 21 10:00:01 host sshd[1]: Failed password for root from 203.0.113.5 port 1 ssh2"
    other = "Nov 21 10:00:02 host sshd[1]: Connection closed by 203.0.113.6 port 2 [preauth]"
    long_user = line.replace("root", "r" * 3_000_000)  # a line longer than a chunk, cut inside
    texts = {
        "empty": "",
        "no newline at the end": "\n".join([line, other] * 60_000),
        "one long line": "\n".join([other] * 40_000 + [long_user] + [line] * 40_000) + "\n",
        "blank lines": ("\n" * 1000 + line + "\n") * 3000,
    }
    for what, text in texts.items():
        path = tmp_path / "log"
        path.write_text(text)
        one = summary(path, "sshd", 1)
        for jobs in (2, 4):
            assert summary(path, "sshd", jobs) == one, (what, jobs)


def test_several_date_formats_are_counted_in_one_pass(tmp_path: Path) -> None:
    syslog = "Nov 21 10:00:01 host sshd[1]: Failed password for root from 203.0.113.5 port 1 ssh2"
    iso = "2026-11-21T10:00:01+01:00 host sshd[1]: Failed password for root from 203.0.113.7 port 1 ssh2"
    path = tmp_path / "log"
    path.write_text("\n".join([syslog] * 40_000 + [iso] * 40_000) + "\n")
    one = summary(path, "sshd", 1)
    assert len(one[4]) == 2
    assert summary(path, "sshd", 3) == one


def test_cut_points_start_lines_and_cover_the_file(tmp_path: Path) -> None:
    path = tmp_path / "log"
    path.write_bytes(b"".join(b"x" * (n % 97) + b"\n" for n in range(20_000)))
    data = path.read_bytes()
    start = data.index(b"\n", 5000) + 1
    for parts in (1, 2, 3, 7):
        points = cut_points(path, parts, start)
        assert points[0] == start
        assert points == sorted(set(points))
        assert all(data[p - 1 : p] == b"\n" for p in points[1:])
        assert len(points) <= parts


def test_a_failed_child_is_counted_by_the_parent(tmp_path: Path) -> None:
    path = tmp_path / "log"
    corpora.write_corpus("sshd", path, 20_000)
    parent = os.getpid()
    matcher = LineMatcher(CompiledFilter(FilterLibrary(None).load("sshd")), lambda: NOW)

    def count(m: LineMatcher, p: Path, start: int, stop: int | None) -> dict[str, Any]:
        if os.getpid() != parent:
            raise RuntimeError("child fails")
        return _count_range(m, p, start, stop)

    total = count_parts(matcher, path, 3, count)
    assert total["lines"] == 20_000
    assert total["matched"] == summary(path, "sshd", 1)[1]


def test_small_files_take_one_process() -> None:
    assert jobs_for(MIN_BYTES - 1) == 1
    assert jobs_for(1 << 30) >= 1
