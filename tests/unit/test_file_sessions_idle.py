"""The file reader skips session lines only when none of them could matter.

While the table is idle (no session held, no count waiting) only a line
holding a teach mark (``]: Connection from``: a teach regex's start right
after the tag) is looked at (``matching.sessionlines``), a batch without one
not at all, and a line no teach regex matches is neither dated nor fed
(``SessionTable.may_use``). Batch by batch over sshd logs with and without VERBOSE
lines, the file path finds the same failures and leaves the same table rows
as when it looks at every session line.
"""

from __future__ import annotations

import random
import sys
from pathlib import Path

import pytest

from journalban.matching.library import FilterLibrary
from journalban.matching.sessionlines import session_lines
from journalban.matching.sessions import SessionRules, SessionTable, file_session_hits

sys.path.insert(0, str(Path(__file__).parents[1] / "benchmarks"))

import corpora

from journalban.matching.sessions import SYSLOG_TAG

NOW = 1_764_000_000.0
BATCH = 400


def _rules() -> SessionRules:
    rules = FilterLibrary().load("sshd").sessions
    assert rules is not None
    return rules


class _LooksAtEverything(SessionTable):
    """A table never idle: the reader looks at every session line, as before the skip."""

    @property
    def idle(self) -> bool:
        return False


def _verbose(lines: list[str], seed: int) -> list[str]:
    """``lines`` with VERBOSE sessions mixed in: taught, counted, ended, some of them."""
    rng = random.Random(seed)
    out: list[str] = []
    for line in lines:
        out.append(line)
        if rng.random() < 0.02:
            pid = rng.randint(2000, 2100)
            head = f"{line[:15]} host sshd[{pid}]: "
            addr = f"198.51.100.{rng.randint(1, 254)}"
            out.append(
                head + f"Connection from {addr} port {rng.randint(1024, 65535)} on 10.0.0.1 port 22"
            )
            for _ in range(rng.randint(0, 2)):
                out.append(head + "Disconnecting: Too many authentication failures [preauth]")
            if rng.random() < 0.5:
                out.append(head + f"Connection closed by {addr} port 4242 [preauth]")
    return out


def _run(lines: list[str], skip: bool) -> tuple[list[object], ...]:
    table = SessionTable(_rules()) if skip else _LooksAtEverything(_rules())
    hits: list[object] = []
    rows: list[object] = []
    for start in range(0, len(lines), BATCH):
        batch = lines[start : start + BATCH]
        hits += file_session_hits(table, batch, lambda _line: NOW, lambda _ident: False, NOW)
        rows += sorted(table.changes(), key=repr)
    return hits, rows, [len(table)]


@pytest.mark.parametrize("name", ["sshd", "sshd-near-miss"])
@pytest.mark.parametrize("verbose", [False, True])
def test_skipping_idle_batches_finds_the_same_failures_and_rows(name: str, verbose: bool) -> None:
    lines = [line for line, _ in corpora.flagged_lines(name, 20_000)]
    if verbose:
        lines = _verbose(lines, 7)
    every = _run(lines, False)
    skipping = _run(lines, True)
    assert skipping == every
    if verbose:
        assert every[0], "the VERBOSE lines count failures"
        assert every[1], "and change the table"


def test_a_held_session_or_a_teach_line_turns_the_skip_off() -> None:
    table = SessionTable(_rules())
    closed = "Nov 21 10:00:01 host sshd[7]: Connection closed by 203.0.113.9 port 4242 [preauth]"
    assert table.idle_for(closed)
    teach = (
        "Nov 21 10:00:00 host sshd[7]: Connection from 203.0.113.9 port 4242 on 10.0.0.1 port 22"
    )
    assert not table.idle_for(teach + "\n" + closed)
    file_session_hits(table, [teach], lambda _line: NOW, lambda _ident: False, NOW)
    assert len(table) == 1
    assert not table.idle_for(closed)


def test_while_idle_only_lines_holding_a_teach_mark_are_cut_out() -> None:
    rules = _rules()
    assert rules.literals is not None
    head = "Nov 21 10:00:00 host sshd[7]: "
    text = "\n".join(
        [
            head + "Connection closed by 203.0.113.9 port 4242 [preauth]",
            head + "banner exchange: Connection from 203.0.113.9 port 4242: invalid format",
            head + "Accepted publickey for alice from 198.51.100.4 port 2222 ssh2",
            head + "Disconnected from 203.0.113.9 port 4242",
            head + "Connection from 203.0.113.9 port 4242 on 10.0.0.1 port 22",
        ]
    )
    idle = SessionTable(rules)
    assert list(session_lines(idle, text, rules.literals)) == [text.split("\n")[4]]
    every = list(session_lines(_LooksAtEverything(rules), text, rules.literals))
    assert every == [text.split("\n")[i] for i in (0, 1, 3, 4)]


