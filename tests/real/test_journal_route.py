"""The reader child's route (sources.journalroute): a message's start tells a jail's
candidates, and the frames are those the literal scan gives, on real journal files.

sshd's failures are found only by ``match`` of regexes that start with literals
(``JailFinder.starts``), and its session lines start with literals (the gate's
prefixes): the child skips a message starting with neither, and a session line
while no session is held and none was taught in the batch (``SessionGate.quiet``).
Read here three ways over the same entries (taught sessions, their counts and ends,
failures, near misses holding a failure literal further on, forged and unreadable
messages, in a seeded random order) and in batches of several sizes: with the
route, with the literal scan of the split prefilter, with the gate on every
candidate. Every frame must be the same, but for how many of the messages handed to
matching were not UTF-8 (``Frame.unreadable``): the route hands out fewer, so a message
starting as no candidate does not count there.
"""

from __future__ import annotations

import os
import random
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from test_journal_child import wait_entries
from test_journal_source import SSHD_GROUPS

from journalban.agent.journalreader import finder
from journalban.matching.engine import CompiledFilter
from journalban.matching.library import FilterLibrary
from journalban.matching.spec import MatcherSpec
from journalban.sources.journalbatch import FIRST_ENTRIES
from journalban.sources.journalnative import ENV, open_native
from journalban.sources.journalroute import pass_table
from journalban.sources.journalwire import Frame, Request
from journalban.sources.journalworker import Follower
from support.journal import JournalWriter, sshd_fields

pytestmark = pytest.mark.real


def _messages(rng: random.Random, k: int) -> list[tuple[bytes | str, int]]:
    """One connection's lines (message, pid)."""
    pid = 20_000 + k
    address = f"198.51.100.{k % 250 + 1}"
    other = f"2001:db8::{k:x}"
    out: list[tuple[bytes | str, int]] = []
    if rng.random() < 0.5:  # taught at LogLevel VERBOSE, then counted without an address
        out.append((f"Connection from {address} port {40000 + k} on 192.0.2.1 port 22", pid))
        out.append(("Disconnecting: Too many authentication failures [preauth]", pid))
    choices: list[bytes | str] = [
        f"Failed password for root from {address} port 22 ssh2",
        f"Failed password for invalid user admin from {other} port 22 ssh2",
        f"Invalid user oracle from {address} port 41000",
        f"error: PAM: Authentication failure for root from {address}",
        f"Accepted publickey for alice from {address} port 22 ssh2",
        # Near misses: a failure literal, but not where a failure starts.
        f"Failed publickey for bob from {address} port 22 ssh2",
        f"Received disconnect from {address} port 22:11: disconnected by user",
        "error: kex_exchange_identification: Connection closed by remote host",
        f"Connection closed by invalid user admin {address} port 22 [preauth]",
        f"Disconnected from authenticating user root {address} port 22 [preauth]",
        f"Connection reset by {address} port 22 [preauth]",
        f"pam_unix(sshd:auth): authentication failure; rhost={address}",
        # Forged: a failure's words after a start that is not one.
        f"Connection from 6.6.6.6 Failed password for root from {address} port 22 ssh2",
        f"User root from {address} not allowed because not listed in AllowUsers",
        f"Failed password for root from {address} port 22 ssh2".encode() + b"\xff\xfe",
        b"Failed \xff password for root from " + address.encode(),
        b"\xffFailed password for root from " + address.encode(),
        "F",
        "",
    ]
    out += [(rng.choice(choices), pid) for _ in range(rng.randrange(1, 4))]
    out.append((f"Connection closed by {address} port {40000 + k} [preauth]", pid))
    return out


def corpus(seed: int) -> list[dict[str, str | int | bytes]]:
    rng = random.Random(seed)
    lines = [line for k in range(250) for line in _messages(rng, k)]
    by_pid: dict[int, list[bytes | str]] = {}
    for message, pid in lines:  # each connection's lines, in their order
        by_pid.setdefault(pid, []).append(message)
    rng.shuffle(lines)  # connections overlap; each keeps its own lines' order
    ordered: list[dict[str, str | int | bytes]] = []
    for _, pid in lines:
        fields: dict[str, str | int | bytes] = {**sshd_fields("", pid=pid)}
        fields["MESSAGE"] = by_pid[pid].pop(0)
        ordered.append(fields)
    return ordered


SPEC = MatcherSpec("sshd", None, None, check_idents=False, successes=True)


