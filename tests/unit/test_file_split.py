"""A file backlog matched by the reader child and a forked helper gives what one reader gives.

The file reader child's ``FileSource`` with ``agent.filesplit.CatchUp`` (a real
fork, a real file) against the same source without it: the same failures in
the same order, the same line counts, unreadable and truncated lines, and
positions that only move forward, each at a line start, ending at the same
place. A helper that fails, a file cut short meanwhile, a session that could
be taught, or a backlog under the threshold: no split, or a split that ends
where it stands and the child reads on alone, still with the same result.
"""

from __future__ import annotations

import json
import marshal
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from journalban.agent.filereader import _body, dated_file_source
from journalban.agent.filesplit import SPLIT_ENV, CatchUp, core_free, plan_turns
from journalban.clock import SystemClock
from journalban.events import LineBatch
from journalban.matching.dates import DateReader
from journalban.matching.sessions import SessionTable
from journalban.matching.spec import MatcherSpec
from journalban.sources.files import FileSource

sys.path.insert(0, str(Path(__file__).parents[1] / "benchmarks"))

import itertools

import corpora

BURST = 64 << 10


@pytest.fixture(autouse=True)
def _split_whatever_the_load(monkeypatch: pytest.MonkeyPatch) -> None:
    """The tests split on a busy machine too (``core_free`` would say no)."""
    monkeypatch.setenv(SPLIT_ENV, "always")


YEARS = 10 * 365 * 86400.0


