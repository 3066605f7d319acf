"""The catch-up's probe and the files still written to, read by the native reader (journalcatchup).

The probe (``journalprobe``) reads the first group of archived files through a reader of
their own (the native reader), which the part reading on after it takes; the entries
after the archived groups (the file journal-remote writes, closed when it stopped) are
read natively where the reader takes that file, up to what it held when mapped, and the
directory reader goes on from the last entry handed out. Either way every entry of the
jail is handed out once, in the directory's order. On real files from journal-remote.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest
from test_journal_child import small_fs, wait_entries
from test_journal_source import SSHD_GROUPS

from journalban.sources import journalcatchup, journalnative, journalprobe
from journalban.sources.journalfiles import archived, journal_files
from journalban.sources.journalwire import DATA, Request
from support.journal import JournalWriter, sshd_fields
from support.readerchild import run_child, turns

pytestmark = pytest.mark.real
__all__ = ["small_fs"]  # a fixture used here

TOTAL = 6000
LIVE = 40  # entries written after the rotations: in the file still written to


def write_corpus(directory: Path) -> list[str]:
    """sshd's lines over rotated files, every third from another uid; the lines expected."""
    with JournalWriter(directory) as writer:
        writer.write(
            [sshd_fields(f"line {i}", uid=1000 if i % 3 == 2 else 0) for i in range(TOTAL)]
        )
        writer.write([sshd_fields(f"live {i}") for i in range(LIVE)])
        wait_entries(directory, TOTAL + LIVE)
    return [f"line {i}" for i in range(TOTAL) if i % 3 != 2] + [f"live {i}" for i in range(LIVE)]


def read(directory: Path, most_hits: float | None = None) -> list[str]:
    """What the child (and a helper, if it forked one) hand out, in the agent's order;
    ``most_hits``: probed first (``Request.split_most_hits``), split where it pays."""
    request = Request(
        matches=SSHD_GROUPS, directory=str(directory), batch_size=300, reopen_every=100_000,
        split_at=10**9 if most_hits is None else 1, split_most_hits=most_hits,
    )  # fmt: skip
    run = run_child(request, directory.parent / f"frames-{most_hits}")
    return [m for _, f in turns(run.mine, run.theirs) if f.kind == DATA for m in f.messages]


def opened(monkeypatch: pytest.MonkeyPatch) -> list[tuple[list[str], bool]]:
    """Each ``open_native`` call's files (their names) and whether it read them natively."""
    calls: list[tuple[list[str], bool]] = []
    original = journalnative.open_native

    def recorded(files: Sequence[str], *args: Any) -> Any:
        reader = original(files, *args)
        calls.append(([Path(f).name for f in files], reader is not None))
        return reader

    monkeypatch.setattr(journalnative, "open_native", recorded)
    return calls


def live_files(directory: Path) -> list[str]:
    return sorted(Path(p).name for p in journal_files(str(directory)) or () if not archived(p))


def test_the_file_closed_by_its_writer_is_read_natively_after_the_groups(
    small_fs: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    expected = write_corpus(small_fs)
    live = live_files(small_fs)
    assert live == ["remote.journal"], "journal-remote rotated, then closed its file"
    calls = opened(monkeypatch)
    assert read(small_fs) == expected
    assert calls[-1] == (live, True), "the tail read by the native reader"
    with monkeypatch.context() as off:
        off.setenv(journalnative.ENV, "0")
        assert read(small_fs) == expected  # libsystemd's read: the same


def test_a_file_written_to_is_left_to_the_directory_reader(
    small_fs: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A file online (its writer at work) is not one the native reader takes: the directory
    reader reads its entries, as before."""
    expected = write_corpus(small_fs)
    with (small_fs / "remote.journal").open("r+b") as file:
        file.seek(16)
        file.write(b"\x01")  # the header's state: online
    calls = opened(monkeypatch)
    assert read(small_fs) == expected
    assert calls[-1] == (["remote.journal"], False)


def test_what_is_appended_after_the_native_read_is_read_by_the_directory_reader(
    small_fs: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    expected = write_corpus(small_fs)
    later = [f"later {i}" for i in range(25)]
    read_live = journalcatchup.CatchingUp.read_live

    def then_appended(self: Any, paths: Sequence[str], start: str) -> None:
        read_live(self, paths, start)
        # The writer back at work on the same file once the native reader has read it.
        with JournalWriter(small_fs) as writer:
            writer.write([sshd_fields(line) for line in later])
            wait_entries(small_fs, TOTAL + LIVE + len(later))

    monkeypatch.setattr(journalcatchup.CatchingUp, "read_live", then_appended)
    assert read(small_fs) == expected + later


def test_the_probe_reads_the_first_group_natively_and_its_part_reads_on_with_it(
    small_fs: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    expected = write_corpus(small_fs)
    monkeypatch.setattr(journalprobe, "PROBE_ENTRIES", 700)
    calls = opened(monkeypatch)
    probes: list[bool] = []
    probe_archived = journalcatchup.CatchingUp.probe_archived

    def recorded(self: Any, *args: Any) -> bool:
        probes.append(probe_archived(self, *args))
        return probes[-1]

    monkeypatch.setattr(journalcatchup.CatchingUp, "probe_archived", recorded)
    assert read(small_fs, 0.5) == expected  # every entry handed out: one reader, no split
    assert probes == [False]
    archived_files = [c for c in calls if c[0] != ["remote.journal"]]
    assert len(archived_files) >= 2
    assert all(native for _, native in archived_files)
    names = [tuple(files) for files, _ in archived_files]
    assert len(names) == len(set(names)), "each group's files opened once: the probe's kept"


def test_a_probe_longer_than_the_first_group_reads_on_through_the_directory(
    small_fs: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    expected = write_corpus(small_fs)
    monkeypatch.setattr(journalprobe, "PROBE_ENTRIES", 3000)  # more than a file holds
    befores: list[int] = []

    def recorded(follower: Any, before: int = 0, limit: int | None = None) -> tuple[int, int, bool]:
        befores.append(before)
        return journalprobe.probe_read(follower, before, limit)

    monkeypatch.setattr(journalcatchup, "probe_read", recorded)
    assert read(small_fs, 0.5) == expected
    # The first frame by the directory reader, then the first group's reader, which ran out:
    # the rest by the directory reader.
    assert len(befores) == 3
    assert 0 == befores[0] < befores[1] < befores[2]
    assert read(small_fs, 1.0) == expected  # the rest split (a helper), after the probe
