"""The arithmetic of bench_bound.py: a floor's budget, the lowest wall, the verdict.

Pure functions of figures given (seconds of CPU or wall), tested in
tests/unit/test_bound_verdict.py; bench_bound.py measures the figures.
"""

from __future__ import annotations

from dataclasses import dataclass, field

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


@dataclass
class Cell:
    """One corpus and source: the budget's figures, the parts, the agent's own counts."""

    corpus: str
    source: str
    lines: int  # file lines, or the jail's journal entries
    c_seconds: float = 0.0  # journal: the C reader's time, the fastest run
    fail2ban_wall: float = 0.0  # 0: not known
    fail2ban_given: bool = False
    parts: dict[str, float] = field(default_factory=dict)  # a, b, c: CPU s, medians
    runs: dict[str, list[float]] = field(default_factory=dict)  # every timed run
    extra: dict[str, float] = field(default_factory=dict)  # measured beside, not in the bound
    failures: int = 0  # found by (b)
    bans: int = 0  # recorded by (c)
    agent_failed: int = -1
    agent_banned: int = -1
    agent_cpu: float = 0.0
    agent_wall: float = 0.0
    load: str = ""

    def verdicts(self) -> dict[str, Verdict]:
        bound = lowest_wall(self.parts)
        failures = self.failures  # every failure matched reaches the deciding stage
        out: dict[str, Verdict] = {}
        if self.fail2ban_wall:
            out[f"{FLOOR_F2B:.0f}x fail2ban"] = Verdict(
                budget_f2b(self.fail2ban_wall), bound, failures
            )
        if self.source == "journal" and self.c_seconds:
            out[f"{FLOOR_C:.0%} of C"] = Verdict(budget_c(self.c_seconds), bound, failures)
            with_c = lowest_wall({**self.parts, "a": self.c_seconds})
            out[f"{FLOOR_C:.0%} of C, reading in C"] = Verdict(
                budget_c(self.c_seconds), with_c, failures
            )
        return out


def given_walls(texts: list[str]) -> dict[tuple[str, str], float]:
    """``CORPUS:SOURCE=SECONDS`` figures of fail2ban-server's wall."""
    out: dict[tuple[str, str], float] = {}
    for text in texts:
        key, _, seconds = text.partition("=")
        corpus, _, source = key.partition(":")
        out[(corpus, source)] = float(seconds)
    return out


def cell_text(cell: Cell, signal_us: float) -> list[str]:
    p = cell.parts
    head = (f"  {cell.source}: {cell.lines:,} {'lines' if cell.source == 'file' else 'entries'}"
            f", (a) {p['a']:.3f} (b) {p['b']:.3f} (c) {p['c']:.4f} CPU s "
            f"-> bound {lowest_wall(p):.3f} s; failures {cell.failures:,} "
            f"(agent {cell.agent_failed:,}), bans {cell.bans:,} (agent {cell.agent_banned:,}, "
            f"signals {cell.agent_banned * signal_us / 1e6:.3f} s); C {cell.c_seconds:.3f} s, "
            f"fail2ban {cell.fail2ban_wall:.2f} s; extra {cell.extra}; load {cell.load}")  # fmt: skip
    return [head, *(f"    {name}: {v.text()}" for name, v in cell.verdicts().items())]


def tables(cells: list[Cell], signal_us: float) -> list[str]:
    parts = ["| corpus | source | lines or entries | (a) reading | (b) matching | (c) deciding "
             "| bound (a+b+c)/2 | failures (b) / agent | bans (c) / agent | signals (agent's bans) "
             "| agent's CPU / wall |", "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]  # fmt: skip
    verdicts = ["| corpus | source | floor | budget (wall) | bound | verdict | left | "
                "µs CPU per counted failure | left after signals |",
                "|---|---|---|---:|---:|---|---:|---:|---:|"]  # fmt: skip
    for c in cells:
        p = c.parts
        signals = c.agent_banned * signal_us / 1e6 if c.agent_banned > 0 else 0.0
        parts.append(
            f"| {c.corpus} | {c.source} | {c.lines:,} | {p['a']:.3f} | {p['b']:.3f} "
            f"| {p['c']:.4f} | {lowest_wall(p):.3f} | {c.failures:,} / {c.agent_failed:,} "
            f"| {c.bans:,} / {c.agent_banned:,} | {signals:.3f} "
            f"| {c.agent_cpu:.2f} / {c.agent_wall:.3f} |"
        )
        for name, v in c.verdicts().items():
            word = "feasible in principle" if v.feasible else "**infeasible**"
            after = v.left - signals / 2
            verdicts.append(
                f"| {c.corpus} | {c.source} | {name} | {v.budget:.3f} | {v.bound:.3f} | {word} "
                f"| {v.left:+.3f} s | {v.left_per_failure_us():.1f} | {after:+.3f} s |"
                if v.feasible else
                f"| {c.corpus} | {c.source} | {name} | {v.budget:.3f} | {v.bound:.3f} | {word} "
                f"| {v.left:+.3f} s | - | - |"
            )  # fmt: skip
    return [*parts, "", *verdicts]