def _write(path: Path, name: str, lines: int, extra: bytes = b"") -> None:
    text = "".join(line + "\n" for line, _ in corpora.flagged_lines(name, lines))
    data = text.encode()
    middle = data.index(b"\n", len(data) // 3) + 1
    path.write_bytes(data[:middle] + extra + data[middle:])


def _read(
    path: Path,
    split_at: int | None,
    wrap: Callable[[Callable[[LineBatch], bytes]], Callable[[LineBatch], bytes]] = lambda b: b,
    filter_name: str = "sshd",
    read_burst: int = BURST,
) -> tuple[list[tuple[object, ...]], int]:
    """The frame bodies of every batch until caught up, and the splits begun."""
    clock = SystemClock()
    matcher = MatcherSpec(filter_name, None, None).build(clock.now)
    rules = matcher.filter.fdef.sessions
    table = None if rules is None else SessionTable(rules)
    dates = DateReader(clock.now)
    source = dated_file_source([str(path)], clock, YEARS, None, "k", burst_bytes=BURST)

    def body(batch: LineBatch) -> bytes:
        return _body(batch, matcher, table, dates)

    # Frames of 256 KiB; bursts of 64 KiB merged into them unless ``read_burst`` says else.
    catch_up = CatchUp(
        wrap(body), table, 4 * BURST, split_at or 0, turn_bytes=512 << 10, read_burst=read_burst
    )
    if split_at is not None:
        source.splitter = catch_up
    batches = source.blocking_batches(lambda _fd, _t: False)
    bodies = [marshal.loads(body(b)) for b in batches]  # noqa: S302 (our own bodies)
    return bodies, catch_up.splits


def _sshd_source(log: Path) -> tuple[FileSource, Callable[[LineBatch], bytes]]:
    """A file source of ``log`` and the reader child's frame body of sshd's hits (no sessions)."""
    clock = SystemClock()
    matcher = MatcherSpec("sshd", None, None).build(clock.now)
    dates = DateReader(clock.now)
    source = dated_file_source([str(log)], clock, YEARS, None, "k", burst_bytes=BURST)

    def body(batch: LineBatch) -> bytes:
        return _body(batch, matcher, None, dates)

    return source, body


def _hits(bodies: list[tuple[object, ...]]) -> list[tuple[object, ...]]:
    out: list[tuple[object, ...]] = []
    for body in bodies:
        out += body[4]  # type: ignore[arg-type]
    return out


def _offsets(bodies: list[tuple[object, ...]]) -> list[int]:
    return [json.loads(str(b[0]))["files"][0]["off"] for b in bodies]


def _totals(bodies: list[tuple[object, ...]]) -> tuple[int, ...]:
    return tuple(sum(int(str(b[i])) for b in bodies) for i in (1, 2, 3))


def _assert_same(
    path: Path, split: list[tuple[object, ...]], one: list[tuple[object, ...]]
) -> None:
    assert _hits(split) == _hits(one)
    assert _totals(split) == _totals(one)
    offsets = _offsets(split)
    assert offsets == sorted(offsets)
    assert len(set(offsets)) == len(offsets)
    assert offsets[-1] == _offsets(one)[-1] == path.stat().st_size
    data = path.read_bytes()
    for body in split:  # a line start, or inside an overlong line's dropped tail ("skip")
        mark = json.loads(str(body[0]))["files"][0]
        assert data[mark["off"] - 1 : mark["off"]] == b"\n" or mark.get("skip")


def test_a_split_backlog_gives_the_same_failures_in_order(tmp_path: Path) -> None:
    log = tmp_path / "auth.log"
    # An overlong line and undecodable bytes in the middle: cut and counted once either way.
    odd = b"Dec  1 10:00:00 host sshd[9]: " + b"x" * (100 << 10) + b"\n\xff\xfe bad\n"
    _write(log, "sshd-near-miss", 30_000, odd)
    one, none = _read(log, None)
    split, splits = _read(log, 256 << 10)
    assert none == 0
    assert splits == 1
    assert _hits(one), "the corpus has failures"
    assert _totals(one)[1:] == (1, 1), "one unreadable and one truncated line"
    _assert_same(log, split, one)


def test_a_backlog_under_the_threshold_forks_nothing(tmp_path: Path) -> None:
    log = tmp_path / "auth.log"
    _write(log, "sshd", 2_000)
    _, splits = _read(log, log.stat().st_size + 1)
    assert splits == 0


def test_a_session_that_could_be_taught_keeps_one_reader(tmp_path: Path) -> None:
    log = tmp_path / "auth.log"
    teach = (
        b"Dec  1 10:00:00 host sshd[7]: Connection from 198.51.100.9 port 5 on 10.0.0.1 port 22\n"
    )
    _write(log, "sshd", 20_000, teach)
    one, _ = _read(log, None)
    split, splits = _read(log, 256 << 10)
    assert splits == 0
    assert _hits(split) == _hits(one)


def test_a_failing_helper_leaves_the_rest_to_the_child(tmp_path: Path) -> None:
    log = tmp_path / "auth.log"
    _write(log, "sshd-near-miss", 30_000)
    parent = os.getpid()

    def failing(body: Callable[[LineBatch], bytes]) -> Callable[[LineBatch], bytes]:
        def in_helper_fails(batch: LineBatch) -> bytes:
            if os.getpid() != parent:
                os._exit(3)  # the helper dies mid-turn
            return body(batch)

        return in_helper_fails

    one, _ = _read(log, None)
    split, splits = _read(log, 256 << 10, failing)
    assert splits == 1
    _assert_same(log, split, one)


def test_a_file_cut_short_during_the_split_ends_it_and_reads_on(tmp_path: Path) -> None:
    log = tmp_path / "auth.log"
    _write(log, "sshd-near-miss", 30_000)
    size = log.stat().st_size
    source, body = _sshd_source(log)
    catch_up = CatchUp(body, None, BURST, 256 << 10, turn_bytes=128 << 10)
    source.splitter = catch_up
    offsets = []
    cut = False
    for batch in source.blocking_batches(lambda _fd, _t: False):
        position = marshal.loads(body(batch))[0]  # noqa: S302 (our own bodies)
        offsets.append(json.loads(position)["files"][0]["off"])
        if catch_up.splits and not cut:  # (the first burst is read alone: see GROWING)
            os.truncate(log, size // 2)  # copytruncate-like, while both read
            cut = True
    assert catch_up.splits == 1
    assert catch_up.ended_early
    assert offsets[0] < size // 2
    end = log.read_bytes().rindex(b"\n") + 1
    # As one reader: on to the end of the shorter file (its head unchanged: no start over).
    assert offsets == sorted(set(offsets))
    assert offsets[-1] == end


def test_turns_alternate_and_cut_at_line_starts(tmp_path: Path) -> None:
    log = tmp_path / "auth.log"
    _write(log, "sshd", 10_000)
    data = log.read_bytes()
    fd = os.open(log, os.O_RDONLY)
    try:
        turns = plan_turns(fd, 0, len(data), 100 << 10)
    finally:
        os.close(fd)
    assert len(turns) >= 4
    assert len(turns) % 2 == 0
    assert [t.helped for t in turns] == [n % 2 == 1 for n in range(len(turns))]
    assert turns[0].start == 0
    assert turns[-1].end == len(data)
    for before, after in itertools.pairwise(turns):
        assert before.end == after.start
        assert data[after.start - 1 : after.start] == b"\n"


@pytest.mark.parametrize("read_burst", [BURST, 4 * BURST])
@pytest.mark.parametrize("name", sorted(corpora.CORPORA))
def test_every_corpus_splits_the_same(tmp_path: Path, name: str, read_burst: int) -> None:
    log = tmp_path / "corpus.log"
    _write(log, name, 20_000)
    filter_name = corpora.CORPORA[name].filter
    one, _ = _read(log, None, filter_name=filter_name)
    split, splits = _read(log, 256 << 10, filter_name=filter_name, read_burst=read_burst)
    # sshd's VERBOSE lines ("Connection from ...", in two corpora) may teach a session:
    # such a backlog is read by one reader.
    rules = MatcherSpec(filter_name, None, None).build(time.time).filter.fdef.sessions
    literals = () if rules is None else SessionTable(rules).teach_literals or ()
    data = log.read_bytes()
    assert splits == (0 if any(t.encode() in data for t in literals) else 1)
    assert _hits(one)
    _assert_same(log, split, one)


def test_only_a_jail_without_detectors_splits() -> None:
    from journalban.agent.fileworker import split_pays
    from journalban.config.loader import load_config

    config = load_config(None)
    assert split_pays(config.jails["postfix"])
    assert not split_pays(config.jails["sshd"]), "the packaged sshd jail has detectors"


def test_a_busy_machine_or_never_keeps_one_reader(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert core_free(1 << 20), "never a million runnable tasks"
    assert not core_free(0), "this process itself runs"
    log = tmp_path / "auth.log"
    _write(log, "sshd-near-miss", 30_000)
    monkeypatch.setenv(SPLIT_ENV, "never")
    _, splits = _read(log, 256 << 10)
    assert splits == 0
    monkeypatch.setenv(SPLIT_ENV, "auto")
    monkeypatch.setattr("journalban.agent.filesplit.core_free", lambda _cpus: False)
    _, splits = _read(log, 256 << 10)
    assert splits == 0


def test_a_file_written_fast_is_split_once_it_stops_growing(tmp_path: Path) -> None:
    """A log written faster than it is read (copied in one go) is split once, over all of
    it, when it stops growing; split at once, the first split would cover only what was
    there and a second fork would follow for the rest."""
    log = tmp_path / "auth.log"
    _write(log, "sshd-near-miss", 80_000)
    data = log.read_bytes()
    cuts = [0, data.index(b"\n", 400 << 10) + 1]
    for _ in range(3):
        cuts.append(data.index(b"\n", cuts[-1] + (2 << 20)) + 1)
    cuts.append(len(data))
    log.write_bytes(data[: cuts[1]])
    pieces = [data[a:b] for a, b in itertools.pairwise(cuts[1:])]
    source, body = _sshd_source(log)
    catch_up = CatchUp(body, None, 4 * BURST, 256 << 10, turn_bytes=512 << 10)
    source.splitter = catch_up
    split = []
    for batch in source.blocking_batches(lambda _fd, _t: False):
        split.append(marshal.loads(body(batch)))  # noqa: S302 (our own bodies)
        if pieces:  # the writer: 2 MiB after each burst read
            with log.open("ab") as f:
                f.write(pieces.pop(0))
    assert not pieces, "the whole log was written while it was read"
    assert catch_up.splits == 1
    one, _ = _read(log, None)
    _assert_same(log, split, one)


def test_a_real_time_policy_leaves_the_helper_a_core() -> None:
    """Under SCHED_RR (``chrt -r``) the helper takes its core from normal tasks: free."""
    import subprocess

    code = (
        "import os\n"
        "from journalban.agent.filesplit import core_free\n"
        "try:\n"
        "    os.sched_setscheduler(0, os.SCHED_RR, os.sched_param(1))\n"
        "except PermissionError:\n"
        "    raise SystemExit(3)\n"
        "print(core_free(0))\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False)
    if done.returncode == 3:
        from support.real import missing_real

        missing_real("setting SCHED_RR needs CAP_SYS_NICE")
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "True", "no task of the normal policy holds its core"
    assert not core_free(0), "under the normal policy this process itself runs"
