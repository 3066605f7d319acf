"""The prototype reader of journal files by their on-disk format (tests/benchmarks/journalfile_proto.py)
reads what libsystemd reads, on files systemd-journal-remote writes.

Each layout journal-remote writes (compact or regular entries, keyed siphash24 or
jenkins hashes, as ``SYSTEMD_JOURNAL_COMPACT`` and ``SYSTEMD_JOURNAL_KEYED_HASH``
choose), rotated files read as a directory, an entry with two MESSAGE fields, a
compressed MESSAGE: the same entries in the same order, with the same MESSAGE, _PID,
realtime and cursor as systemd-python's reader with the same matches, or
``Unsupported`` where it cannot be exact. The agent does not use this reader
(docs/benchmarks.md: it is not cheaper than libsystemd); these tests keep the
measuring tool honest.
"""

from __future__ import annotations

import itertools
import os
import subprocess
import sys
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Protocol

import pytest
from test_journal_child import small_fs, wait_entries

from journalban.sources.sdreader import add_groups, open_reader
from support.journal import JOURNAL_REMOTE, export_record, sshd_fields
from support.real import need_tool

sys.path.insert(0, str(Path(__file__).parents[1] / "benchmarks"))

from journalfile_proto import COMPACT, KEYED_HASH, FileReader, Unsupported

pytestmark = pytest.mark.real
__all__ = ["small_fs"]  # a fixture used here

SSHD = [
    {"_SYSTEMD_UNIT": "ssh.service", "_UID": "0"},
    {"_SYSTEMD_UNIT": "sshd.service", "_UID": "0"},
]
_SEQ = itertools.count(1)
Entry = tuple[bytes | None, bytes | None, int, str]


