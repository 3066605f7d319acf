"""bench_bound.py's arithmetic (bound_verdict) and its pure helpers, with figures given."""

from __future__ import annotations

import math
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parents[1] / "benchmarks"))

import bench_bound
from bound_verdict import Cell, Verdict, budget_c, budget_f2b, given_walls, lowest_wall, signals_cpu


def test_budgets_are_the_walls_the_floors_allow() -> None:
    assert budget_f2b(9.0) == pytest.approx(0.3)  # 30x faster than 9 s
    assert budget_c(0.2) == pytest.approx(0.25)  # 80% of the C reader's rate: 1/0.8 its time
    assert budget_f2b(9.0, floor=20.0) == pytest.approx(0.45)


def test_lowest_wall_spreads_the_sum_over_the_cores() -> None:
    assert lowest_wall({"a": 0.2, "b": 0.1, "c": 0.02}) == pytest.approx(0.16)
    assert lowest_wall({"a": 0.2, "b": 0.1, "c": 0.02}, cores=1) == pytest.approx(0.32)


def test_lowest_wall_is_never_under_a_part_that_cannot_be_split() -> None:
    parts = {"a": 0.5, "b": 0.1, "c": 0.02}
    assert lowest_wall(parts, frozenset({"a"})) == pytest.approx(0.5)
    assert lowest_wall(parts, frozenset({"c"})) == pytest.approx(0.31)


def test_verdict_infeasible_when_the_bound_reaches_the_budget() -> None:
    v = Verdict(budget=0.3, bound=0.45, failures=60_000)
    assert not v.feasible
    assert v.left == pytest.approx(-0.15)
    assert v.text().startswith("infeasible for any Python agent")
    assert "1.50x the budget" in v.text()
    assert not Verdict(budget=0.3, bound=0.3, failures=1).feasible  # no time left at all


def test_verdict_feasible_gives_what_is_left_per_failure() -> None:
    v = Verdict(budget=0.3, bound=0.1, failures=40_000)
    assert v.feasible
    assert v.left == pytest.approx(0.2)
    # 0.2 s of wall on two cores is 0.4 CPU s; over 40,000 failures, 10 µs each
    assert v.left_per_failure_us() == pytest.approx(10.0)
    assert v.left_per_failure_us(cores=1) == pytest.approx(5.0)
    assert "0.200 s left" in v.text()
    assert "10.0 µs" in v.text()


def test_verdict_without_failures() -> None:
    assert math.isinf(Verdict(0.3, 0.1, 0).left_per_failure_us())
    assert Verdict(0.1, 0.3, 0).left_per_failure_us() == 0.0


def test_signals_cpu() -> None:
    assert signals_cpu(55_000, 6.0) == pytest.approx(0.33)


def test_cell_verdicts_per_floor() -> None:
    cell = Cell("sshd-flood", "journal", 300_000, c_seconds=0.25, fail2ban_wall=19.5,
                            parts={"a": 0.3, "b": 0.2, "c": 0.04}, failures=150_000)  # fmt: skip
    verdicts = cell.verdicts()
    assert set(verdicts) == {"30x fail2ban", "80% of C", "80% of C, reading in C"}
    assert verdicts["30x fail2ban"].budget == pytest.approx(0.65)
    assert verdicts["30x fail2ban"].bound == pytest.approx(0.27)
    assert verdicts["80% of C"].budget == pytest.approx(0.3125)
    # reading done by the C reader instead: (0.25 + 0.2 + 0.04) / 2
    assert verdicts["80% of C, reading in C"].bound == pytest.approx(0.245)
    file_cell = Cell("sshd", "file", 300_000, parts={"a": 0.01, "b": 0.1, "c": 0.0})
    assert file_cell.verdicts() == {}  # no fail2ban figure: no verdict


def test_decide_records_an_address_once_at_the_count() -> None:
    hosts = ["a"] * 7 + ["b"] * 4 + ["c"] * 5
    assert bench_bound.decide(hosts, maxretry=5) == ["a", "c"]


def test_given_walls() -> None:
    assert given_walls(["sshd:file=8.5", "sshd-flood:journal=19.25"]) == {
        ("sshd", "file"): 8.5,
        ("sshd-flood", "journal"): 19.25,
    }


def test_text_batches_keep_every_line_once() -> None:
    lines = [f"line {n} " + "x" * (n % 50) for n in range(20_000)]
    data = ("\n".join(lines) + "\n").encode()
    old = bench_bound.BATCH_BYTES
    bench_bound.BATCH_BYTES = 4096
    try:
        batches = bench_bound.text_batches(data)
    finally:
        bench_bound.BATCH_BYTES = old
    assert len(batches) > 10
    assert [line for text, _ in batches for line in text.split("\n")] == lines
    assert sum(count for _, count in batches) == len(lines)


def test_the_two_ways_of_matching_messages_agree() -> None:
    """The journal's (b) takes the cheaper of two ways: both give the same failures."""
    messages = [
        "Failed password for root from 192.0.2.7 port 22 ssh2",
        "Accepted publickey for alice from 198.51.100.3 port 4242 ssh2: ED25519 SHA256:x",
        "Invalid user admin from 2001:db8::5 port 1234",
        "Connection closed by authenticating user bob 203.0.113.9 port 22 [preauth]",
        "pam_unix(sshd:session): session opened for user alice(uid=1000) by (uid=0)",
    ] * 3
    matcher = bench_bound.new_matcher("sshd")
    batched = bench_bound.match_messages_batched(matcher, messages)
    assert batched == bench_bound.match_messages_each(matcher, messages)
    assert "192.0.2.7" in batched
    assert "198.51.100.3" not in batched
