"""A journal failure's time is its entry's own, when journald received it (the real agent).

Not the entry's ``_SOURCE_REALTIME_TIMESTAMP`` (sources.journalbatch says why): the
entries here, written by systemd-journal-remote, carry one two hours before the time
they were received, as a backlog that journald stamped late would, only larger.
``journalban regex`` on the journal reads the same time.
"""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path

import pytest

from journalban.cli.regexinput import entry_batches, open_journal
from support.agent import PER_ADDRESS_ONLY, AgentProcess, StateReader, write_config
from support.journal import JournalWriter, sshd_fields

pytestmark = pytest.mark.real

ADDRESS = "203.0.113.8"
SENT_BEFORE = 7200.0  # the source time, this long before the entry's own


def failure(received: float, port: int) -> dict[str, str | int]:
    fields = sshd_fields(f"Failed password for root from {ADDRESS} port {port} ssh2")
    return {
        **fields,
        "_SOURCE_REALTIME_TIMESTAMP": int((received - SENT_BEFORE) * 1e6),
        "__REALTIME_TIMESTAMP": int(received * 1e6),
    }


def test_a_bans_start_is_the_receive_time_of_the_failure_that_tipped_it(tmp_path: Path) -> None:
    """By the source times the ban (1h, from the failure two hours back) would have
    expired before it was decided, and is skipped; by the entries' own it starts at the
    second failure's receive time."""
    jdir = tmp_path / "journal"
    state = tmp_path / "state"
    jail = {**PER_ADDRESS_ONLY, "findtime": "10m", "bantime": "1h", "maxretry": 2}
    cfg = write_config(tmp_path / "c.yaml", state, journal_dir=jdir,
                       firewall={"backend": "dry-run"}, jails={"sshd": jail})  # fmt: skip
    received = round(time.time()) - 30.0
    reader = StateReader(state)
    with JournalWriter(jdir) as writer:
        writer.write([failure(received, 1000), failure(received + 1.5, 1001)])
        writer.wait_visible(2)
        agent = AgentProcess(cfg)
        try:
            reader.wait(lambda: reader.total_failed("sshd") == 2, timeout=30)
            reader.wait(lambda: bool(reader.bans()), timeout=10)
        finally:
            agent.stop()
    db = sqlite3.connect(f"file:{reader.path}?mode=ro", uri=True, timeout=5)
    try:
        rows = db.execute("SELECT network, banned_at, expires_at FROM bans").fetchall()
    finally:
        db.close()
    assert rows == [(f"{ADDRESS}/32", received + 1.5, received + 1.5 + 3600)]


def test_journalban_regex_dates_an_entry_as_the_agent_does(tmp_path: Path) -> None:
    """The journal input of ``journalban regex``: the entry's own time, as the agent's."""
    received = 1_790_000_000.0
    with JournalWriter(tmp_path) as writer:
        writer.write([failure(received, 1000), failure(received + 1.5, 1001)])
        writer.wait_visible(2)
    reader = open_journal(tmp_path, [[("_SYSTEMD_UNIT", "ssh.service")]])
    try:
        batches = list(entry_batches(reader))
    finally:
        reader.close()
    assert [times for _, times, _ in batches] == [[received, received + 1.5]]
