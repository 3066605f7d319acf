"""The reader child's sd-journal reader (sources.sdreader) reads what systemd.journal.Reader
reads: the same entries, in the same order, for a directory and for files, with matches."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from systemd import journal

from journalban.sources.sdreader import INVALIDATE, add_groups, open_reader
from support.imports import modules_after
from support.journal import sshd_fields, write_journal

pytestmark = pytest.mark.real


def _cursors(reader: Any, matches: list[str]) -> list[tuple[str, bytes]]:
    for match in matches:
        reader.add_match(match)
    reader.seek_head()
    out = []
    while reader._next():
        out.append((reader._get_cursor(), reader._get("MESSAGE")))
    reader.close()
    return out


def test_the_same_entries_as_journal_reader(tmp_path: Path) -> None:
    entries = [
        sshd_fields(f"Failed password for root from 203.0.113.{i} port 22 ssh2", pid=100 + i)
        for i in range(40)
    ] + [sshd_fields("cron line", unit="cron.service", pid=7) for _ in range(5)]
    path = write_journal(tmp_path / "j", entries)
    for matches in ([], ["_SYSTEMD_UNIT=ssh.service", "_UID=0"]):
        theirs = _cursors(journal.Reader(path=str(tmp_path / "j")), matches)
        assert len(theirs) == (45 if not matches else 40)
        assert _cursors(open_reader(path=str(tmp_path / "j")), matches) == theirs
        assert _cursors(open_reader(files=[str(path)]), matches) == theirs
        assert _cursors(journal.Reader(files=[str(path)]), matches) == theirs


def test_seeking_by_time_takes_integer_microseconds(tmp_path: Path) -> None:
    entries = [sshd_fields(f"line {i}") for i in range(3)]
    write_journal(tmp_path / "j", entries)
    reader = open_reader(path=str(tmp_path / "j"))
    reader.seek_head()
    assert reader._next()
    first = reader._get_realtime()
    reader.seek_realtime(first + 1)
    assert reader._next()
    assert reader._get_realtime() > first
    reader.close()
    assert INVALIDATE == journal.INVALIDATE


def test_the_reader_child_does_not_import_systemd_journal() -> None:
    loaded = modules_after(
        "import journalban.agent.journalreader as r; r.warm_up(); import journalban.sources.sdreader"
    )
    assert {"systemd.journal", "logging", "uuid", "platform"} & loaded == set()


class _Recorder:
    def __init__(self) -> None:
        self.calls: list[str] = []

    def add_match(self, match: str) -> None:
        self.calls.append(match)

    def add_disjunction(self) -> None:
        self.calls.append("+")


def test_a_groups_common_fields_are_added_first_so_its_unit_is_tried_first() -> None:
    recorder = _Recorder()
    groups = [
        {"_SYSTEMD_UNIT": "ssh.service", "_UID": "0"},
        {"_SYSTEMD_UNIT": "sshd.service", "_TRANSPORT": "syslog", "_UID": "0"},
    ]
    add_groups(recorder, groups)  # type: ignore[arg-type]
    assert recorder.calls == [
        "_UID=0", "_SYSTEMD_UNIT=ssh.service", "+",
        "_TRANSPORT=syslog", "_UID=0", "_SYSTEMD_UNIT=sshd.service",
    ]  # fmt: skip


def test_groups_added_common_fields_first_select_what_the_jails_order_selects(
    tmp_path: Path,
) -> None:
    entries = []
    for i in range(60):
        unit = ("ssh.service", "sshd.service", "cron.service")[i % 3]
        entries.append(sshd_fields(f"line {i}", unit=unit, uid=(0, 0, 1000, 0)[i % 4], pid=i))
    write_journal(tmp_path / "j", entries)
    groups = [
        {"_SYSTEMD_UNIT": "ssh.service", "_UID": "0"},
        {"_SYSTEMD_UNIT": "sshd.service", "_UID": "0"},
    ]
    theirs = journal.Reader(path=str(tmp_path / "j"))
    for index, group in enumerate(groups):
        if index:
            theirs.add_disjunction()
        for name, value in group.items():
            theirs.add_match(f"{name}={value}")
    ours = open_reader(path=str(tmp_path / "j"))
    add_groups(ours, groups)
    expected = _cursors(theirs, [])
    assert len(expected) == 30  # ssh and sshd lines of uid 0: 2 of every 3 units, 3 of 4 uids
    assert _cursors(ours, []) == expected
