"""The native reader of journal files (journalban.sources.journalnative, ``_journalfile``) reads
what libsystemd reads, on files systemd-journal-remote writes.

Each layout journal-remote writes (compact or regular entries, keyed siphash24 or
jenkins hashes), rotated files, an entry with two MESSAGE fields: the same entries in
the same order with the same MESSAGE, _PID, realtime and cursor as systemd-python's
reader with the same matches, and the same answers to the catch-up's seeks and steps.
A compressed MESSAGE is read through libsystemd and the reading goes on natively; a
check failing mid-read hands over to libsystemd at that entry; files it does not
understand are left to libsystemd (None). Fuzzed files (bytes flipped, cut short)
never crash it.
"""

from __future__ import annotations

import contextlib
import os
import random
from collections.abc import Callable, Mapping, Sequence
from functools import partial
from pathlib import Path

import pytest
import test_journal_child as child
from test_journal_child import small_fs
from test_journalfile_proto import (
    SSHD,
    by_libsystemd,
    corpus,
    read,
    records,
    rotated_files_read_as_libsystemd,
    two_messages,
    write,
)

from journalban.sources import _journalfile, journalnative
from journalban.sources.frames import FRAME_HEADER
from journalban.sources.journalnative import ENV, NativeReader, open_native
from journalban.sources.journalwire import Frame, Request
from journalban.sources.journalworker import Follower
from journalban.sources.sdreader import Reader, add_groups, open_reader
from support.journal import JournalWriter, sshd_fields

pytestmark = pytest.mark.real
__all__ = ["small_fs"]  # a fixture used here


@pytest.fixture(autouse=True)
def native_on(monkeypatch: pytest.MonkeyPatch) -> None:
    """These tests are of the native reader: on whatever the run's environment says."""
    monkeypatch.delenv(ENV, raising=False)


GROUPS = (
    SSHD,
    [{"_COMM": "sshd"}],
    [{"_SYSTEMD_UNIT": "cron.service"}, {"_UID": "1000"}],
)


def native(paths: Sequence[str], groups: Sequence[Mapping[str, str]]) -> NativeReader:
    reader = open_native(paths, groups)
    assert reader is not None, "the native reader is not built, or refused the files"
    return reader


def sd(paths: Sequence[str], groups: Sequence[Mapping[str, str]]) -> Reader:
    reader = open_reader(files=list(paths))
    add_groups(reader, groups)
    return reader


@pytest.mark.parametrize(("compact", "keyed"), [(True, True), (True, False), (False, True),
                                                (False, False)])  # fmt: skip
def test_every_layout_reads_as_libsystemd_reads_it(
    tmp_path: Path, compact: bool, keyed: bool
) -> None:
    path = tmp_path / "remote.journal"
    write(path, records(corpus(400)), compact, keyed)
    for groups in GROUPS:
        expected = by_libsystemd([str(path)], groups)
        assert expected
        reader = native([str(path)], groups)
        assert reader.entries == len(expected)
        assert read(reader) == expected
    nothing = native([str(path)], [{"_SYSTEMD_UNIT": "nothing.service"}])
    assert read(nothing) == by_libsystemd([str(path)], [{"_SYSTEMD_UNIT": "nothing.service"}])


def test_rotated_files_read_in_the_directory_order(small_fs: Path) -> None:
    rotated_files_read_as_libsystemd(small_fs, lambda paths: native(paths, SSHD))


def outcome(call: Callable[[], object]) -> object:
    """What a call returns, or the type and errno of what it raises."""
    try:
        return call()
    except (OSError, KeyError) as error:
        return (type(error).__name__, getattr(error, "errno", None))


def steps(reader: Reader | NativeReader, cursors: Sequence[str]) -> list[object]:
    """The catch-up's moves (journalcatchup, journalprime, journalworker.seek_start,
    journalsplit's seqnum-only cursors) and what each answers."""
    found: list[object] = []
    r = reader
    step, back = partial(outcome, r._next), partial(outcome, r._previous)
    here, when = partial(outcome, r._get_cursor), partial(outcome, r._get_realtime)
    for cursor in cursors:
        seqnum_only = ";".join(cursor.split(";")[:2])
        for target in (cursor, seqnum_only):
            test = partial(outcome, partial(r.test_cursor, target))
            r.seek_cursor(target)
            found += [test(), here(), step(), here(), test(), back(), here(), back(), here()]
            found += [step(), here()]
            r.seek_cursor(target)
            found += [back(), here(), outcome(partial(r._get, "MESSAGE")), step(), step(), here()]
    r.seek_tail()
    found += [here(), back(), here(), step(), here(), step(), here()]
    r.seek_tail()
    found += [step(), here(), back(), back(), here()]
    r.seek_head()
    found += [here(), back(), here(), step(), here(), back(), here(), when()]
    found += [outcome(partial(r._get, "NO_SUCH")), step(), step(), here()]
    return found


