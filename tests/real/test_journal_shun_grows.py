"""A shunned journal file still written to: what is appended to it is counted lost as it comes.

The file the reader children die moving in is shunned (tests/real/test_journal_poison.py);
when it is the file still written to (not archived: journald appends to it until it
rotates), each entry appended later is lost too. The agent counts them while it runs (the
reader child reads the shunned file's header each second and tells its last sequence
number; the agent counts what came since and keeps that count in the state), and a
restart counts none of them again. The real agent reads files of systemd-journal-remote,
the shunned one damaged by hand and appended to by journal-remote while the agent runs.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from test_journal_poison import AFTER, BEFORE, MAXRETRY, chain_first

from journalban.agent.sourcing import STRIKES
from journalban.sources.journalshun import header_of
from support.agent import StateReader, last_cursor, metrics_config, running, unreadable_lines
from support.journal import export_record, remote_write, sshd_fields

pytestmark = pytest.mark.real
APPENDED = 7


def test_entries_appended_to_a_shunned_file_are_counted_as_they_come_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("JOURNALBAN_SOURCE_RETRY", "0.2")
    jdir = tmp_path / "journal"
    jdir.mkdir()
    now = time.time()
    first = [sshd_fields(f"Failed password for root from {BEFORE} port {n} ssh2")
             for n in range(MAXRETRY)]  # fmt: skip
    first.append(sshd_fields("Failed password for root from 192.0.2.77 port 7 ssh2 " + "y" * 2000))
    later = [sshd_fields(f"Failed password for root from {AFTER} port {n} ssh2")
             for n in range(MAXRETRY)]  # fmt: skip
    for name, entries, start in (("a", first, now - 120), ("b", later, now - 60)):
        records = [export_record(fields, int((start + n) * 1e6), n + 1)
                   for n, fields in enumerate(entries)]  # fmt: skip
        remote_write(jdir / f"{name}.journal", records)
    (jdir / "a.journal").rename(tmp_path / "a.journal")  # b's last entry: the end
    end = last_cursor(jdir)
    (tmp_path / "a.journal").rename(jdir / "a.journal")
    chain_first(jdir / "a.journal")
    shunned = header_of(str(jdir / "a.journal"))
    assert shunned is not None
    assert not shunned.archived  # the file still written to

    def append(count: int, start: float) -> None:
        # Another unit's entries (journal-remote looking ssh.service's value up would die of
        # the damage as the readers do): lost all the same, by their sequence numbers.
        records = [export_record(sshd_fields(f"cron line {n}", unit="cron.service"),
                                 int((start + n) * 1e6), n + 50)
                   for n in range(count)]  # fmt: skip
        remote_write(jdir / "a.journal", records)

    cfg, textfile = metrics_config(tmp_path, jdir, MAXRETRY)
    reader = StateReader(tmp_path / "state")
    with running(cfg) as agent:
        agent.wait_for_log(f"Ban {AFTER} in jail sshd", timeout=60)
        reader.wait(lambda: reader.position("sshd") == end)
        reader.wait(lambda: unreadable_lines(textfile) == len(first), timeout=10)
        assert f"stops reading journal file {jdir / 'a.journal'}" in agent.log
        assert "until the journal is rotated" in agent.log  # it says the file is still written
        # Entries appended to it while the agent runs: counted as they come (within a look,
        # a second), not at the next start.
        append(APPENDED, now - 40)
        grown = header_of(str(jdir / "a.journal"))
        assert grown is not None
        assert grown.tail == shunned.tail + APPENDED
        reader.wait(lambda: unreadable_lines(textfile) == len(first) + APPENDED, timeout=10)
        agent.wait_for_log(f"entries appended to journal file {jdir / 'a.journal'}, shunned")
        # (at warning once: its count may come in parts, a look in the middle of a write)
        assert agent.log.count("entries appended to journal file") == 1
    assert agent.log.count("exited (-6)") == 1 + STRIKES + 1, agent.log[-3000:]

    # Started again, the agent shuns it from the start and counts none of them again (the
    # count kept in the state); what is appended while it runs is counted, once.
    textfile.unlink()
    with running(cfg) as again:
        reader.wait(lambda: unreadable_lines(textfile) == 0, timeout=10)
        time.sleep(1.5)  # its reader child looked: nothing counted
        assert unreadable_lines(textfile) == 0
        append(2, now - 30)
        reader.wait(lambda: unreadable_lines(textfile) == 2, timeout=10)
        time.sleep(1.5)  # looked at again: nothing more counted
        assert unreadable_lines(textfile) == 2
    assert "exited (" not in again.log, again.log[-3000:]
    assert "0 entries written to it since" in again.log

    # Another restart counts only what was appended while the agent was stopped.
    append(3, now - 10)
    textfile.unlink()
    with running(cfg) as third:
        reader.wait(lambda: unreadable_lines(textfile) == 3, timeout=10)
        time.sleep(1.5)
        assert unreadable_lines(textfile) == 3
    assert "3 entries written to it since" in third.log, third.log[-3000:]
    assert "exited (" not in third.log
    assert reader.position("sshd") == end
    assert reader.bans() == {("sshd", f"{AFTER}/32")}
