"""A journal file cut short (shorter than its header says): its lost entries are told.

libsystemd 252 refuses such a file at open (ENODATA), every entry of it: a directory reader
leaves it out without an error, and the agent read on as if the file were not there, its
entries neither logged nor counted. The real agent here reads a directory of
systemd-journal-remote files, one of them cut: one warning names it, its entries after the
position are counted as unreadable, the other files' failures are banned, and a restarted
agent counts nothing twice.
"""

from __future__ import annotations

import contextlib
import os
import re
import signal
import time
from pathlib import Path

import pytest

from support.agent import (
    AgentProcess,
    StateReader,
    last_cursor,
    metrics_config,
    unreadable_lines,
)
from support.journal import JournalWriter, export_record, remote_write, sshd_fields

pytestmark = pytest.mark.real

MAXRETRY = 3
BEFORE, AFTER = "203.0.113.9", "198.51.100.7"
TOLD = r"journal file (\S+) is shorter than its header says \(cut, damaged\): libsystemd does " \
       r"not read it at all; its (\d+) entries after the position"  # fmt: skip


def write(path: Path, entries: list[dict[str, str | int]], start: float, first_seq: int) -> None:
    records = [export_record(fields, int((start + n) * 1e6), first_seq + n)
               for n, fields in enumerate(entries)]  # fmt: skip
    remote_write(path, records)


def cut(path: Path) -> None:
    """Cut the file in the middle of what it holds (its last object's offset, halved)."""
    with path.open("rb") as file:
        head = file.read(144)
    os.truncate(path, int.from_bytes(head[136:144], "little") // 2)


def failures(address: str, count: int) -> list[dict[str, str | int]]:
    return [sshd_fields(f"Failed password for root from {address} port {n} ssh2")
            for n in range(count)]  # fmt: skip


def test_a_file_cut_before_the_agent_reads_it_is_told_and_its_entries_counted(
    tmp_path: Path,
) -> None:
    jdir = tmp_path / "journal"
    jdir.mkdir()
    now = time.time()
    first = failures(BEFORE, MAXRETRY) + [sshd_fields(f"noise {n}") for n in range(200)]
    write(jdir / "a.journal", first, now - 600, 1)
    write(jdir / "b.journal", failures(AFTER, MAXRETRY), now - 60, 1000)
    cut(jdir / "a.journal")
    cfg, textfile = metrics_config(tmp_path, jdir, MAXRETRY)
    reader = StateReader(tmp_path / "state")
    agent = AgentProcess(cfg)
    try:
        agent.wait_for_log(f"Ban {AFTER} in jail sshd", timeout=60)
        reader.wait(lambda: unreadable_lines(textfile) == len(first), timeout=10)
    finally:
        agent.stop()
    assert reader.bans() == {("sshd", f"{AFTER}/32")}
    assert re.findall(TOLD, agent.log) == [(str(jdir / "a.journal"), str(len(first)))]
    assert "exited (" not in agent.log

    textfile.unlink()
    again = AgentProcess(cfg)
    try:
        again.wait_for_log("running:")
        reader.wait(lambda: unreadable_lines(textfile) == 0, timeout=10)
        time.sleep(1.5)
    finally:
        again.stop()
    assert unreadable_lines(textfile) == 0  # its entries come before the position: none lost now
    assert re.findall(TOLD, again.log) == [(str(jdir / "a.journal"), "0")]  # still there
    assert reader.total_failed("sshd") == MAXRETRY


def test_a_file_cut_while_followed_costs_no_reader(tmp_path: Path) -> None:
    """The file followed is cut under the reader child (its tail pages mapped): when a new
    file appears (a rotation), libsystemd repositioned on the cut file and the child died of
    SIGBUS; now the cut file is found first and the journal opened again without it."""
    jdir = tmp_path / "journal"
    cfg, textfile = metrics_config(tmp_path, jdir, MAXRETRY)
    writer = JournalWriter(jdir, "a.journal")
    try:
        writer.write(failures(BEFORE, MAXRETRY) + [sshd_fields(f"noise {n}") for n in range(200)])
        writer.wait_visible(MAXRETRY + 200)
        end = last_cursor(jdir)
        reader = StateReader(tmp_path / "state")
        agent = AgentProcess(cfg)
        try:
            agent.wait_for_log(f"Ban {BEFORE} in jail sshd", timeout=60)
            reader.wait(lambda: reader.position("sshd") == end)
            writer.close()
            cut(jdir / "a.journal")
            later = JournalWriter(jdir, "b.journal")
            try:
                later.write(failures(AFTER, MAXRETRY))
                agent.wait_for_log(f"Ban {AFTER} in jail sshd", timeout=60)
            finally:
                later.close()
            reader.wait(lambda: unreadable_lines(textfile) == 0, timeout=10)
        finally:
            agent.stop()
    finally:
        writer.close()
    assert "exited (" not in agent.log, agent.log[-3000:]
    assert reader.total_failed("sshd") == 2 * MAXRETRY
    # told once (when the new file came), none of its entries after the position: all read
    assert re.findall(TOLD, agent.log) == [(str(jdir / "a.journal"), "0")]


def reader_children(pid: int) -> list[int]:
    """The agent's journal reader children (``journalworker``)."""
    found = []
    for child in Path(f"/proc/{pid}/task/{pid}/children").read_text().split():
        with contextlib.suppress(OSError):
            if b"journal" in Path(f"/proc/{child}/cmdline").read_bytes():
                found.append(int(child))
    return found


def test_a_cut_file_holding_the_last_entries_is_counted_once(tmp_path: Path) -> None:
    """The cut file holds the journal's newest entries: no entry after it is read, so the
    position stays before it and each reader child started again (a source's restart, an
    agent's) counted its entries again; now the agent keeps how far each was counted."""
    jdir = tmp_path / "journal"
    jdir.mkdir()
    now = time.time()
    write(jdir / "a.journal", failures(BEFORE, MAXRETRY), now - 600, 1)
    last = failures(AFTER, MAXRETRY) + [sshd_fields(f"noise {n}") for n in range(200)]
    write(jdir / "b.journal", last, now - 60, 1000)
    cut(jdir / "b.journal")
    cfg, textfile = metrics_config(tmp_path, jdir, MAXRETRY)
    reader = StateReader(tmp_path / "state")
    agent = AgentProcess(cfg)
    try:
        agent.wait_for_log(f"Ban {BEFORE} in jail sshd", timeout=60)
        reader.wait(lambda: unreadable_lines(textfile) == len(last), timeout=10)
        (child,) = reader_children(agent.proc.pid)
        os.kill(child, signal.SIGKILL)  # the source restarts, its position before the cut file
        agent.wait_for_log("failed; restarting it")
        reader.wait(lambda: [child] != reader_children(agent.proc.pid) != [], timeout=20)
        time.sleep(1.5)
        assert unreadable_lines(textfile) == len(last)
    finally:
        agent.stop()
    assert re.findall(TOLD, agent.log) == [(str(jdir / "b.journal"), str(len(last))),
                                           (str(jdir / "b.journal"), "0")]  # fmt: skip

    textfile.unlink()
    again = AgentProcess(cfg)
    try:
        again.wait_for_log("running:")
        reader.wait(lambda: unreadable_lines(textfile) == 0, timeout=10)
        time.sleep(1.5)
        assert unreadable_lines(textfile) == 0
    finally:
        again.stop()
    assert re.findall(TOLD, again.log) == [(str(jdir / "b.journal"), "0")]
    assert reader.bans() == {("sshd", f"{BEFORE}/32")}
    assert "exited (-" not in again.log
