"""How a catch-up is shared between the reader child and its helper: by entries, both ending together.

The child reads from the start up to a cut, the helper from the cut to the
end of the archived groups, and the child then the files still written to;
the cut may fall inside a file (on real files: tests/real/test_journal_split_cut.py).
"""

from __future__ import annotations

from journalban.sources.journalfiles import FileRange
from journalban.sources.journalsplit import Cut, Part, find_cut, parts_of

SOURCE = "0" * 32


def groups_of(*ranges: tuple[int, int]) -> list[list[FileRange]]:
    return [[FileRange(f"system@{i}.journal", SOURCE, a, b)] for i, (a, b) in enumerate(ranges)]


def test_the_cut_halves_the_entries_even_inside_one_file() -> None:
    assert find_cut(groups_of((1, 1000)), 1, 0, split_at=1) == Cut(0, 501)
    assert find_cut(groups_of((1, 1000), (1001, 2000)), 1, 0, split_at=1) == Cut(1, 1001)
    # Three files of different sizes: 3000 entries, 1500 each.
    assert find_cut(groups_of((1, 1000), (1001, 1200), (1201, 3000)), 1, 0, 1) == Cut(2, 1501)


def test_the_helper_reads_more_when_this_child_reads_on_after_the_groups() -> None:
    # 4000 archived entries and 1000 in the file still written to: 1500 + 1000 and 2500.
    assert find_cut(groups_of((1, 2000), (2001, 4000)), 1, 1000, 1) == Cut(0, 1501)
    # However much comes after, the helper reads at most every archived entry.
    assert find_cut(groups_of((1, 2000), (2001, 4000)), 1, 10**6, 1) == Cut(0, 1)


def test_entries_before_the_start_count_nothing() -> None:
    # Resuming at 1801: 200 + 1000 entries left, 600 each.
    assert find_cut(groups_of((1, 2000), (2001, 3000)), 1801, 0, 1) == Cut(1, 2401)


def test_a_short_catch_up_is_not_shared() -> None:
    assert find_cut(groups_of((1, 1000), (1001, 2000)), 1, 0, split_at=10**6) is None
    assert find_cut(groups_of((1, 1)), 1, 0, split_at=1) is None


def test_the_parts_in_order_the_child_up_to_the_cut_the_helper_after() -> None:
    groups = groups_of((1, 1000), (1001, 2000), (2001, 3000))
    files = [tuple(r.path for r in group) for group in groups]
    assert parts_of(groups, "START", Cut(1, 1501), "AT") == [
        Part(files[0], False, "START"),
        Part(files[1], False, None, "AT"),
        Part(files[1], True, "AT"),
        Part(files[2], True),
    ]
    # The cut in the first group: the child's part starts at the start and stops at the cut.
    assert parts_of(groups, "START", Cut(0, 500), "AT")[:2] == [
        Part(files[0], False, "START", "AT"),
        Part(files[0], True, "AT"),
    ]


def test_no_entry_of_the_jail_after_the_cut_leaves_that_group_to_the_child() -> None:
    groups = groups_of((1, 1000), (1001, 2000), (2001, 3000))
    files = [tuple(r.path for r in group) for group in groups]
    assert parts_of(groups, None, Cut(1, 1501), None) == [
        Part(files[0]),
        Part(files[1]),
        Part(files[2], True),
    ]
    assert parts_of(groups, "START", None, None) == [
        Part(files[0], False, "START"),
        Part(files[1]),
        Part(files[2]),
    ]
