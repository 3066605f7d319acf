"""The native reader steps over the entries holding none of a jail's literals in C
(``_journalfile.Reader._scan``, sources.journalskip), for a jail without a route of starts
(dovecot's): on real journal files from journal-remote, its steps are those ``_next()``
and ``_get("MESSAGE")`` with a substring test would take, and the reader child's frames
are those of the same loop stepping over every entry in Python, and of libsystemd's
reader, in every batch size, stopping where told.

The messages hold the filter's failures, its literals at the very start and end of a
message, cut short by a byte on either side, with a byte changed, repeated and
overlapping, undecodable bytes, NUL bytes and empty messages, in a seeded random order.
"""

from __future__ import annotations

import os
import random
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
from journalban.sources.journalnative import ENV, open_native
from journalban.sources.journalskip import scan_literals
from journalban.sources.journalwire import Frame, Request
from journalban.sources.journalworker import Follower
from support.journal import JournalWriter, sshd_fields

pytestmark = pytest.mark.real

SPEC = MatcherSpec("dovecot", None, None, check_idents=False)
# Literals of rare bytes besides dovecot's: a table with more stop bytes than the C finds
# by memchr (8), read by its look at every byte.
EXTRA = ["#1#", "@a", "%b", "&c", "^d", "~e", "|f", "{g", "}h", "<i"]


def _literals() -> list[str]:
    literals = CompiledFilter(FilterLibrary(None).load("dovecot"), None).literals
    assert literals is not None
    return list(literals)