def test_seeks_and_steps_answer_as_libsystemd(tmp_path: Path) -> None:
    path = tmp_path / "remote.journal"
    write(path, records(corpus(300)))
    every = read(native([str(path)], [{"_COMM": "sshd"}]))  # includes entries SSHD does not
    cursors = [entry[3] for entry in every[::23]] + [every[0][3], every[-1][3]]
    beyond = every[-1][3].split(";")
    beyond[1] = "i=ffffff"
    cursors.append(";".join(beyond))
    expected = steps(sd([str(path)], SSHD), cursors)
    assert steps(native([str(path)], SSHD), cursors) == expected
    # The cursors it writes seek libsystemd to its entries.
    reader = sd([str(path)], SSHD)
    for entry in read(native([str(path)], SSHD))[::17]:
        reader.seek_cursor(entry[3])
        assert reader._next()
        assert reader._get_cursor() == entry[3]
    reader.close()


def test_a_cursor_of_another_source_is_sought_by_libsystemd(tmp_path: Path) -> None:
    path = tmp_path / "remote.journal"
    write(path, records(corpus(100)))
    expected = by_libsystemd([str(path)], SSHD)
    other = expected[10][3].split(";")
    other[0] = "s=" + "0" * 31 + "1"
    reader = native([str(path)], SSHD)
    reader.seek_cursor(";".join(other))  # no seqnum to go by: libsystemd by its time
    assert not reader.native
    rest = read(reader)
    libsystemd = sd([str(path)], SSHD)
    libsystemd.seek_cursor(";".join(other))
    assert rest == read(libsystemd)
    assert rest
    assert rest[-1] == expected[-1]


def test_an_entry_with_two_messages_gives_the_first_as_libsystemd(tmp_path: Path) -> None:
    path = tmp_path / "remote.journal"
    expected = two_messages(path)
    assert read(native([str(path)], SSHD)) == expected


def test_a_compressed_message_is_read_by_libsystemd_and_the_rest_natively(
    tmp_path: Path,
) -> None:
    path = tmp_path / "remote.journal"
    entries = corpus(40)
    for at in (12, 20):  # journal-remote compresses values over 512 bytes
        entries[at] = sshd_fields(f"Failed password for {'x' * 4000} from 192.0.2.{at} port 22")
    write(path, records(entries))
    expected = by_libsystemd([str(path)], SSHD)
    assert sum(1 for entry in expected if entry[0] and len(entry[0]) > 4000) == 2
    reader = native([str(path)], SSHD)
    got: list[object] = []
    while reader._next():
        got.append((reader._get("MESSAGE"), reader._get("_PID"), reader._get_realtime(),
                    reader._get_cursor()))  # fmt: skip
        assert reader.native  # no slow path for the entries after: still the native reader
    reader.close()
    assert got == expected


def fds_on(path: Path) -> int:
    """This process's file descriptors open on ``path``."""
    found = 0
    for fd in os.listdir("/proc/self/fd"):
        with contextlib.suppress(OSError):  # the listing's own descriptor, closed meanwhile
            found += os.readlink(f"/proc/self/fd/{fd}") == str(path)
    return found


def test_close_releases_the_libsystemd_reader_of_compressed_values(tmp_path: Path) -> None:
    path = tmp_path / "remote.journal"
    entries = corpus(40)
    entries[12] = sshd_fields(f"Failed password for {'x' * 4000} from 192.0.2.12 port 22")
    write(path, records(entries))
    reader = native([str(path)], SSHD)
    assert fds_on(path) == 0  # the native reader maps the file, it keeps no descriptor
    while reader._next():
        reader._get("MESSAGE")
    assert reader.native
    assert fds_on(path) >= 1  # the compressed value's libsystemd reader
    reader.close()
    # was: kept open until the reader itself was freed (the next part's replaced it)
    assert fds_on(path) == 0


