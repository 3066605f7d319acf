"""A journal file shrunk while the native reader (journalban/sources/_journalfile.c) has it
mapped: the reader survives, tells the file damaged and reads the other files on.

A page of a mapping past its file's new end raises SIGBUS; before, the reader child died of
it (docs/benchmarks.md, "A file shrunk while mapped"). Real journal-remote files, rotated on
a small tmpfs; each scenario runs in a process of its own (a SIGBUS there fails the test,
not the test run), the file cut between two calls of the reader: deterministic.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest
from test_journal_child import small_fs, wait_entries
from test_journalfile_proto import SSHD, corpus, records, write

from journalban.sources import journalnative
from journalban.sources.frames import FRAME_HEADER
from journalban.sources.journalnative import NativeReader
from journalban.sources.journalwire import Frame, Request
from journalban.sources.journalworker import Follower
from journalban.sources.sdreader import add_groups, open_reader
from support.journal import JournalWriter, sshd_fields

pytestmark = pytest.mark.real
__all__ = ["small_fs"]  # the fixture, imported for its use here

SCENARIO = """
import json, os, sys
from journalban.sources.journalnative import open_native

paths, groups, cut, scenario, at, seek = json.loads(sys.argv[1])
told = []
reader = open_native(paths, groups, lambda path, lost: told.append([path, lost]))
assert reader is not None
read = []  # (cursor, MESSAGE or None) of each entry stood on
after = {}

def entry():
    try:
        message = reader._get("MESSAGE").decode()
    except KeyError:
        message = None
    read.append([reader._get_cursor(), message])

if scenario == "seek":
    os.truncate(cut, 4096)
    reader.seek_cursor(seek)
    after["next"] = reader._get_cursor() if reader._next() else None
    after["previous"] = reader._get_cursor() if reader._previous() else None
    after["previous again"] = reader._get_cursor() if reader._previous() else None
else:
    while len(read) < at and reader._next():
        entry()
    if scenario == "current":  # standing on an entry of the file cut: cut under it
        assert reader._next()
        cursor = reader._get_cursor()
        os.truncate(cut, 4096)
        entry()
        after["cursor kept"] = reader._get_cursor() == cursor
        after["realtime"] = reader._get_realtime()
        after["test_cursor"] = reader.test_cursor(cursor)
    else:
        os.truncate(cut, 4096)
    while reader._next():
        entry()
    after["last previous"] = reader._get_cursor() if reader._previous() else None
reader.close()
print(json.dumps({"read": read, "told": told, "after": after}))
"""


def entries_of(path: str) -> list[tuple[str, str]]:
    """(cursor, MESSAGE) of each entry libsystemd reads in one file with sshd's matches."""
    reader = open_reader(files=[path])
    add_groups(reader, SSHD)
    out = []
    while reader._next():
        out.append((reader._get_cursor(), reader._get("MESSAGE").decode()))
    reader.close()
    return out


def run(paths: list[str], cut: str, scenario: str, at: int = 0, seek: str = "") -> dict[str, Any]:
    done = subprocess.run(
        [sys.executable, "-c", SCENARIO, json.dumps([paths, SSHD, cut, scenario, at, seek])],
        capture_output=True, timeout=60, check=False, text=True,
    )  # fmt: skip
    # before: -7, SIGBUS, at the first read of a page past the file's new end
    assert done.returncode == 0, (done.returncode, done.stderr[-2000:])
    result: dict[str, Any] = json.loads(done.stdout)
    return result


@pytest.fixture
def rotated(small_fs: Path) -> list[Path]:
    """journal-remote's rotated files of 6,000 entries (sshd's corpus), in their order."""
    for start in range(0, 6000, 1000):
        write(small_fs / "remote.journal", records(corpus(1000, start)))
    wait_entries(small_fs, 6000)
    paths = [p for p in small_fs.iterdir() if p.name.endswith(".journal")]
    assert len(paths) >= 3
    return sorted(paths, key=lambda p: int(entries_of(str(p))[0][0].split(";")[1][2:], 16))


LINES = [f"line {i}" for i in range(6000)]


def archives_of_lines(directory: Path) -> list[Path]:
    """LINES written by journal-remote (sshd's) into ``directory``: its archived files, in
    their order (three at least)."""
    with JournalWriter(directory) as writer:
        writer.write([sshd_fields(line) for line in LINES])
        wait_entries(directory, len(LINES))
    files = sorted(
        (p for p in directory.iterdir() if p.name.startswith("remote@")),
        key=lambda p: int(p.name.split("-")[1], 16),
    )
    assert len(files) >= 3
    return files


def copies(rotated: list[Path], into: Path) -> list[str]:
    into.mkdir()
    return [str(shutil.copy(path, into / path.name)) for path in rotated]


def test_a_later_file_shrunk_is_told_and_passed_over(rotated: list[Path], tmp_path: Path) -> None:
    want = [entries_of(str(path)) for path in rotated]
    paths = copies(rotated, tmp_path / "later")
    got = run(paths, paths[1], "later", at=len(want[0]))
    expected = [list(e) for e in want[0] + [e for w in want[2:] for e in w]]
    assert got["read"] == expected  # none of another file lost, none repeated
    assert got["told"] == [[paths[1], len(want[1])]]  # its selected entries, none read
    assert got["after"]["last previous"] == expected[-2][0]