def corpus(seed: int) -> list[bytes]:
    """Messages: failures, near misses and noise around the filter's literals."""
    rng = random.Random(seed)
    literals = [literal.strip().encode() for literal in (*_literals(), *EXTRA)]
    fail = "imap-login: Disconnected (auth failed, 1 attempts in 2 secs): user=<u{k}>, rip={a}"
    out: list[bytes] = []
    for k in range(120):
        address = f"198.51.100.{k % 250 + 1}".encode()
        literal = rng.choice(literals)
        changed = bytearray(literal)
        changed[rng.randrange(len(literal))] ^= 0x20
        out += [
            fail.format(k=k, a=address.decode()).encode(),
            literal,
            literal[1:],
            literal[:-1],
            bytes(changed),
            b"x" + literal + b" rip=" + address,
            literal[: len(literal) // 2] + literal,
            b"imap-login: Login: user=<u" + str(k).encode() + b">, rip=" + address,
            b"\xff\xfe " + literal[:-1] + b"\x00" + literal[-1:],
            b"auth: " + literal + b"\xff rip=" + address,
            b"",
            b"noise " * rng.randrange(1, 30),
        ]
    rng.shuffle(out)
    return out


def _write(directory: Path, messages: list[bytes]) -> list[str]:
    entries = [{**sshd_fields(""), "MESSAGE": message} for message in messages]
    with JournalWriter(directory) as writer:
        writer.write(entries)
        writer.wait_visible(len(entries))
    wait_entries(directory, len(entries))
    return sorted(str(path) for path in directory.glob("*.journal"))


class _WithoutScan:
    """A native reader without ``_scan``: the general loop steps over every entry itself."""

    def __init__(self, reader: Any) -> None:
        self._reader = reader

    def __getattr__(self, name: str) -> Any:
        if name == "_scan":
            raise AttributeError(name)
        return getattr(self._reader, name)


def test_the_native_readers_scan_steps_as_next_and_get_would(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``_scan(most, table, literals, at, stop_usec)`` counts the entries ``_next()`` reaches
    from where the reader stands whose MESSAGE holds none of the literals (and is earlier
    than ``stop_usec``), at most ``most``, leaving the reader on the last; or stands on the
    next one, where it holds one (within ``most``, before ``stop_usec``): then
    -(count * 256) - 1."""
    monkeypatch.delenv(ENV, raising=False)
    paths = _write(tmp_path, corpus(41))
    reference = open_native(paths, SSHD_GROUPS)
    reader: Any = open_native(paths, SSHD_GROUPS)  # its _scan: not in NativeReader's protocol
    assert reference is not None
    assert reader is not None
    rows: list[tuple[bytes | None, int, str]] = []
    while reference._next():
        try:
            message: bytes | None = reference._get("MESSAGE")
        except KeyError:
            message = None
        rows.append((message, reference._get_realtime(), reference._get_cursor()))
    rng = random.Random(41)
    sample = b"\n".join(row[0] or b"" for row in rows[:200])
    counted: list[int] = []
    for wanted, tuned in ((_literals(), b""), (_literals(), sample), ([*_literals(), *EXTRA], b"")):
        stripped = [literal.strip().encode() for literal in wanted]

        def held(message: bytes | None, stripped: list[bytes] = stripped) -> bool:
            return message is not None and any(literal in message for literal in stripped)

        assert sum(map(held, (row[0] for row in rows))) > len(rows) // 4
        scan = scan_literals(wanted, tuned)
        assert scan is not None
        table, literals, at = scan
        counted.append(sum(1 for entry in table if entry))  # its stop bytes
        for _ in range(300):
            start = rng.randrange(len(rows) + 1)  # entries read before: stand after them
            most = rng.choice((0, 1, 2, 5, 50, 10_000))
            stop = rng.choice((-1, rows[rng.randrange(len(rows))][1]))
            reader.seek_head()
            for _ in range(start):
                assert reader._next()
            expected = 0
            for message, realtime, _ in rows[start:]:
                if expected >= most or (stop >= 0 and realtime >= stop) or held(message):
                    break
                expected += 1
            following = rows[start + expected] if start + expected < len(rows) else None
            stands = (
                following is not None
                and expected < most
                and held(following[0])
                and not (stop >= 0 and following[1] >= stop)
            )
            passed = reader._scan(most, table, literals, at, stop)
            if stands:
                assert following is not None
                assert passed == -(expected * 256) - 1
                assert reader._get_cursor() == following[2]
                assert reader._get("MESSAGE") == following[0]
                following = rows[start + expected + 1] if start + expected + 1 < len(rows) else None
            else:
                assert passed == expected
            if not stands and start + expected:
                assert reader._get_cursor() == rows[start + expected - 1][2]
            assert (reader._get_cursor() if reader._next() else None) == (
                following[2] if following is not None else None
            )
    assert min(counted) <= 8 < max(counted), "both ways of the C's search were asked"
    # Arguments out of the C's bounds are refused, not read past.
    with pytest.raises(TypeError):
        reader._scan(1, b"short", literals, at, -1)
    with pytest.raises(TypeError):
        reader._scan(1, table, literals, at[:-1], -1)
    with pytest.raises(TypeError):
        reader._scan(1, table, (*literals[:-1], "text"), at, -1)
    # A table pointing past the literals, offsets past their ends: nothing is found there.
    wild = bytes([255] * 256)
    reader.seek_head()
    assert reader._scan(len(rows), wild, literals, at, -1) == len(rows)
    reader.seek_head()
    far = b"\xff\xff" * len(literals)
    assert reader._scan(len(rows), table, literals, far, -1) == len(rows)
    reader.close()
    reference.close()


def frames(directory: Path, batch: int, native: Any, stop: str | None = None) -> list[Frame]:
    """Every frame a dovecot jail's reader hands out over the directory (``native``: the
    files read by the native reader passed through it; None: libsystemd's)."""
    request = Request(
        matches=SSHD_GROUPS, directory=str(directory), prefilter=tuple(_literals()),
        batch_size=batch, matcher=SPEC.to_json(),
    )  # fmt: skip
    sink = os.open(os.devnull, os.O_RDWR)
    follower = Follower(request, sink, sink, finder(SPEC.to_json()))
    assert follower.gate is None
    assert follower.scan_literals is not None
    if native is None:
        follower.seek_start()
    else:  # as a catch-up's part: from its head (seek_realtime would hand over to libsystemd)
        follower.reader.close()
        paths = sorted(str(path) for path in directory.glob("*.journal"))
        opened = open_native(paths, SSHD_GROUPS)
        assert opened is not None, "the native reader reads the files"
        follower.reader = native(opened)
        follower.reader.seek_head()
    follower.stop_before(stop)
    out = []
    while (frame := follower.read_batch()) is not None:
        out.append(Frame.decode(frame.encode()[4:]))  # as the agent gets it
    follower.close()
    os.close(sink)
    return out


def test_the_native_readers_scan_hands_out_what_the_general_loop_does(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(ENV, raising=False)
    _write(tmp_path, corpus(43))
    cursors = [frame.cursor for frame in frames(tmp_path, 1, None)]
    scans: list[int] = []

    def counted(reader: Any) -> Any:
        step = reader._scan

        def counting(*args: Any) -> int:
            passed: int = step(*args)
            scans.append((-passed - 1) >> 8 if passed < 0 else passed)
            return passed

        return type("Counted", (_WithoutScan,), {"_scan": staticmethod(counting)})(reader)

    for stop in (None, cursors[len(cursors) // 3]):
        for batch in (1, 7, 64, 5000):
            expected = frames(tmp_path, batch, _WithoutScan, stop=stop)
            scans.clear()
            assert frames(tmp_path, batch, counted, stop=stop) == expected
            assert sum(scans) > 0, "entries were passed over in C"
            assert sum(frame.read for frame in expected) == (
                len(cursors) if stop is None else len(cursors) // 3
            )
            assert any(frame.hits for frame in expected)
            # libsystemd's reader: the same frames (the cursors are the same entries')
            assert [replace(f, cursor="") for f in frames(tmp_path, batch, None, stop=stop)] == [
                replace(f, cursor="") for f in expected
            ]
