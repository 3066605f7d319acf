"""Journal files' entries after a position by their headers alone (journalshun.entries_after,
under journalcut.lost_after's rule and file_after's)."""

from __future__ import annotations

from pathlib import Path

from test_journalcut import ONE, OTHER, cursor, header

from journalban.sources.journalcut import lost_after
from journalban.sources.journalshun import entries_after, file_after, header_of


def test_entries_after_by_sequence_numbers_or_by_times(tmp_path: Path) -> None:
    path = tmp_path / "a.journal"
    path.write_bytes(header(ONE, 101, 200, (1000, 2000), 0))
    found = header_of(str(path))
    assert found is not None
    assert entries_after(found, (ONE.hex(), 150), 0) == 50
    assert entries_after(found, (ONE.hex(), 50), 0) == 100
    assert entries_after(found, (ONE.hex(), 250), 0) == 0
    # another source's position, or none: by the times, all or none
    assert entries_after(found, (OTHER.hex(), 7), 1999) == 100
    assert entries_after(found, (OTHER.hex(), 7), 2000) == 0
    assert entries_after(found, None, 500) == 100
    assert entries_after(found, None, 2000) == 0


def test_a_cut_file_s_loss_and_the_file_a_reader_dies_in_keep_their_own_rules(
    tmp_path: Path,
) -> None:
    """The one file of the cursor's source, read to its end by sequence numbers, its last
    entry later than the cursor's time: its loss (journalcut) is none, by sequence numbers;
    the file a reader dies in (file_after) falls back to the times for every file when none
    of the cursor's source holds an entry after it: all its entries."""
    (tmp_path / "a.journal").write_bytes(header(ONE, 101, 200, (1000, 2000), 0))
    found = header_of(str(tmp_path / "a.journal"))
    assert found is not None
    at = cursor(ONE, 200, 1500)
    assert lost_after(found, at, 0) == 0
    assert file_after(at, str(tmp_path)) == (str(tmp_path / "a.journal"), 100, found)
    # with a file of the cursor's source holding entries after it, that one, by numbers
    (tmp_path / "b.journal").write_bytes(header(ONE, 201, 260, (2100, 2600), 0))
    later = header_of(str(tmp_path / "b.journal"))
    assert later is not None
    assert lost_after(later, cursor(ONE, 230, 2300), 0) == 30
    assert file_after(cursor(ONE, 230, 2300), str(tmp_path)) == (
        str(tmp_path / "b.journal"), 30, later)  # fmt: skip
    # no cursor: a cut file's loss is since a first start's ``since``; the file a reader
    # dies in is the first holding any entry
    assert lost_after(found, None, 2500) == 0
    assert lost_after(later, None, 2500) == 60
    assert file_after(None, str(tmp_path)) == (str(tmp_path / "a.journal"), 100, found)
    # another source's cursor: both by the times
    assert lost_after(found, cursor(OTHER, 9, 1500), 0) == 100
    assert lost_after(found, cursor(OTHER, 9, 2000), 0) == 0
