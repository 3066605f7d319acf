"""How a catch-up is shared between the reader child and its helper: by entries, in alternating turns.

The child reads its turns and then the files still written to, the helper the
rest; both shares are equal in entries, and the turns cut files where they
must (on real files: tests/real/test_journal_split_cut.py).
"""

from __future__ import annotations

from journalban.sources import journalsplit
from journalban.sources.journalfiles import FileRange
from journalban.sources.journalsplit import Part, parts_of, seqnum_cursor, turns

SOURCE = "0" * 32


def groups_of(*ranges: tuple[int, int]) -> list[list[FileRange]]:
    return [[FileRange(f"system@{i}.journal", SOURCE, a, b)] for i, (a, b) in enumerate(ranges)]


def shares(found: list[tuple[int, int, bool]]) -> tuple[int, int]:
    return (
        sum(b - a for a, b, helped in found if not helped),
        sum(b - a for a, b, helped in found if helped),
    )


def test_the_turns_alternate_cover_everything_once_and_halve_it() -> None:
    found = turns(200_000, 0, split_at=1)
    assert [helped for _, _, helped in found] == [False, True] * journalsplit.TURNS
    assert [a for a, _, _ in found[1:]] == [b for _, b, _ in found[:-1]]
    assert (found[0][0], found[-1][1]) == (0, 200_000)
    assert shares(found) == (100_000, 100_000)


def test_the_helper_reads_more_when_this_child_reads_on_after_the_round() -> None:
    # 200,000 entries in the round and 40,000 after it: 80,000 + 40,000 and 120,000.
    assert shares(turns(200_000, 40_000, split_at=1)) == (80_000, 120_000)
    # However much comes after, the helper reads at most the whole round.
    assert turns(200_000, 10**6, split_at=1) == [(0, 200_000, True)]


def test_short_turns_are_fewer() -> None:
    assert turns(1000, 0, split_at=1) == [(0, 500, False), (500, 1000, True)]


def test_a_short_catch_up_is_not_shared() -> None:
    assert turns(1000, 0, split_at=10**6) == [(0, 1000, False)]
    assert turns(1, 0, split_at=1) == [(0, 1, False)]


def test_parts_are_cut_inside_files_at_sequence_numbers() -> None:
    groups = groups_of((1, 600), (601, 1000))
    files = [(f"system@{i}.journal",) for i in range(2)]
    # 1000 entries: the child's first 500, the helper's 500 (one turn each: a short round).
    assert parts_of(groups, (SOURCE, 1), "START", 0, split_at=1) == [
        Part(files[0], False, "START", seqnum_cursor(SOURCE, 501)),
        Part(files[0], True, seqnum_cursor(SOURCE, 501)),
        Part(files[1], True),
    ]


def test_parts_count_from_the_start() -> None:
    # Resuming at 801: 200 + 100 entries and 100 after them: the child 100, the helper 200.
    groups = groups_of((1, 1000), (1001, 1100))
    files = [(f"system@{i}.journal",) for i in range(2)]
    assert parts_of(groups, (SOURCE, 801), "START", 100, split_at=1) == [
        Part(files[0], False, "START", seqnum_cursor(SOURCE, 901)),
        Part(files[0], True, seqnum_cursor(SOURCE, 901)),
        Part(files[1], True),
    ]


def test_unshared_parts_are_the_groups_whole() -> None:
    groups = groups_of((1, 600), (601, 1000))
    files = [(f"system@{i}.journal",) for i in range(2)]
    assert parts_of(groups, (SOURCE, 1), "START", 0, split_at=10**6) == [
        Part(files[0], False, "START"),
        Part(files[1], False),
    ]


def test_a_jail_with_sessions_takes_one_turn_each_the_helper_s_first() -> None:
    # Each reader keeps its own session table: the fewer handovers, the fewer sessions cut.
    # The helper's turn first: it ends once it has read it (its memory with it), and this
    # child reads on from its own turn into the files still written to.
    assert turns(200_000, 0, split_at=1, most=1) == [(0, 100_000, True), (100_000, 200_000, False)]
    assert shares(turns(200_000, 40_000, split_at=1, most=1)) == (80_000, 120_000)
    assert turns(200_000, 10**6, split_at=1, most=1) == [(0, 200_000, True)]
    assert turns(1000, 0, split_at=10**6, most=1) == [(0, 1000, False)]


def test_a_split_with_detectors_pays_only_where_few_entries_are_handed_out() -> None:
    most = journalsplit.SPLIT_MOST_HITS
    # sshd-near-miss hands out about an eighth of its entries: the reading bounds it.
    assert journalsplit.split_pays(10_000, 1_250, most)
    # sshd and authlog-mixed about a third: the agent's deciding bounds it.
    assert not journalsplit.split_pays(10_000, 3_000, most)
    assert journalsplit.split_pays(10_000, int(most * 10_000), most)  # at the bound
    assert not journalsplit.split_pays(0, 0, most)  # nothing read: nothing to split