def corpus(count: int, start: int = 0) -> list[dict[str, str | int]]:
    """sshd's lines in sessions of three (a _PID each), a local user's in ssh.service, a root
    daemon's in sshd.service, cron's: the jail takes the first and third kinds."""
    found: list[dict[str, str | int]] = []
    for i in range(start, start + count):
        if i % 7 == 3:
            found.append(sshd_fields(f"user line {i}", uid=1000, pid=2000 + i))
        elif i % 7 == 5:
            found.append(sshd_fields(f"daemon line {i}", unit="sshd.service", pid=3000 + i // 10))
        elif i % 11 == 6:
            found.append({"_SYSTEMD_UNIT": "cron.service", "_UID": 0, "MESSAGE": f"cron {i}"})
        else:
            found.append(sshd_fields(f"Failed password for root from 192.0.2.{i % 250} port {i}",
                                     pid=4000 + i // 3))  # fmt: skip
    return found


def write(path: Path, records: Sequence[bytes], compact: bool = True, keyed: bool = True) -> None:
    need_tool(JOURNAL_REMOTE)
    env = {
        **os.environ,
        "SYSTEMD_JOURNAL_COMPACT": str(int(compact)),
        "SYSTEMD_JOURNAL_KEYED_HASH": str(int(keyed)),
    }
    subprocess.run(
        [JOURNAL_REMOTE, "-o", str(path), "-"],
        input=b"".join(records),
        env=env,
        check=True,
        capture_output=True,
    )


def records(entries: Sequence[Mapping[str, str | int]]) -> list[bytes]:
    return [
        export_record(fields, 1_700_000_000_000_000 + next(_SEQ), next(_SEQ)) for fields in entries
    ]


class EntryReader(Protocol):
    """What ``read`` calls: systemd-python's reader, the prototype's, the native one."""

    def _next(self) -> bool: ...
    def _get(self, field: str) -> bytes: ...
    def _get_realtime(self) -> int: ...
    def _get_cursor(self) -> str: ...
    def close(self) -> None: ...


def read(reader: EntryReader) -> list[Entry]:
    """MESSAGE, _PID, realtime and cursor of each entry to the end; the reader closed."""
    found: list[Entry] = []
    while reader._next():
        values: list[bytes | None] = []
        for field in ("MESSAGE", "_PID"):
            try:
                values.append(reader._get(field))
            except KeyError:
                values.append(None)
        found.append((values[0], values[1], reader._get_realtime(), reader._get_cursor()))
    reader.close()
    return found


def by_libsystemd(paths: Sequence[str], groups: Sequence[Mapping[str, str]]) -> list[Entry]:
    reader = open_reader(files=list(paths))
    add_groups(reader, groups)
    reader.seek_head()
    return read(reader)


@pytest.mark.parametrize(("compact", "keyed"), list(itertools.product([True, False], repeat=2)))
def test_every_layout_reads_as_libsystemd_reads_it(
    tmp_path: Path, compact: bool, keyed: bool
) -> None:
    path = tmp_path / "remote.journal"
    write(path, records(corpus(400)), compact, keyed)
    flags = int.from_bytes(path.read_bytes()[12:16], "little")
    assert bool(flags & COMPACT) == compact
    assert bool(flags & KEYED_HASH) == keyed
    for groups in (
        SSHD,
        [{"_COMM": "sshd"}],
        [{"_SYSTEMD_UNIT": "cron.service"}, {"_UID": "1000"}],
    ):
        expected = by_libsystemd([str(path)], groups)
        assert expected
        assert read(FileReader([str(path)], groups)) == expected
    assert read(FileReader([str(path)], [{"_SYSTEMD_UNIT": "nothing.service"}])) == []


def rotated_files_read_as_libsystemd(
    small_fs: Path, reader_of: Callable[[list[str]], EntryReader]
) -> None:
    """Rotated files (journal-remote rotates at 512 KB on ``small_fs``) read by
    ``reader_of`` with sshd's matches as libsystemd reads them: all of them at once, in
    the directory's order, and each alone."""
    for start in range(0, 6000, 1000):
        write(small_fs / "remote.journal", records(corpus(1000, start)))
    wait_entries(small_fs, 6000)
    paths = sorted(str(p) for p in small_fs.iterdir() if p.name.endswith(".journal"))
    assert len(paths) >= 3
    expected = by_libsystemd(paths, SSHD)
    assert len(expected) > 3000
    assert read(reader_of(paths)) == expected
    for path in paths:
        assert read(reader_of([path])) == by_libsystemd([path], SSHD)


def test_rotated_files_read_in_the_directory_order(small_fs: Path) -> None:
    rotated_files_read_as_libsystemd(small_fs, lambda paths: FileReader(paths, SSHD))


def test_a_cursor_it_writes_seeks_libsystemd_to_its_entry(tmp_path: Path) -> None:
    path = tmp_path / "remote.journal"
    write(path, records(corpus(300)))
    reader = FileReader([str(path)], SSHD)
    cursors = [entry[3] for entry in read(reader)]
    sd = open_reader(files=[str(path)])
    add_groups(sd, SSHD)
    for cursor in cursors[::17]:
        sd.seek_cursor(cursor)
        assert sd._next()
        assert sd._get_cursor() == cursor
        assert sd.test_cursor(cursor)
    sd.close()


def two_messages(path: Path) -> list[Entry]:
    """A file of sshd's entries, every fifth from the third with a second MESSAGE, written
    to ``path``; its entries as libsystemd reads them."""
    twice = [
        record[:-1] + b"MESSAGE=the second message\n\n" if index % 5 == 2 else record
        for index, record in enumerate(records(corpus(60)))
    ]
    write(path, twice)
    expected = by_libsystemd([str(path)], SSHD)
    # The second MESSAGE's object, written once, is older than the first's in the entries
    # after: sd-journal gives the item first by offset, so the second there.
    assert {b"the second message"} < {entry[0] for entry in expected}
    return expected


def test_an_entry_with_two_messages_gives_the_first_as_libsystemd(tmp_path: Path) -> None:
    path = tmp_path / "remote.journal"
    expected = two_messages(path)
    assert read(FileReader([str(path)], SSHD)) == expected


def test_a_compressed_message_is_left_to_libsystemd(tmp_path: Path) -> None:
    path = tmp_path / "remote.journal"
    entries = corpus(40)
    entries[20] = sshd_fields("Failed password for " + "x" * 4000 + " from 192.0.2.7 port 22")
    write(path, records(entries))
    expected = by_libsystemd([str(path)], SSHD)
    long = next(i for i, entry in enumerate(expected) if entry[0] and len(entry[0]) > 4000)
    reader = FileReader([str(path)], SSHD)
    for entry in expected[:long]:
        assert reader._next()
        assert reader._get("MESSAGE") == entry[0]
    assert reader._next()
    assert reader._get_cursor() == expected[long][3]
    with pytest.raises(Unsupported):
        reader._get("MESSAGE")
    reader.close()