def frames(
    directory: Path,
    batch: int,
    way: str,
    given: bool = True,
    stop: str | None = None,
    routes: list[Any] | None = None,
    native: Callable[[Any], Any] | None = None,
) -> list[Frame]:
    """Every frame one reader hands out over the directory: ``way`` route, scan or gate;
    ``given``: the finder given to the reader, else built after its scans (a held child's);
    ``stop``: the cursor of the first entry not to hand out (``Follower.stop_before``);
    ``routes``: gets the reader's route appended; ``native``: the directory's files read by
    the native reader (a catch-up part's, journalnative) passed through it."""
    fdef = FilterLibrary(None).load("sshd")
    assert fdef.sessions is not None
    assert fdef.sessions.literals is not None
    literals = (*CompiledFilter(fdef, None, successes=True).literals, *fdef.sessions.literals)
    request = Request(
        matches=SSHD_GROUPS, directory=str(directory), prefilter=literals, batch_size=batch,
        matcher=SPEC.to_json(), session_field="_PID",
    )  # fmt: skip
    sink = os.open(os.devnull, os.O_RDWR)
    if given:
        follower = Follower(request, sink, sink, finder(SPEC.to_json()))
    else:
        follower = Follower(request, sink, sink, make_finder=lambda: finder(SPEC.to_json()))
        follower.ensure_finder()
    assert follower.split is not None
    assert follower.split[2] is not None, "the route applies"
    if routes is not None:
        routes.append(follower.split[2])
    if native is not None:
        follower.reader.close()
        paths = sorted(str(path) for path in directory.glob("*.journal"))
        opened = open_native(paths, SSHD_GROUPS)
        assert opened is not None, "the native reader reads the files"
        follower.reader = native(opened)
    if way == "scan":
        follower.split = (*follower.split[:2], None)
    elif way == "gate":
        follower.split = None
    if native is None:
        follower.seek_start()
    else:  # as a catch-up's part: from its head (seek_realtime would hand over to libsystemd)
        follower.reader.seek_head()
    follower.stop_before(stop)
    out = []
    while (frame := follower.read_batch()) is not None:
        out.append(Frame.decode(frame.encode()[4:]))  # as the agent gets it
    follower.close()
    os.close(sink)
    return out


def readable(found: list[Frame]) -> list[Frame]:
    """The frames but for how many messages were not UTF-8 (the route counts fewer)."""
    return [replace(frame, unreadable=0) for frame in found]


def _unreadable_candidate(message: str | int | bytes) -> bool:
    if not isinstance(message, bytes):
        return False
    try:
        message.decode()
    except UnicodeDecodeError:
        return message.startswith(b"Failed password")  # a failure's start
    return False


def test_the_route_hands_out_what_the_literal_scan_does(tmp_path: Path) -> None:
    entries = corpus(19)
    with JournalWriter(tmp_path) as writer:
        writer.write(entries)
        writer.wait_visible(len(entries))
    wait_entries(tmp_path, len(entries))
    unreadable = sum(_unreadable_candidate(entry["MESSAGE"]) for entry in entries)
    for batch in (1, 7, 64, 5000):
        routed = frames(tmp_path, batch, "route")
        assert sum(frame.unreadable for frame in routed) == unreadable
        for way in ("scan", "gate"):
            other = frames(tmp_path, batch, way)
            assert sum(frame.unreadable for frame in other) > unreadable  # "\xffFailed ..."
            for frame in other:
                frame.unreadable = 0
            assert [replace(frame, unreadable=0) for frame in routed] == other, (batch, way)
    hits = [line for frame in routed for line in frame.lines]
    assert sum(frame.read for frame in routed) == len(entries)
    # Failures by address, accepted logins, and counts of taught sessions all came out.
    assert any(line.startswith("Failed password") for line in hits)
    assert any(line.startswith("Accepted ") for line in hits)
    assert any(line.startswith("Disconnecting: Too many") for line in hits)
    assert not any(line.startswith(("Failed publickey", "Connection from 6.6")) for line in hits)
    assert any(frame.sessions for frame in routed)


