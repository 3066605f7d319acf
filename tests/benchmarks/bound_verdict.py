"""The arithmetic of bench_bound.py: a floor's budget, the lowest wall, the verdict.

Pure functions of figures given (seconds of CPU or wall), tested in
tests/unit/test_bound_verdict.py; bench_bound.py measures the figures.
"""

from __future__ import annotations

from dataclasses import dataclass

CORES = 2
FLOOR_F2B = 30.0  # the agent at least 30x fail2ban-server (issue 19)
FLOOR_C = 0.8  # journal throughput at least 80% of the minimal C reader's


def budget_f2b(fail2ban_wall: float, floor: float = FLOOR_F2B) -> float:
    """The agent's wall that ``floor`` times faster than fail2ban-server allows."""
    return fail2ban_wall / floor


def budget_c(c_seconds: float, floor: float = FLOOR_C) -> float:
    """The agent's wall that a throughput of ``floor`` times the C reader's allows (same
    entries: a rate ``floor`` times as high is a wall 1/``floor`` times as long)."""
    return c_seconds / floor


def lowest_wall(parts: dict[str, float], unsplittable: frozenset[str] = frozenset(),
                cores: int = CORES) -> float:  # fmt: skip
    """The lowest wall the parts' CPU seconds allow on ``cores``: their sum spread evenly,
    and never less than the largest part that cannot be split across processes."""
    whole = max((parts[name] for name in unsplittable), default=0.0)
    return max(sum(parts.values()) / cores, whole)


@dataclass(frozen=True)
class Verdict:
    """One floor on one cell: the budget, the bound, what is left."""

    budget: float  # the wall the floor allows
    bound: float  # the lowest wall any agent doing the parts could reach
    failures: int  # failures the agent counts on the cell

    @property
    def feasible(self) -> bool:
        return self.bound < self.budget

    @property
    def left(self) -> float:
        """Wall left for detectors, commit and signals (negative: over the budget)."""
        return self.budget - self.bound

    def left_per_failure_us(self, cores: int = CORES) -> float:
        """The CPU the leftover wall gives each counted failure, in µs, with every core busy
        throughout (the most it can be)."""
        if self.failures <= 0:
            return float("inf") if self.left > 0 else 0.0
        return self.left * cores / self.failures * 1e6

    def text(self) -> str:
        if not self.feasible:
            return (f"infeasible for any Python agent (the bound {self.bound:.3f} s is "
                    f"{self.bound / self.budget:.2f}x the budget {self.budget:.3f} s)")  # fmt: skip
        return (f"feasible in principle, with {self.left:.3f} s left for detectors, commit and "
                f"signals ({self.left_per_failure_us():.1f} µs of CPU per counted failure)")  # fmt: skip


def signals_cpu(bans: int, per_signal_us: float) -> float:
    """CPU seconds of one ``Banned`` D-Bus signal per ban (what the D-Bus API adds)."""
    return bans * per_signal_us / 1e6