def test_the_file_read_shrunk_under_its_entry(rotated: list[Path], tmp_path: Path) -> None:
    want = [entries_of(str(path)) for path in rotated]
    paths = copies(rotated, tmp_path / "current")
    half = len(want[1]) // 2
    got = run(paths, paths[1], "current", at=len(want[0]) + half)
    # the entry stood on when its file was cut: its cursor and time kept, no MESSAGE
    # (the catch-up passes over it); the rest of that file lost; the next files all read
    stood = want[1][half]
    expected: list[list[str | None]] = [list(e) for e in want[0] + want[1][:half]]
    expected += [[stood[0], None]] + [list(e) for w in want[2:] for e in w]
    assert got["read"] == expected
    assert got["told"] == [[paths[1], len(want[1]) - half]]
    assert got["after"]["cursor kept"]
    assert got["after"]["test_cursor"]
    assert got["after"]["realtime"] == int(stood[0].split(";t=")[1].split(";")[0], 16)


def test_a_seek_into_a_shrunk_file_stands_beside_it(rotated: list[Path], tmp_path: Path) -> None:
    want = [entries_of(str(path)) for path in rotated]
    paths = copies(rotated, tmp_path / "seek")
    got = run(paths, paths[1], "seek", seek=want[1][5][0])
    assert got["after"] == {
        "next": want[2][0][0],  # the first entry after the shrunk file
        "previous": want[0][-1][0],  # and back: the last one before it
        "previous again": want[0][-2][0],
    }
    # where in it the seek would have stood is not known any more: all its entries told
    assert got["told"] == [[paths[1], len(want[1])]]


def test_a_catch_up_tells_a_shrunk_file_and_reads_the_others(
    small_fs: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """The reader child's catch-up (Follower, one child): the file cut right after the
    native reader opened it is logged and its entries counted unreadable in the frames; every
    entry of the other files is handed out once, in order."""
    files = archives_of_lines(small_fs)
    cut = str(files[1])
    lost = {line for _, line in entries_of(cut)}
    opened = journalnative.open_native
    cuts: list[list[str]] = []

    def open_then_cut(paths: Sequence[str], *args: Any) -> NativeReader | None:
        reader = opened(paths, *args)
        if cut in paths and not cuts:
            cuts.append(list(paths))
            os.truncate(cut, 4096)
        return reader

    monkeypatch.setattr(journalnative, "open_native", open_then_cut)
    out = small_fs.parent / "frames"
    sink, frames = os.open(os.devnull, os.O_RDWR), os.open(out, os.O_WRONLY | os.O_CREAT)
    try:
        request = Request(matches=SSHD, directory=str(small_fs), batch_size=700, reopen_every=10**6)
        follower = Follower(request, sink, frames)
        follower.seek_start()
        with caplog.at_level(logging.WARNING, logger="journalban.sources"):
            follower.catch_up()
        follower.reader.close()
    finally:
        os.close(sink)
        os.close(frames)
    assert cuts  # the native reader read the catch-up's part holding it
    data, at, got, unreadable = out.read_bytes(), 0, [], 0
    while at < len(data):
        (size,) = FRAME_HEADER.unpack_from(data, at)
        frame = Frame.decode(data[at + FRAME_HEADER.size : at + FRAME_HEADER.size + size])
        got += frame.lines
        unreadable += frame.unreadable
        at += FRAME_HEADER.size + size
    archived = [line for line in LINES if line not in lost]
    assert got == archived[: len(got)]  # in order, none twice, none of the others lost
    assert len(got) >= len(archived) - len(entries_of(str(files[-1])))  # the archived ones all
    assert unreadable == len(lost)
    assert [r.getMessage() for r in caplog.records if "damaged" in r.getMessage()] == [
        f"journal file {cut} is shorter than its header says (cut, damaged): {len(lost)} "
        "entries selected for the jail were not read from it; the other files are read on"
    ]


def test_a_file_cut_after_its_part_was_read_is_left_out_of_the_directory_reader(
    small_fs: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Cut after the catch-up read its part (no part's reader sees it; a helper's part, as
    well): the directory reader, which mapped it at the start, is opened again before it
    stands where the catch-up ended (libsystemd's reader died there of SIGBUS)."""
    files = archives_of_lines(small_fs)
    cut = str(files[1])
    read_group = Follower.read_group
    cuts: list[str] = []

    def then_cut(self: Follower, part: Any) -> bool:
        done = read_group(self, part)
        if cut in part.files and not cuts:
            cuts.append(cut)
            os.truncate(cut, 4096)
        return done

    monkeypatch.setattr(Follower, "read_group", then_cut)
    sink = os.open(os.devnull, os.O_RDWR)
    try:
        request = Request(matches=SSHD, directory=str(small_fs), batch_size=700, reopen_every=10**6)
        follower = Follower(request, sink, sink)
        follower.seek_start()
        follower.catch_up()  # (was: SIGBUS in reposition, libsystemd's reader)
        follower.drain()
        assert cuts
        assert follower.cursor is not None
        assert follower.reader._get_cursor() == follower.cursor  # where the reading ended
        follower.reader.close()
    finally:
        os.close(sink)
