"""bench_agent.median_run: of two timed runs, the slower (issue 19, audit).

bench_agent_corpora times journalban twice and fail2ban-server once; the upper
middle of two was journalban's faster run, a best of two against the peer's one.
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parents[1] / "benchmarks"))

from bench_agent import Run, median_run


def _run(wall: float, memory: bool = False) -> Run:
    return Run("journalban", "file", 300_000, wall, 0.5, 0.5, 0.0, 0.0, 1, 1, "0 0 0",
               memory=memory)  # fmt: skip


def test_of_two_runs_the_slower_is_taken() -> None:
    found = median_run([_run(0.30), _run(0.40)])
    assert found is not None
    assert found.wall == 0.40


def test_of_three_runs_the_middle_is_taken_and_memory_runs_are_left_out() -> None:
    found = median_run([_run(0.30), _run(0.50), _run(0.40), _run(0.10, memory=True)])
    assert found is not None
    assert found.wall == 0.40
