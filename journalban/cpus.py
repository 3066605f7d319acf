"""How many CPUs this process may really use: its affinity and its cgroup's CPU quota.

A second reader process (the file split's helper, the journal catch-up's
helper, ``journalban regex``'s jobs) pays only with a second CPU to run on.
``os.cpu_count()`` counts the host's; a container or a unit with ``CPUQuota=``
(cgroup v2 ``cpu.max``, v1 ``cpu.cfs_quota_us``) may run on all of them and
still get one CPU's time in all: two processes then share it, and each
hand-over between them waits for the other's turn. The quota of every cgroup
from this process's up to its hierarchy's root counts (the smallest bounds);
a quota of 1.5 CPUs is one usable CPU. Only the standard library: the reader
children import this.
"""

from __future__ import annotations

import math
import os
from pathlib import Path

PROC_SELF = Path("/proc/self")


def usable_cpus(proc: Path = PROC_SELF) -> int:
    """The CPUs this process may use at once: at least 1."""
    try:
        cpus = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        cpus = os.cpu_count() or 1
    quota = quota_cpus(proc)
    if quota is not None:
        cpus = min(cpus, max(1, math.floor(quota)))
    return max(1, cpus)


def quota_cpus(proc: Path = PROC_SELF) -> float | None:
    """The smallest CPU quota (CPUs: quota / period) on this process's cgroup path; None
    when there is none or it cannot be read."""
    try:
        groups = (proc / "cgroup").read_text()
        mounts = (proc / "mountinfo").read_text()
    except OSError:
        return None
    found: list[float] = []
    for directory, top, v2 in cpu_directories(groups, mounts):
        found.extend(_quotas_up(directory, top, v2))
    return min(found) if found else None


def cpu_directories(groups: str, mounts: str) -> list[tuple[Path, Path, bool]]:
    """(this process's cgroup directory, the hierarchy's mount point, cgroup v2) of each
    hierarchy with the cpu controller."""
    paths: dict[bool, str] = {}  # v2 (the "0::" line) or v1's cpu hierarchy -> cgroup path
    for line in groups.splitlines():
        number, _, rest = line.partition(":")
        controllers, _, path = rest.partition(":")
        if number == "0" and controllers == "":
            paths[True] = path
        elif "cpu" in controllers.split(","):
            paths[False] = path
    found = []
    for line in mounts.splitlines():
        fields = line.split()
        if "-" not in fields:
            continue
        tail = fields[fields.index("-") + 1 :]
        if len(fields) < 5 or len(tail) < 3:
            continue
        root, point, fstype, options = fields[3], fields[4], tail[0], tail[2].split(",")
        if fstype == "cgroup2":
            v2 = True
        elif fstype == "cgroup" and "cpu" in options:
            v2 = False
        else:
            continue
        mine = paths.get(v2)
        if mine is None:
            continue
        # The mount shows the hierarchy from ``root`` (a container's own cgroup, often).
        under = mine == root or mine.startswith(root.rstrip("/") + "/")
        inside = mine[len(root) :] if under else ""
        top = Path(_unescape(point))
        found.append((top / inside.lstrip("/"), top, v2))
        paths.pop(v2)  # (one mount of each hierarchy is enough)
    return found


def _unescape(field: str) -> str:
    """A mountinfo field: space, tab, newline and backslash escaped in octal."""
    for code, char in (("\\040", " "), ("\\011", "\t"), ("\\012", "\n"), ("\\134", "\\")):
        field = field.replace(code, char)
    return field


def _quotas_up(directory: Path, top: Path, v2: bool) -> list[float]:
    """The quotas (CPUs) of ``directory`` and its parents up to ``top`` that can be read."""
    found = []
    for level in (directory, *directory.parents):
        if not level.is_relative_to(top):
            break
        quota = _quota(level, v2)
        if quota is not None:
            found.append(quota)
    return found


def _quota(directory: Path, v2: bool) -> float | None:
    try:
        if v2:
            text = (directory / "cpu.max").read_text().split()
            quota, period = text[0], text[1]
        else:
            quota = (directory / "cpu.cfs_quota_us").read_text().strip()
            period = (directory / "cpu.cfs_period_us").read_text().strip()
        if quota in ("max", "-1"):
            return None
        value, length = int(quota), int(period)
    except (OSError, ValueError, IndexError):
        return None
    return value / length if value > 0 and length > 0 else None
