"""Sessions across the cut of a split catch-up, on real journal files from journal-remote.

sshd at LogLevel VERBOSE teaches a connection's address in one line and
counts a failure without an address in a later line of the same process
(``_PID``). The reader child and its helper keep a session table each: a
session taught before the cut and counted after it must still count, as a
single reader finds it.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from test_journal_child import small_fs, wait_entries
from test_journal_source import SSHD_GROUPS

from journalban.agent.journalreader import finder
from journalban.matching.engine import CompiledFilter
from journalban.matching.library import FilterLibrary
from journalban.matching.spec import MatcherSpec
from journalban.sources import journalcatchup, journalsplit
from journalban.sources.journalwire import DATA, Request
from support.journal import JournalWriter, sshd_fields
from support.readerchild import run_child, turns

pytestmark = pytest.mark.real
__all__ = ["small_fs"]  # a fixture used here

SPEC = MatcherSpec("sshd", None, None, check_idents=False)
SESSIONS = 120
SPAN = 50  # entries from a session's teaching line to its counting line


def corpus() -> list[dict[str, str | int]]:
    """Sessions whose teaching and counting lines are SPAN entries apart, interleaved."""
    entries: list[dict[str, str | int]] = []
    for i in range(SESSIONS * SPAN // 2 + SPAN):
        k = i // (SPAN // 2)  # a new session every SPAN / 2 entries
        if i % (SPAN // 2) == 0 and k < SESSIONS:
            address = f"203.0.{113 + k // 200}.{k % 200 + 1}"
            message = f"Connection from {address} port {40000 + k} on 192.0.2.1 port 22"
            entries.append(sshd_fields(message, pid=10_000 + k))
        elif i % (SPAN // 2) == 1 and i >= SPAN // 2 and k - 2 < SESSIONS:
            message = "Disconnecting: Too many authentication failures [preauth]"
            entries.append(sshd_fields(message, pid=10_000 + k - 2))
        else:
            entries.append(sshd_fields(f"pam_unix(sshd:session): noise {i}", pid=9_999))
    return entries


def hits_read(directory: Path, split_at: int) -> tuple[list[tuple[str, str]], int]:
    """The hits (line, address) a reader child (and its helpers) hand out, in the agent's
    order, and how many helpers it forked (one per round of a split catch-up)."""
    rules = FilterLibrary(None).load("sshd").sessions
    assert rules is not None
    assert rules.literals is not None
    literals = (*CompiledFilter(FilterLibrary(None).load("sshd"), None).literals, *rules.literals)
    request = Request(
        matches=SSHD_GROUPS, directory=str(directory), prefilter=literals, batch_size=300,
        split_at=split_at, matcher=SPEC.to_json(), session_field="_PID",
    )  # fmt: skip
    run = run_child(
        request, directory.parent / f"frames-{split_at}",
        make_finder=lambda: finder(SPEC.to_json()),
    )  # fmt: skip
    split = run.helpers
    hits: list[tuple[str, str]] = []
    for _, frame in turns(run.mine, run.theirs):
        if frame.kind == DATA:
            hits += [(hit[0], hit[1]) for hit in frame.hits or ()]
    return hits, split


def written_and_read_alone(directory: Path) -> list[tuple[str, str]]:
    """The corpus written to ``directory``; its hits as one reader child hands them out."""
    entries = corpus()
    with JournalWriter(directory) as writer:
        writer.write(entries)
        wait_entries(directory, len(entries))
    alone, split = hits_read(directory, 10**9)
    assert not split
    return alone


def test_a_session_taught_before_the_cut_counts_after_it(
    small_fs: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    alone = written_and_read_alone(small_fs)
    assert len(alone) == SESSIONS  # every session's count, with its taught address
    shared, split = hits_read(small_fs, 1)
    assert split
    assert sorted(shared) == sorted(alone)
    # Without the tables taught at the handovers, sessions across them are missed:
    # the corpus does put sessions across them.
    monkeypatch.setattr(journalcatchup, "prime", lambda *_: None)
    unprimed, _ = hits_read(small_fs, 1)
    assert len(unprimed) < len(alone)


def test_a_session_taught_in_one_round_counts_in_the_next_helper_s_share(
    small_fs: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A catch-up of several rounds (``journalsplit.ROUND_BYTES`` of files each; 512 MiB
    in the agent, one group of this file system's 512 KB files here): each round's helper
    reads the round's first share, forked with the child's session table as the round
    before left it, as one reader would have it there (not a table built afresh)."""
    alone = written_and_read_alone(small_fs)
    monkeypatch.setattr(journalsplit, "ROUND_BYTES", 1)  # a round per group of files
    shared, split = hits_read(small_fs, 1)
    assert split >= 2, "the catch-up was split in rounds"
    assert sorted(shared) == sorted(alone)