def data_offsets(path: Path, entry_cursor: str) -> list[int]:
    """The item offsets of the entry at ``entry_cursor`` (a regular, non-compact file)."""
    blob = path.read_bytes()
    header_size = int.from_bytes(blob[88:96], "little")
    seqnum = int(entry_cursor.split(";")[1][2:], 16)
    offset = header_size
    while offset + 16 <= len(blob):
        kind, size = blob[offset], int.from_bytes(blob[offset + 8 : offset + 16], "little")
        if size < 16:
            break
        if kind == 3 and int.from_bytes(blob[offset + 16 : offset + 24], "little") == seqnum:
            items = blob[offset + 64 : offset + size]
            return [int.from_bytes(items[i : i + 8], "little") for i in range(0, len(items), 16)]
        offset += (size + 7) // 8 * 8
    raise AssertionError("no such entry")


def entries_with_number(reader: Reader | NativeReader) -> list[tuple[object, ...]]:
    found: list[tuple[object, ...]] = []
    while reader._next():
        values = (outcome(partial(reader._get, name)) for name in ("MESSAGE", "_PID", "NUMBER"))
        found.append((*values, reader._get_realtime(), reader._get_cursor()))
    return found


def test_a_check_failing_mid_read_hands_over_at_that_entry(tmp_path: Path) -> None:
    path = tmp_path / "remote.journal"
    write(path, records([{**fields, "NUMBER": n} for n, fields in enumerate(corpus(80))]), False)
    before = by_libsystemd([str(path)], SSHD)
    # The type of the 31st selected entry's own data object spoiled (its NUMBER, not a
    # match value; libsystemd skips over it).
    blob = bytearray(path.read_bytes())
    items = data_offsets(path, before[30][3])
    spoiled = next(item for item in items if blob[item + 64 :].startswith(b"NUMBER="))
    blob[spoiled] = 0
    path.write_bytes(bytes(blob))
    expected = entries_with_number(sd([str(path)], SSHD))
    assert expected[30][2] == ("KeyError", None)
    reader = native([str(path)], SSHD)
    got = entries_with_number(reader)
    assert not reader.native  # libsystemd read on from the 31st
    reader.close()
    assert got == expected  # none lost, none repeated
    assert len(got) == len(before)
    assert [entry[0] for entry in got] == [entry[0] for entry in before]


def flipped(path: Path, to: Path, rng: random.Random) -> None:
    blob = bytearray(path.read_bytes())
    for _ in range(rng.choice((1, 4, 32))):
        at = rng.randrange(len(blob))
        blob[at] ^= 1 << rng.randrange(8)
    if rng.random() < 0.3:
        blob = blob[: rng.randrange(len(blob))]
    to.write_bytes(bytes(blob))


def test_files_it_does_not_understand_are_left_to_libsystemd(tmp_path: Path) -> None:
    path = tmp_path / "remote.journal"
    write(path, records(corpus(30)))
    blob = path.read_bytes()
    for at, value in ((12, blob[12] | 0x80), (16, 1)):  # an unknown flag; still written to
        spoiled = tmp_path / f"spoiled{at}.journal"
        spoiled.write_bytes(blob[:at] + bytes([value]) + blob[at + 1 :])
        assert open_native([str(spoiled)], SSHD) is None
    cut = tmp_path / "cut.journal"
    cut.write_bytes(blob[:100])
    assert open_native([str(cut)], SSHD) is None
    os.environ[ENV] = "0"
    try:
        assert open_native([str(path)], SSHD) is None
    finally:
        del os.environ[ENV]
    assert open_native([str(path)], SSHD) is not None


