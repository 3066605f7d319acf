"""A process's descendants, from /proc (each task's ``children``), for the benchmarks."""

from __future__ import annotations

import os


def descendants(pid: int) -> list[int]:
    """Every live descendant of ``pid`` (not ``pid``): children, their children..."""
    found: list[int] = []
    parents = [pid]
    while parents:
        parent = parents.pop()
        try:
            tasks = os.listdir(f"/proc/{parent}/task")
        except FileNotFoundError:
            continue
        for task in tasks:
            try:
                with open(f"/proc/{parent}/task/{task}/children") as f:
                    kids = [int(p) for p in f.read().split()]
            except FileNotFoundError:
                continue
            found += kids
            parents += kids
    return found
