"""A journal catch-up under a CPU quota of one CPU is read by the reader child alone.

The child forks a helper for a large catch-up (sources/journalworker.py) so that
both cores read; with one CPU's time (a unit's ``CPUQuota=100%``, a container's
``cpu.max``) on a host of several, the helper only takes turns with the child on
it. Real parts: journal files from journal-remote rotated on a small tmpfs, the
real reader child process (``JournalSource``), a real cgroup with the quota that
the test runs the source in; the same catch-up outside it forks the helper.
"""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

import pytest
from test_journal_child import small_fs, take_read, wait_entries
from test_journal_source import make_source, messages, stays_quiet

from journalban.cpus import usable_cpus
from journalban.events import LineBatch
from support.cgroup import cpu_quota, inside
from support.journal import JournalWriter, sshd_fields

pytestmark = [
    pytest.mark.real,
    pytest.mark.skipif(len(os.sched_getaffinity(0)) < 2, reason="needs a host of two CPUs"),
]
__all__ = ["small_fs"]  # a fixture used here
TOTAL = 6000


def _read_all(directory: Path) -> tuple[list[LineBatch], int]:
    """Every entry through a real reader child told to split any catch-up; the helpers
    it forked."""

    async def scenario() -> tuple[list[LineBatch], int]:
        source = make_source(directory, batch_size=700, reopen_every=1000, split_at=1)
        batches = source.batches()
        got = [await anext(batches)]
        helpers = len(source.child_pids) - 1
        got += await take_read(batches, TOTAL + 2 - got[0].count, within=20)
        assert await stays_quiet(batches)
        source.close()
        return got, helpers

    return asyncio.run(scenario())


@pytest.mark.parametrize("quota", [1.0, None], ids=["one CPU's quota", "no quota"])
def test_a_quota_of_one_cpu_reads_the_catch_up_without_a_helper(
    small_fs: Path, quota: float | None
) -> None:
    with JournalWriter(small_fs) as writer:
        writer.write([sshd_fields(f"line {i}") for i in range(TOTAL)])
        writer.write([sshd_fields("live 0"), sshd_fields("live 1")])
        wait_entries(small_fs, TOTAL + 2)
        if quota is None:
            got, helpers = _read_all(small_fs)
        else:
            with cpu_quota(quota, "journal") as group, inside(group):
                assert usable_cpus() == 1
                got, helpers = _read_all(small_fs)
    assert messages(got) == [f"line {i}" for i in range(TOTAL)] + ["live 0", "live 1"]
    assert helpers == (0 if quota is not None else 1)
