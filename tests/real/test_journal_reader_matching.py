"""The agent's journal reader child matches where it reads: the same failures as the agent's matcher."""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from test_journal_child import make_cursor_of_first, small_fs, take_read, wait_entries
from test_journal_source import make_source, stays_quiet

from journalban.agent.journalreader import WORKER, finder
from journalban.events import Hit, LineBatch
from journalban.matching.engine import CompiledFilter
from journalban.matching.library import FilterLibrary
from journalban.matching.spec import MatcherSpec
from journalban.sources.journalfiles import file_groups, journal_files
from journalban.sources.journalwire import DATA, DONE, FindHits, Request
from support.journal import JournalWriter, sshd_fields
from support.readerchild import run_child, turns

pytestmark = pytest.mark.real
__all__ = ["small_fs"]  # a fixture used here

SPEC = MatcherSpec("sshd", None, None, check_idents=False)
LITERALS = CompiledFilter(FilterLibrary(None).load("sshd"), None).literals
# Within the sources' findtime (3600 s): they read back that far by the entries' own time.
T0 = int(time.time()) - 600
MESSAGES = [
    "Failed password for root from 192.0.2.1 port 22 ssh2",
    "Accepted publickey for alice from 192.0.2.9 port 22 ssh2",
    "Invalid user bob from 2001:db8::7 port 22",
    # A user name chosen by the attacker, holding someone else's address:
    "Failed password for invalid user 198.51.100.77 from 192.0.2.3 port 22 ssh2",
    "Invalid user from 198.51.100.78 from 192.0.2.4 port 22",
    "Connection closed by authenticating user root 192.0.2.5 port 22 [preauth]",
    "pam_unix(sshd:session): session opened for user alice",
    "error: maximum authentication attempts exceeded for root from 192.0.2.6 port 22 ssh2 [preauth]",
]


def entry(i: int, message: str) -> dict[str, str | int]:
    """Received at ``T0 + i`` (the time a hit carries), sent a little earlier."""
    usec = (T0 + i) * 1_000_000
    return {**sshd_fields(message), "_SOURCE_REALTIME_TIMESTAMP": usec - 250_000,
            "__REALTIME_TIMESTAMP": usec}  # fmt: skip


def expected_hits(messages: list[str]) -> list[Hit]:
    """What the agent's own matcher finds in every message, dated as written."""
    matcher = SPEC.build(time.time)
    times = [float(T0 + i) for i in range(len(messages))]
    return matcher.hits(LineBatch("", messages, "", times, prefixed=False))


def source_hits(batches: list[LineBatch]) -> list[Hit]:
    found: list[Hit] = []
    for batch in batches:
        assert batch.hits is not None
        found += batch.hits
    return found


def test_hits_from_the_child_are_the_agents_own(tmp_path: Path) -> None:
    async def scenario() -> list[LineBatch]:
        with JournalWriter(tmp_path) as writer:
            writer.write([entry(i, m) for i, m in enumerate(MESSAGES)])
            writer.wait_visible(len(MESSAGES))
            source = make_source(
                tmp_path, prefilter=LITERALS, worker=WORKER, matcher=SPEC.to_json(), batch_size=3
            )
            batches: AsyncIterator[LineBatch] = source.batches()
            got = await take_read(batches, len(MESSAGES))
            assert await stays_quiet(batches)
            source.close()
        return got

    got = asyncio.run(scenario())
    hits = source_hits(got)
    assert hits == expected_hits(MESSAGES)
    assert {hit[1] for hit in hits} >= {"192.0.2.1", "2001:db8::7", "192.0.2.3"}
    assert not {"198.51.100.77", "198.51.100.78"} & {hit[1] for hit in hits}
    assert sum(b.count for b in got) == len(MESSAGES)


def test_a_split_catch_up_matches_in_both_children(small_fs: Path) -> None:
    total = 4000
    messages = [MESSAGES[i % len(MESSAGES)].replace(" 22", f" {i}") for i in range(total)]

    async def scenario() -> tuple[list[LineBatch], int]:
        source = make_source(
            small_fs, prefilter=LITERALS, worker=WORKER, matcher=SPEC.to_json(),
            batch_size=700, reopen_every=1000, split_at=1, findtime=10**9,
        )  # fmt: skip
        batches = source.batches()
        got = [await anext(batches)]
        helpers = len(source.child_pids) - 1
        got += await take_read(batches, total - got[0].count, within=20)
        assert await stays_quiet(batches)
        source.close()
        return got, helpers

    with JournalWriter(small_fs) as writer:
        writer.write([entry(i, m) for i, m in enumerate(messages)])
        wait_entries(small_fs, total)
        paths = journal_files(str(small_fs))
        assert paths is not None
        assert len(file_groups(paths, make_cursor_of_first(small_fs))) >= 3
        got, helpers = asyncio.run(scenario())
    expected = expected_hits(messages)
    assert len(expected) > total // 3
    assert helpers == 1
    assert source_hits(got) == expected


def test_the_forked_helper_reads_with_the_matcher_built_once(small_fs: Path) -> None:
    """The child builds its matcher before it forks the helper (which inherits it) and hands
    the helper's pipe over the socket; taken in turns, the two give the agent's own hits."""
    total = 4000
    messages = [MESSAGES[i % len(MESSAGES)].replace(" 22", f" {i}") for i in range(total)]
    with JournalWriter(small_fs) as writer:
        writer.write([entry(i, m) for i, m in enumerate(messages)])
        wait_entries(small_fs, total)
    request = Request(
        directory=str(small_fs), prefilter=LITERALS, batch_size=700, split_at=1,
        matcher=SPEC.to_json(),
    )  # fmt: skip
    built = small_fs.parent / "built"

    def make() -> FindHits:
        with built.open("a") as f:
            f.write(f"{os.getpid()}\n")
        return finder(SPEC.to_json())

    run = run_child(request, small_fs.parent / "frames", make_finder=make)
    assert run.helper_status == 0  # a helper was forked, and reaped here
    assert run.theirs[-1].kind == DONE
    assert built.read_text().split() == [str(os.getpid())]  # once, here, before the fork
    # The agent's turns: this child's frames up to a HANDOVER, then the helper's, and so on.
    hits: list[tuple[str, str]] = []
    helper_frames = 0
    for turn, frame in turns(run.mine, run.theirs):
        if frame.kind == DATA:
            hits += [(hit[0], hit[1]) for hit in frame.hits or ()]
            helper_frames += turn
    assert helper_frames
    assert hits == [(h[0], h[1]) for h in expected_hits(messages)]
