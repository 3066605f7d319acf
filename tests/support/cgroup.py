"""A cgroup with a CPU quota, made by a test under its own process's cgroup.

cgroup v2 (``cpu.max``, where the parent hands its children the cpu
controller) or v1's cpu hierarchy (``cpu.cfs_quota_us``): whichever this host
mounts. Processes started through ``wrapper`` run inside it; it is removed at
the end (its processes must have ended).
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from pathlib import Path

from journalban.cpus import PROC_SELF, cpu_directories
from support.real import missing_real, need_root

PERIOD = 100_000


@contextlib.contextmanager
def cpu_quota(cpus: float, name: str) -> Iterator[Path]:
    """A new cgroup allowed ``cpus`` CPUs of time; its directory."""
    need_root()
    groups = (PROC_SELF / "cgroup").read_text()
    mounts = (PROC_SELF / "mountinfo").read_text()
    made: Path | None = None
    for mine, _top, v2 in cpu_directories(groups, mounts):
        if v2 and "cpu" not in (mine / "cgroup.subtree_control").read_text().split():
            continue  # (this host's v2 hierarchy gives its children no cpu controller)
        made = mine / f"journalban-test-{name}-{os.getpid()}"
        made.mkdir()
        quota = str(int(cpus * PERIOD))
        if v2:
            (made / "cpu.max").write_text(f"{quota} {PERIOD}")
        else:
            (made / "cpu.cfs_period_us").write_text(str(PERIOD))
            (made / "cpu.cfs_quota_us").write_text(quota)
        break
    if made is None:
        missing_real("no cgroup hierarchy with the cpu controller to make a quota in")
    try:
        yield made
    finally:
        made.rmdir()


def wrapper(group: Path) -> list[str]:
    """A command prefix running the rest of the command inside ``group``."""
    return ["sh", "-c", f'echo $$ > "{group}/cgroup.procs" && exec "$@"', "sh"]


@contextlib.contextmanager
def inside(group: Path) -> Iterator[None]:
    """This (test) process in ``group`` (one ``cpu_quota`` made) meanwhile, and the processes
    it starts; then back in the cgroup it was in, the group's parent."""
    (group / "cgroup.procs").write_text(str(os.getpid()))
    try:
        yield
    finally:
        (group.parent / "cgroup.procs").write_text(str(os.getpid()))
