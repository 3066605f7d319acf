"""Journal files' entries after a position by their headers alone (journalshun.entries_after,
under journalcut.lost_after's rule and file_after's), and a shunned file still written to,
counted as it grows (journalshun.look, journalshunned.grown, JournalSource). The
real agent on a shunned file appended to: tests/real/test_journal_shun_grows.py."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
from test_journalcut import ONE, OTHER, cursor, header

from journalban.clock import FakeClock
from journalban.sources.journal import JournalSource
from journalban.sources.journalcut import lost_after
from journalban.sources.journalshun import (
    Shunned,
    entries_after,
    file_after,
    header_of,
    look,
)
from journalban.sources.journalshunned import decode, encode, grown
from journalban.sources.journalwire import GREW, Frame, Request


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


def test_the_shunned_files_tails_are_read_from_their_headers(tmp_path: Path) -> None:
    (tmp_path / "a.journal").write_bytes(header(ONE, 1, 40, (1, 2), 0))
    (tmp_path / "b.journal").write_bytes(header(OTHER, 1, 9, (1, 2), 0))
    shunned = header_of(str(tmp_path / "a.journal"))
    assert shunned is not None
    a, b = str(tmp_path / "a.journal"), str(tmp_path / "b.journal")
    directory = str(tmp_path)
    assert look(Request(directory=directory, shun=[shunned.identity])) == (
        [b], {shunned.identity: 40})  # fmt: skip
    files, tails = look(Request(directory=directory))
    assert (sorted(files or ()), tails) == ([a, b], {})
    files, tails = look(Request(directory=directory, shun=["gone"]))
    assert (sorted(files or ()), tails) == ([a, b], {})
    assert look(Request(namespace="other", shun=[shunned.identity])) == (None, {})


def test_what_a_shunned_file_grew_by_is_counted_once(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG, "journalban.sources")
    files = [Shunned("one", "/j/system.journal", 40), Shunned("two", "/j/old.journal", 9)]
    assert grown("journal:sshd", files, ["one 45", "two 9", "three 100", "bad", "one x"]) == 5
    assert files == [Shunned("one", "/j/system.journal", 45), Shunned("two", "/j/old.journal", 9)]
    assert grown("journal:sshd", files, ["one 45", "two 9"]) == 0  # told again: nothing new
    assert grown("journal:sshd", files, ["one 44"]) == 0  # (never backwards)
    assert grown("journal:sshd", files, ["one 47"]) == 2
    assert files[0].tail == 47
    logged = [(r.levelno, r.getMessage()) for r in caplog.records]
    assert [level for level, _ in logged] == [logging.WARNING, logging.DEBUG]
    assert "5 entries appended to journal file /j/system.journal" in logged[0][1]
    assert "counted as unreadable" in logged[0][1]
    # the row kept moves on with the count: a restart counts from there (recall)
    assert decode("journal:sshd", encode(files))[0].tail == 47


def test_the_source_counts_a_grew_frame_as_unreadable_and_keeps_the_row() -> None:
    at = cursor(ONE, 7, 700)
    source = JournalSource("journal:sshd", clock=FakeClock(100.0), findtime=60.0, position=at,
                           shunned=encode([Shunned("one", "/j/system.journal", 40)]))  # fmt: skip
    assert source.pending_row is None
    batch = source._grew(Frame(at, 0, kind=GREW, messages=["one 43"]))
    assert batch is not None
    assert (batch.unreadable, batch.read, batch.position, list(batch.lines)) == (3, 0, at, [])
    assert source.pending_row == encode([Shunned("one", "/j/system.journal", 43)])
    assert source._grew(Frame(at, 0, kind=GREW, messages=["one 43"])) is None
    assert source.unreported == 0
    # no position yet: counted with the first entries read
    fresh = JournalSource("journal:sshd", clock=FakeClock(100.0), findtime=60.0,
                          shunned=encode([Shunned("one", "/j/system.journal", 40)]))  # fmt: skip
    assert fresh._grew(Frame("", 0, kind=GREW, messages=["one 41"])) is None
    assert fresh.unreported == 1
