"""How a catch-up is shared between the reader child and its helper: by size, alternating, both ending together."""

from __future__ import annotations

from pathlib import Path

from journalban.sources.journalworker import share_groups


def groups_of(tmp_path: Path, sizes: list[int]) -> list[list[str]]:
    groups = []
    for i, size in enumerate(sizes):
        path = tmp_path / f"system@{i}.journal"
        path.write_bytes(b"x" * size)
        groups.append([str(path)])
    return groups


def test_the_two_take_turns_and_read_half_each(tmp_path: Path) -> None:
    groups = groups_of(tmp_path, [1000] * 6)
    assert share_groups(groups, split_at=1) == [False, True, False, True, False, True]


def test_the_helper_reads_more_when_this_child_reads_on_after_the_groups(tmp_path: Path) -> None:
    groups = groups_of(tmp_path, [1000] * 6)
    # 2000 bytes still written to, read by this child after the catch-up: 2000 + 2000 and 4000.
    assert share_groups(groups, split_at=1, extra=2000) == [False, True, True, False, True, True]
    # However much comes after, this child reads the first group.
    assert share_groups(groups, split_at=1, extra=10**6) == [False] + [True] * 5


def test_sizes_decide_not_counts(tmp_path: Path) -> None:
    groups = groups_of(tmp_path, [4000, 1000, 1000, 1000, 1000])
    assert share_groups(groups, split_at=1) == [False, True, True, True, True]


def test_a_short_catch_up_is_not_shared(tmp_path: Path) -> None:
    groups = groups_of(tmp_path, [1000] * 6)
    assert share_groups(groups, split_at=10**6) == [False] * 6
    assert share_groups(groups[:1], split_at=1) == [False]
    assert share_groups(groups[:2], split_at=1) == [False, True]