def test_fuzzed_files_never_crash_it(tmp_path: Path) -> None:
    sources = []
    for compact in (True, False):
        source = tmp_path / f"source{int(compact)}.journal"
        entries = corpus(120)
        entries[50] = sshd_fields("Failed password for " + "y" * 2000 + " from 192.0.2.9 port 2")
        write(source, records(entries), compact=compact, keyed=compact)
        sources.append(source)
    rng = random.Random(19)
    fuzzed = tmp_path / "fuzzed.journal"
    opened = 0
    for round_ in range(400):
        flipped(sources[round_ % 2], fuzzed, rng)
        try:
            reader = open_native([str(fuzzed)], GROUPS[round_ % 3])
        except OSError:
            continue  # libsystemd would not open it either
        if reader is None:
            continue
        opened += 1
        try:
            cursors = []
            while reader._next():
                for get in (partial(reader._get, "MESSAGE"), partial(reader._get, "_PID")):
                    outcome(get)
                outcome(reader._get_realtime)
                cursors.append(outcome(reader._get_cursor))
            for cursor in cursors[::7]:
                if isinstance(cursor, str):
                    reader.seek_cursor(cursor)
                    reader._next()
                    reader._previous()
        except OSError:
            pass  # what libsystemd raises on a file it finds broken
        finally:
            reader.close()
    assert opened > 100  # most flips leave a file it still reads


@pytest.mark.parametrize("on", [True, False], ids=["native", "libsystemd"])
def test_the_catch_up_opens_the_native_reader_for_closed_files_only(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, on: bool
) -> None:
    path = tmp_path / "remote.journal"
    write(path, records(corpus(200)))
    monkeypatch.setenv(ENV, "1" if on else "0")
    sink = os.open(os.devnull, os.O_RDWR)
    try:
        follower = Follower(Request(matches=SSHD, directory=str(tmp_path)), sink, sink)
        assert isinstance(follower.reader, Reader)  # the directory reader: libsystemd
        part = follower.open_files([str(path)])
        assert isinstance(part, _journalfile.Reader) == on
        assert isinstance(part, Reader) != on
        part.seek_head()
        assert read(part) == by_libsystemd([str(path)], SSHD)
        follower.reader.close()
    finally:
        os.close(sink)


@pytest.mark.parametrize("on", ["1", "0"], ids=["native", "libsystemd"])
@pytest.mark.parametrize("split_at", [10**9, 1], ids=["one child", "split with a helper"])
def test_catch_up_over_rotated_files_with_either_reader(
    small_fs: Path, monkeypatch: pytest.MonkeyPatch, on: str, split_at: int
) -> None:
    monkeypatch.setenv(ENV, on)  # the reader child inherits it
    child.test_catch_up_over_rotated_files_gives_the_directory_order_once(small_fs, split_at)


def test_a_hand_over_failing_in_a_catch_up_loses_no_entry(
    small_fs: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """libsystemd not finding the entry the native reader hands over (never seen on files
    journald or journal-remote wrote, nor in fuzzing: entries libsystemd cannot read make the
    native reader refuse the file at open): the part's reading stops as if its files were
    vacuumed, and the directory reader reads on from the last entry handed out."""
    total = 6000
    text = [f"line {i}" + ("z" * 3000 if i % 1500 == 700 else "") for i in range(total)]
    with JournalWriter(small_fs) as writer:  # a compressed MESSAGE in each file
        writer.write([sshd_fields(line) for line in text])
        child.wait_entries(small_fs, total)
    asked: list[str] = []

    def not_found(*args: object) -> object:
        asked.append(str(args[:1]))
        raise OSError("libsystemd does not find the entry")

    # The compressed value's reader, then the reader handed over to, both fail.
    monkeypatch.setattr(journalnative._Values, "__call__", not_found)
    monkeypatch.setattr(journalnative, "_sd_reader", not_found)
    out = small_fs.parent / "frames"
    sink, frames = os.open(os.devnull, os.O_RDWR), os.open(out, os.O_WRONLY | os.O_CREAT)
    try:
        request = Request(matches=SSHD, directory=str(small_fs), batch_size=700, reopen_every=1000)
        follower = Follower(request, sink, frames)
        follower.seek_start()
        follower.catch_up()
        follower.drain()
        follower.reader.close()
    finally:
        os.close(sink)
        os.close(frames)
    assert len(asked) == 2  # hand-over asked, failed
    data, at, got = out.read_bytes(), 0, []
    while at < len(data):
        (size,) = FRAME_HEADER.unpack_from(data, at)
        got += Frame.decode(data[at + FRAME_HEADER.size : at + FRAME_HEADER.size + size]).lines
        at += FRAME_HEADER.size + size
    assert got == text  # none lost, none twice
