"""The file reader skips session lines only when none of them could matter.

While the table is idle (no session held, no count waiting) only a line
holding a teach literal is looked at (``matching.sessionlines``), and a batch
without one not at all (``SessionTable.idle_for``). Batch by batch over sshd logs with and without VERBOSE
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


def test_while_idle_only_lines_holding_a_teach_literal_are_cut_out() -> None:
    rules = _rules()
    assert rules.literals is not None
    head = "Nov 21 10:00:00 host sshd[7]: "
    text = "\n".join(
        [
            head + "Connection closed by 203.0.113.9 port 4242 [preauth]",
            head + "banner exchange: Connection from 203.0.113.9 port 4242: invalid format",
            head + "Accepted publickey for alice from 198.51.100.4 port 2222 ssh2",
            head + "Disconnected from 203.0.113.9 port 4242",
        ]
    )
    idle = SessionTable(rules)
    assert list(session_lines(idle, text, rules.literals)) == [text.split("\n")[1]]
    every = list(session_lines(_LooksAtEverything(rules), text, rules.literals))
    assert every == [text.split("\n")[i] for i in (0, 1, 3)]