def test_a_reader_given_its_routed_finder_tunes_no_scan(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Given the finder up front (the child's own prefilter, ``Request.prefilter_from_finder``),
    a reader whose route tells the candidates reads no sample of the journal to tune scans it
    does not ask (7 ms of its start on sshd's jail), and hands out the frames of a reader
    whose finder came after its tuned scans."""
    from journalban.sources import journalworker
    from journalban.sources.literalscan import sample_messages as sample

    entries = corpus(23)
    with JournalWriter(tmp_path) as writer:
        writer.write(entries)
        writer.wait_visible(len(entries))
    wait_entries(tmp_path, len(entries))
    tuned = frames(tmp_path, 64, "route", given=False)
    sampled: list[int] = []

    def counted(reader: object, entries: int = 1000) -> bytes:
        sampled.append(entries)
        return sample(reader, entries)  # type: ignore[arg-type]

    monkeypatch.setattr(journalworker, "sample_messages", counted)
    assert frames(tmp_path, 64, "route") == tuned
    assert sampled == []


def test_the_routed_loop_reads_the_routed_batches_and_stops_where_told(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The route's batches are read by their own loop (``journalrouted``), which hands out
    what the literal scan's does, and honours a stop (a split's part ends before an entry)."""
    from journalban.sources import journalbatch, journalrouted

    entries = corpus(29)
    with JournalWriter(tmp_path) as writer:
        writer.write(entries)
        writer.wait_visible(len(entries))
    wait_entries(tmp_path, len(entries))
    calls: list[int] = []
    routed_loop = journalrouted.read_routed

    def counted(*args: Any) -> Any:
        calls.append(args[6])  # the batch's limit
        return routed_loop(*args)

    monkeypatch.setattr(journalbatch, "read_routed", counted)
    cursors = [frame.cursor for frame in frames(tmp_path, 1, "scan")]
    stop = cursors[len(cursors) // 2]  # the first entry not to hand out
    for batch in (1, 7, 5000):
        calls.clear()
        assert readable(frames(tmp_path, batch, "route")) == readable(
            frames(tmp_path, batch, "scan")
        )
        assert calls
        # The first batch reads FIRST_ENTRIES at most, the next ones up to the batch size.
        assert calls[0] == min(batch, FIRST_ENTRIES)
        assert all(limit <= batch for limit in calls)
        routed = frames(tmp_path, batch, "route", stop=stop)
        assert readable(routed) == readable(frames(tmp_path, batch, "scan", stop=stop))
        assert sum(frame.read for frame in routed) == len(cursors) // 2
        assert routed[-1].cursor == cursors[len(cursors) // 2 - 1]


def disconnects(seed: int) -> list[dict[str, str | int | bytes]]:
    """sshd's ``Received disconnect`` lines, most of reason 11 (no failure in the normal
    mode), some of reason 3 or 14, crafted ones holding a reason's text elsewhere, and
    failures between them."""
    rng = random.Random(seed)
    entries: list[dict[str, str | int | bytes]] = []
    for k in range(600):
        address = f"198.51.100.{k % 250 + 1}"
        bye: list[str | bytes] = [
            f"Received disconnect from {address} port {k}:11: Bye Bye [preauth]"
        ]
        message = rng.choice(
            bye * 6
            + [
                f"error: Received disconnect from {address} port {k}:11: disconnected by user",
                f"Received disconnect from {address} port {k}:3: Auth fail [preauth]",
                f"Received disconnect from {address} port {k}: 14: No supported methods",
                f"error: Received disconnect from {address} port {k}:14: No methods",
                f"Received disconnect from {address} port {k}:11: x 3: y [preauth]",
                f"Received disconnect from 203.0.113.9 port 1:3: z from {address}:11: q",
                f"Received disconnect from {address} port {k}:11: ".encode() + b"\xff\xfe",
                f"Received disconnect from {address}:3: ",
                f"Failed password for root from {address} port 22 ssh2",
            ]
        )
        entries.append({**sshd_fields("", pid=30_000 + k), "MESSAGE": message})
    return entries


def test_the_route_skips_reason_11_disconnects_and_hands_out_what_the_scan_does(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The ``Received disconnect from`` class's trial keeps its guard (reason ``3: `` or
    ``14: ``): the route then skips the reason-11 lines before their decode and match, and
    every frame is the literal scan's and the gate's (but for the unreadable count)."""
    monkeypatch.delenv(ENV, raising=False)  # (the native reader's turn below)
    entries = disconnects(31)
    with JournalWriter(tmp_path) as writer:
        writer.write(entries)
        writer.wait_visible(len(entries))
    wait_entries(tmp_path, len(entries))
    for batch in (1, 7, 64, 5000):
        routes: list[Any] = []
        routed = readable(frames(tmp_path, batch, "route", routes=routes))
        (route,) = routes
        assert set(route._ahead) == {
            b"Received disconnect from ",
            b"error: Received disconnect from ",
        }, "the trial kept the guard"
        assert routed == readable(frames(tmp_path, batch, "scan"))
        assert routed == readable(frames(tmp_path, batch, "gate"))
        # The native reader's _pass tells the guarded starts' lines to the route's match.
        native = readable(frames(tmp_path, batch, "route", routes=routes, native=lambda r: r))
        assert set(routes[-1]._ahead) == set(route._ahead)
        assert native == routed
    hits = [line for frame in routed for line in frame.lines]
    assert sum(frame.read for frame in routed) == len(entries)
    assert any(":3: Auth fail" in line for line in hits)
    assert any(": 14: No supported" in line for line in hits)
    assert any(":14: No methods" in line for line in hits)
    assert not any(":11: " in line and "z from" not in line for line in hits)


class _WithoutPass:
    """A native reader without ``_pass``: the routed loop steps over every entry itself."""

    def __init__(self, reader: Any) -> None:
        self._reader = reader

    def __getattr__(self, name: str) -> Any:
        if name == "_pass":
            raise AttributeError(name)
        return getattr(self._reader, name)


def test_the_native_readers_pass_hands_out_what_the_routed_loop_does(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The native reader steps over the entries no start begins in C (``_pass``): the frames
    are those of the same loop stepping over each entry in Python, and of libsystemd's reader,
    in every batch size, stopping where told."""
    monkeypatch.delenv(ENV, raising=False)
    entries = corpus(31)
    with JournalWriter(tmp_path) as writer:
        writer.write(entries)
        writer.wait_visible(len(entries))
    wait_entries(tmp_path, len(entries))
    cursors = [frame.cursor for frame in frames(tmp_path, 1, "route")]
    passes: list[int] = []

    def counted(reader: Any) -> Any:
        step = reader._pass

        def counting(*args: Any) -> int:
            passed: int = step(*args)
            passes.append((-passed - 1) >> 8 if passed < 0 else passed)
            return passed

        return type("Counted", (_WithoutPass,), {"_pass": staticmethod(counting)})(reader)

    for stop in (None, cursors[len(cursors) // 3]):
        for batch in (1, 7, 64, 5000):
            expected = frames(tmp_path, batch, "route", stop=stop)
            passes.clear()
            assert frames(tmp_path, batch, "route", stop=stop, native=counted) == expected
            assert sum(passes) > 0, "entries were passed over in C"
            assert all(frame.read for frame in expected)
            assert frames(tmp_path, batch, "route", stop=stop, native=_WithoutPass) == expected


def test_the_native_readers_pass_steps_as_next_and_get_would(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``_pass(most, table, starts, stop_usec)`` counts the entries ``_next()`` reaches from
    where the reader stands whose MESSAGE is missing, empty or starts with none of ``starts``
    (and is earlier than ``stop_usec``), at most ``most``, leaving the reader on the last; or
    stands on the next one, where it starts with one of ``starts`` (within ``most``, before
    ``stop_usec``): then -(count * 256 + the start's index) - 1."""
    monkeypatch.delenv(ENV, raising=False)
    entries = corpus(37)
    with JournalWriter(tmp_path) as writer:
        writer.write(entries)
        writer.wait_visible(len(entries))
    wait_entries(tmp_path, len(entries))
    paths = sorted(str(path) for path in tmp_path.glob("*.journal"))
    reference = open_native(paths, SSHD_GROUPS)
    reader = open_native(paths, SSHD_GROUPS)
    assert reference is not None
    assert reader is not None
    rows: list[tuple[bytes | None, int, str]] = []
    while reference._next():
        try:
            message: bytes | None = reference._get("MESSAGE")
        except KeyError:
            message = None
        rows.append((message, reference._get_realtime(), reference._get_cursor()))
    starts = (b"Connection closed by ", b"Connection from ", b"Failed password for ", b"I")
    table = pass_table(starts)
    assert table[ord("C")] == 1
    assert table[ord("F")] == 3
    assert table[ord("I")] == 4
    assert table.count(0) == 253
    rng = random.Random(37)
    for _ in range(300):
        at = rng.randrange(len(rows) + 1)  # entries read before: stand after them
        most = rng.choice((0, 1, 2, 5, 50, 10_000))
        stop = rng.choice((-1, rows[rng.randrange(len(rows))][1]))
        reader.seek_head()
        for _ in range(at):
            assert reader._next()
        expected = 0
        for message, realtime, _ in rows[at:]:
            if expected >= most or (stop >= 0 and realtime >= stop):
                break
            if message and message.startswith(starts):
                break
            expected += 1
        following = rows[at + expected] if at + expected < len(rows) else None
        stands = (  # on the next entry: one of starts, within most and before stop_usec
            following is not None
            and expected < most
            and bool(following[0])
            and following[0].startswith(starts)  # type: ignore[union-attr]
            and not (stop >= 0 and following[1] >= stop)
        )
        passed = reader._pass(most, table, starts, stop)  # type: ignore[attr-defined]
        if stands:
            assert following is not None
            index = next(k for k, start in enumerate(starts) if following[0].startswith(start))  # type: ignore[union-attr]
            assert passed == -(expected * 256 + index) - 1
            assert reader._get_cursor() == following[2]
            assert reader._get("MESSAGE") == following[0]
            following = rows[at + expected + 1] if at + expected + 1 < len(rows) else None
        else:
            assert passed == expected
        if not stands and at + expected:
            assert reader._get_cursor() == rows[at + expected - 1][2]
        assert (reader._get_cursor() if reader._next() else None) == (
            following[2] if following is not None else None
        )
    with pytest.raises(TypeError):
        reader._pass(1, b"short", starts, -1)  # type: ignore[attr-defined]
    reader.close()
    reference.close()
