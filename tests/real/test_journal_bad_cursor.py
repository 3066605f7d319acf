"""A journal position the state file holds but sd-journal cannot read as a cursor.

Positions are written by the agent, but the state file lives on a disk and can
be damaged or edited by hand. Such a position must not stop the jail: the
reader warns, names the position and reads back by findtime, as on a first
start, and new failures are counted.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from support.agent import AgentProcess, StateReader, last_cursor, write_config
from support.journal import JournalWriter, sshd_fields

MAXRETRY = 3

BAD = [
    "s=not-a-cursor",  # sd_journal_seek_cursor: EINVAL
    "garbage without any field",
    "",
]


@pytest.mark.parametrize("bad", BAD, ids=["bad-fields", "no-fields", "empty"])
def test_a_damaged_cursor_is_read_back_by_findtime(tmp_path: Path, bad: str) -> None:
    jdir = tmp_path / "journal"
    jdir.mkdir()
    state = tmp_path / "state"
    cfg = write_config(tmp_path / "c.yaml", state, journal_dir=jdir, firewall={"backend": "dry-run"},
                       jails={"sshd": {"maxretry": MAXRETRY}})  # fmt: skip
    reader = StateReader(state)
    first_line = "Failed password for root from 203.0.113.20 port 22 ssh2"
    with JournalWriter(jdir) as writer:
        writer.write([sshd_fields(first_line)])
        writer.wait_visible(1)
        first = AgentProcess(cfg)
        reader.wait(lambda: reader.total_failed("sshd") == 1)
        assert first.stop() == 0
        with sqlite3.connect(reader.path) as db:
            changed = db.execute(
                "UPDATE positions SET position = ? WHERE jail = 'sshd'", (bad,)
            ).rowcount
        assert changed == 1
        line = "Failed password for root from 203.0.113.30 port 22 ssh2"
        writer.write([sshd_fields(line)] * MAXRETRY)
        writer.wait_visible(1 + MAXRETRY)
        end = last_cursor(jdir)
        second = AgentProcess(cfg)
        try:
            second.wait_for_log("Ban 203.0.113.30 in jail sshd")
            reader.wait(lambda: reader.position("sshd") == end, timeout=30)
            assert second.proc.poll() is None, second.log
        finally:
            second.stop()
    assert "cannot be read as a journal cursor" in second.log
    assert "Traceback" not in second.log


def test_the_reader_child_given_a_damaged_cursor_reads_as_without_one(tmp_path: Path) -> None:
    """Behind the agent's check: a reader child handed such a position anyway seeks by
    ``since_usec``, as with none, rather than failing at every start."""
    from test_journal_source import SSHD_GROUPS

    from journalban.sources.journalwire import DATA, Request
    from support.readerchild import run_child

    jdir = tmp_path / "journal"
    jdir.mkdir()
    lines = [f"Failed password for root from 203.0.113.{n} port 22 ssh2" for n in range(1, 40)]
    with JournalWriter(jdir) as writer:
        writer.write([sshd_fields(line) for line in lines])
        writer.wait_visible(len(lines))

    def messages(cursor: str | None, out: str) -> list[str]:
        request = Request(matches=SSHD_GROUPS, directory=str(jdir), cursor=cursor, batch_size=7)
        run = run_child(request, tmp_path / out)
        return [str(m) for f in run.mine if f.kind == DATA for m in f.messages]

    plain = messages(None, "plain")
    assert len(plain) == len(lines)
    for n, bad in enumerate(BAD):
        assert messages(bad, f"bad{n}") == plain
