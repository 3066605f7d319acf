"""What /proc says of a test's processes: a process's children, and whether it still runs."""

from __future__ import annotations

from pathlib import Path


def child_pids(pid: int) -> list[int]:
    """The pids of ``pid``'s children (its main thread's), [] when it is gone."""
    try:
        return [int(p) for p in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    except OSError:
        return []


def pid_alive(pid: int) -> bool:
    """``pid`` runs: it exists and is not a zombie waiting to be reaped."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"
