"""``journalban.cpus.usable_cpus`` counts the CPU quota of a real cgroup the test makes.

The reader children fork a helper for a large backlog only with two usable CPUs
(agent/filesplit.py, sources/journalworker.py); a unit or container with a quota
of 1.5 CPUs on a larger host has one. A Python process started inside the cgroup
(v2 ``cpu.max`` or v1 ``cpu.cfs_quota_us``, whichever this host has) answers.
"""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from support.cgroup import cpu_quota, wrapper

ASK = [sys.executable, "-c", "from journalban.cpus import usable_cpus; print(usable_cpus())"]


def _affinity() -> int:
    return len(os.sched_getaffinity(0))


@pytest.mark.parametrize(("cpus", "usable"), [(1.5, 1), (0.5, 1), (64.0, None)])
def test_a_quota_bounds_the_usable_cpus(cpus: float, usable: int | None) -> None:
    with cpu_quota(cpus, "usable") as group:
        out = subprocess.run([*wrapper(group), *ASK], capture_output=True, text=True, check=True)
    # (a quota above the CPUs the process may run on leaves their count)
    assert int(out.stdout) == (usable if usable is not None else _affinity())


def test_without_a_quota_every_cpu_of_the_affinity_counts() -> None:
    out = subprocess.run(ASK, capture_output=True, text=True, check=True)
    assert int(out.stdout) == _affinity()