def _crafted(lines: list[str], seed: int) -> list[str]:
    """``lines`` with lines that hold the teach mark or literal where no teach regex
    matches, next to real teach, count and end lines of the same pids."""
    rng = random.Random(seed)
    out: list[str] = []
    for line in lines:
        out.append(line)
        if rng.random() < 0.05:
            pid = rng.randint(2000, 2010)
            head = f"{line[:15]} host sshd[{pid}]: "
            a, b = f"198.51.100.{rng.randint(1, 254)}", f"203.0.113.{rng.randint(1, 254)}"
            out += [
                head + f"banner exchange: Connection from {a} port 4242: invalid format",
                head + f"Invalid user x]: Connection from {a} port 1 on 10.0.0.1 port 22",
                f"{line[:15]} host x]: Connection from {a} port 1 on 10.0.0.1 port 22",
                head + f"fake[{pid + 1}]: Connection from {a} port 1 on 10.0.0.1 port 22",
                head + f"Connection fromage {a} port 1 on 10.0.0.1 port 22",
                head + "Disconnecting: Too many authentication failures [preauth]",
            ]
            if rng.random() < 0.3:
                out.append(head + f"Connection from {b} port 1 on 10.0.0.1 port 22")
                out.append(head + "Disconnecting: Too many authentication failures [preauth]")
            if rng.random() < 0.5:
                out.append(head + f"Connection closed by {b} port 4242 [preauth]")
    return out


def _fed_every_line(lines: list[str]) -> tuple[list[object], ...]:
    """The reference: every tagged line fed to the table, dated, no prefilter at all."""
    table = SessionTable(_rules())
    hits: list[object] = []
    rows: list[object] = []
    for start in range(0, len(lines), BATCH):
        for line in lines[start : start + BATCH]:
            tag = SYSLOG_TAG.search(line)
            if tag is None:
                continue
            key = f"{tag.group('ident')}[{tag.group('pid')}]"
            hit = table.feed(line[tag.end() :], key, NOW)
            if hit is not None:
                hits.append((line, hit[1], hit[2], hit[3], hit[4]))
        rows += sorted(table.changes(), key=repr)
    return hits, rows, [len(table)]


@pytest.mark.parametrize("name", ["sshd", "authlog-mixed"])
def test_the_marks_find_what_feeding_every_line_finds(name: str) -> None:
    lines = _crafted([line for line, _ in corpora.flagged_lines(name, 20_000)], 11)
    found = _run(lines, True)
    assert found == _fed_every_line(lines)
    assert found[0], "the crafted teach lines count failures"
    # No crafted line taught its own address: only the real teach lines' (203.0.113.x).
    taught = {hit[1] for hit in found[0] if isinstance(hit, tuple)}
    assert taught
    assert taught <= {f"203.0.113.{i}" for i in range(1, 255)}


def test_while_idle_a_line_no_teach_regex_matches_is_neither_dated_nor_fed() -> None:
    table = SessionTable(_rules())
    assert table.teach_marks == ("]: Connection from",)
    head = "Nov 21 10:00:00 host sshd[7]: "
    banner = head + "banner exchange: Connection from 203.0.113.9 port 4242: invalid format"
    assert not table.may_use(banner[len(head) :], "sshd[7]")
    inside = head + "Invalid user x]: Connection from 203.0.113.9 port 1 on 10.0.0.1 port 22"
    assert not table.may_use(inside[len(head) :], "sshd[7]")
    dated: list[str] = []

    def line_time(line: str) -> float:
        dated.append(line)
        return NOW

    assert file_session_hits(table, [banner, inside] * 50, line_time, lambda _i: False, NOW) == []
    assert dated == []
    assert table.idle_for(banner)
    assert not table.idle_for(head + "Connection from 203.0.113.9 port 1 on 10.0.0.1 port 22")


@pytest.mark.parametrize(
    ("name", "marks"),
    [
        ("sshd", ("]: Connection from",)),
        ("mongodb-auth", ("]: [initandlisten] connection accepted from",)),
        # A start holding no teach literal would be commoner than the literal: not a mark.
        ("slapd", ("ACCEPT from IP=",)),
        ("opensmtpd", ("smtp connected address=",)),
    ],
)
def test_the_teach_marks_hold_a_teach_literal(name: str, marks: tuple[str, ...]) -> None:
    rules = FilterLibrary().load(name).sessions
    assert rules is not None
    assert SessionTable(rules).teach_marks == marks
