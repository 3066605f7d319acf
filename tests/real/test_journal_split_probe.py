"""A jail with detectors splits its catch-up only where the reading bounds it (journalprobe).

The reader child first hands out the catch-up's first entries alone and
counts how many it handed out: where they are many (the agent's deciding
bounds the catch-up, and a helper would only take its core) it reads on alone,
else it splits the rest. Either way every entry is handed out once, in the
directory's order, and a session taught during the probe counts in the
helper's share after it. On real journal files from journal-remote.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import pytest
import test_journal_split_sessions as sessions_test
from test_journal_child import small_fs, wait_entries
from test_journal_source import SSHD_GROUPS
from test_journal_split_sessions import hits_read, written_and_read_alone

from journalban.agent.journalreader import finder
from journalban.matching.engine import CompiledFilter
from journalban.matching.library import FilterLibrary
from journalban.matching.spec import MatcherSpec
from journalban.sources import journalcatchup, journalprobe
from journalban.sources.journalwire import DATA, Request
from support.journal import JournalWriter, sshd_fields
from support.readerchild import ChildRun, run_child, turns

pytestmark = pytest.mark.real
__all__ = ["small_fs"]  # a fixture used here

TOTAL = 6000
SPEC = MatcherSpec("sshd", None, None, check_idents=False)
PROBE = 700  # entries read alone first (the module's 10,000, scaled to the corpus)


def read(directory: Path, most_hits: float | None) -> tuple[list[str], bool]:
    """What the child (and a helper, if it forked one) hand out, in the agent's order."""
    request = Request(
        matches=SSHD_GROUPS, directory=str(directory), batch_size=300, reopen_every=1000,
        split_at=1, split_most_hits=most_hits,
    )  # fmt: skip
    run = run_child(request, directory.parent / f"frames-{most_hits}")
    messages = [m for _, f in turns(run.mine, run.theirs) if f.kind == DATA for m in f.messages]
    return messages, run.helper_status is not None


@pytest.fixture
def probe_size(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(journalprobe, "PROBE_ENTRIES", PROBE)


@pytest.mark.usefixtures("probe_size")
def test_many_handed_out_keeps_one_reader_few_splits(small_fs: Path) -> None:
    with JournalWriter(small_fs) as writer:
        writer.write([sshd_fields(f"line {i}") for i in range(TOTAL)])
        wait_entries(small_fs, TOTAL)
    expected = [f"line {i}" for i in range(TOTAL)]
    # Without a prefilter or finder every entry is handed out: a share of 1.
    alone, split = read(small_fs, 0.5)
    assert not split, "the agent's deciding would bound it: no helper"
    assert alone == expected
    shared, split = read(small_fs, 1.0)
    assert split, "within the bound: the rest is split after the probe"
    assert shared == expected
    unprobed, split = read(small_fs, None)
    assert split
    assert unprobed == expected


@pytest.mark.usefixtures("probe_size")
def test_after_a_probe_that_keeps_one_reader_it_reads_the_archived_files_by_group(
    small_fs: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Not through the directory reader: a reader of a group's files follows only the
    match groups selecting anything there (journalprune), at fewer steps per entry."""
    with JournalWriter(small_fs) as writer:
        writer.write([sshd_fields(f"line {i}") for i in range(TOTAL)])
        wait_entries(small_fs, TOTAL)
    parts: list[Any] = []
    read_group = journalcatchup.CatchingUp.read_group

    def recorded(self: Any, part: Any) -> bool:
        parts.append(part)
        return read_group(self, part)

    monkeypatch.setattr(journalcatchup.CatchingUp, "read_group", recorded)
    alone, split = read(small_fs, 0.5)
    assert not split, "the agent's deciding would bound it: no helper"
    assert alone == [f"line {i}" for i in range(TOTAL)]
    assert parts, "the archived files after the probe are read by their own readers"
    assert not any(part.helped for part in parts)


@pytest.mark.usefixtures("probe_size")
def test_a_session_taught_in_the_probe_counts_in_the_helper_s_share(
    small_fs: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    alone = written_and_read_alone(small_fs)
    original = run_child  # (hits_read calls it through its own module)

    def probing_run(request: Request, out: Path, **kwargs: Any) -> ChildRun:
        # hits_read's request, with the probe asked for (a hit in 25 entries: it splits)
        return original(dataclasses.replace(request, split_most_hits=0.5), out, **kwargs)

    monkeypatch.setattr(sessions_test, "run_child", probing_run)
    probed, split = hits_read(small_fs, 1)
    assert split
    assert sorted(probed) == sorted(alone)


def failures_read(directory: Path, most_hits: float) -> tuple[list[tuple[str, str]], bool]:
    """The hits a child with the sshd jail's finder (and a helper, if it forked one) hand
    out, in the agent's order; whether it split."""
    literals = CompiledFilter(FilterLibrary(None).load("sshd"), None).literals
    request = Request(
        matches=SSHD_GROUPS, directory=str(directory), prefilter=literals, batch_size=300,
        reopen_every=1000, split_at=1, split_most_hits=most_hits, matcher=SPEC.to_json(),
    )  # fmt: skip
    run = run_child(
        request, directory.parent / f"hits-{most_hits}", make_finder=lambda: finder(SPEC.to_json())
    )
    frames = [f for _, f in turns(run.mine, run.theirs) if f.kind == DATA]
    assert all(not f.messages for f in frames), "a finder's frames carry hits, no messages"
    return [(hit[0], hit[1]) for f in frames for hit in f.hits or ()], run.helper_status is not None


@pytest.mark.usefixtures("probe_size")
def test_the_probe_counts_a_finder_s_hits(small_fs: Path) -> None:
    """With a finder the frames carry their hits and no messages (``Frame.hits``): the probe
    counts the hits, so a catch-up where half the entries fail keeps one reader."""
    entries = [
        sshd_fields(
            f"Failed password for root from 203.0.{113 + i // 250}.{i % 250 + 1} port 22 ssh2"
            if i % 2
            else f"pam_unix(sshd:session): noise {i}"
        )
        for i in range(TOTAL)
    ]
    with JournalWriter(small_fs) as writer:
        writer.write(entries)
        wait_entries(small_fs, TOTAL)
    alone, split = failures_read(small_fs, 0.4)
    assert not split, "half the entries handed out: the agent's deciding would bound it"
    assert len(alone) == TOTAL // 2
    shared, split = failures_read(small_fs, 0.6)
    assert split, "within the bound: the rest is split after the probe"
    assert shared == alone
