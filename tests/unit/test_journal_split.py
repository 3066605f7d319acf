"""How a catch-up is shared between the reader child and its helper: by size, both ending together."""

from __future__ import annotations

from pathlib import Path

from journalban.sources.journalworker import split_groups


def groups_of(tmp_path: Path, sizes: list[int]) -> list[list[str]]:
    groups = []
    for i, size in enumerate(sizes):
        path = tmp_path / f"system@{i}.journal"
        path.write_bytes(b"x" * size)
        groups.append([str(path)])
    return groups


def test_the_helper_reads_half(tmp_path: Path) -> None:
    groups = groups_of(tmp_path, [1000] * 6)
    mine, helper = split_groups(groups, split_at=1)
    assert (mine, helper) == (groups[:3], groups[3:])


def test_the_helper_reads_more_when_this_child_reads_on_after_its_groups(tmp_path: Path) -> None:
    groups = groups_of(tmp_path, [1000] * 6)
    # 2000 bytes still written to, read by this child after the catch-up: 3000 + 5000 / 2.
    mine, helper = split_groups(groups, split_at=1, extra=2000)
    assert (mine, helper) == (groups[:2], groups[2:])
    # However much comes after, this child reads one group and the helper one at least.
    assert split_groups(groups, split_at=1, extra=10**6) == (groups[:1], groups[1:])
    assert split_groups(groups[:2], split_at=1) == (groups[:1], groups[1:2])


def test_a_short_catch_up_is_not_split(tmp_path: Path) -> None:
    groups = groups_of(tmp_path, [1000] * 6)
    assert split_groups(groups, split_at=10**6) == (groups, [])
    assert split_groups(groups[:1], split_at=1) == (groups[:1], [])
