"""A journal entry that kills its reader (a damaged file) does not stall the journal source.

libsystemd 252 aborts on a damaged zstd-compressed DATA object (``decompress_startswith_zstd``'s
assertion): each reader child that reads the entry dies, and one started again from the
committed cursor died at the same entry, for ever. The real agent here reads a journal file
written by systemd-journal-remote, holding failures before and after one such entry: it
steps up to the entry, skips it (logged with its file and cursor, counted as unreadable),
bans from the failures after it, and, started again, reads nothing twice.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from test_journal_child import small_fs

from journalban.agent.sourcing import STRIKES
from journalban.clock import FakeClock
from journalban.sources.journal import JournalSource
from support.agent import (
    AgentProcess,
    StateReader,
    last_cursor,
    metrics_config,
    running,
    unreadable_lines,
)
from support.journal import export_record, remote_write, sshd_fields

pytestmark = pytest.mark.real
__all__ = ["small_fs"]  # the fixture, imported for its use here

MAXRETRY = 3
BEFORE, AFTER = "203.0.113.9", "198.51.100.7"
DATA_OBJECT, ZSTD = 1, 4  # journal-def.h: OBJECT_DATA, OBJECT_COMPRESSED_ZSTD

# Reads every entry's MESSAGE with libsystemd: dies of SIGABRT on the damaged one.
PROBE = """
import sys
from systemd._reader import _Reader
reader = _Reader(0, None, [sys.argv[1]])
while reader._next():
    reader._get("MESSAGE")
"""


def compressed_objects(blob: bytes) -> list[tuple[int, int]]:
    """(offset, size) of each zstd-compressed DATA object of a journal file."""
    found, at = [], int.from_bytes(blob[88:96], "little")  # the header's size
    while at + 16 <= len(blob):
        kind, flags, size = blob[at], blob[at + 1], int.from_bytes(blob[at + 8 : at + 16], "little")
        if kind == 0 or size < 16:
            break
        if kind == DATA_OBJECT and flags & ZSTD:
            found.append((at, size))
        at += (size + 7) // 8 * 8
    return found


def aborts(path: Path) -> bool:
    run = subprocess.run([sys.executable, "-c", PROBE, str(path)], capture_output=True,
                         timeout=60, check=False)  # fmt: skip
    return run.returncode == -6 and b"decompress_startswith_zstd" in run.stderr


def damage(path: Path) -> None:
    """Flip one bit of the file's one compressed payload, the first (in a fixed order) that
    makes libsystemd abort."""
    blob = path.read_bytes()
    (at, size), = compressed_objects(blob)  # fmt: skip
    payload = at + (72 if int.from_bytes(blob[8:12], "little") & 16 else 64)  # compact or not
    for byte in range(payload + 4, at + size):  # past zstd's magic
        for bit in (3, 6, 7, 0, 2, 4, 5, 1):
            spoiled = bytearray(blob)
            spoiled[byte] ^= 1 << bit
            path.write_bytes(spoiled)
            if aborts(path):
                return
    raise AssertionError("no bit of the compressed payload makes libsystemd abort")


def journal(directory: Path, now: float) -> tuple[int, str]:
    """Failures of BEFORE, one entry with a compressed MESSAGE (damaged), failures of AFTER
    with a local user's line between them; the entries' count and the damaged one's text."""
    long = f"Failed password for root from 192.0.2.77 port 7 ssh2 {'y' * 2000}"
    entries = [sshd_fields(f"Failed password for root from {BEFORE} port {n} ssh2")
               for n in range(MAXRETRY)]  # fmt: skip
    entries.append(sshd_fields(long))
    for n in range(MAXRETRY):
        entries.append(sshd_fields(f"Failed password for root from {AFTER} port {n} ssh2"))
        entries.append(sshd_fields(f"session opened for user alice by (uid=0) {n}"))
    records = [export_record(fields, int((now - 60 + n) * 1e6), n + 1)
               for n, fields in enumerate(entries)]  # fmt: skip
    path = directory / "remote.journal"
    remote_write(path, records)
    damage(path)
    return len(entries), long


def run_to_end(cfg: Path, reader: StateReader, end: str, textfile: Path, lost: int) -> AgentProcess:
    """The agent (stopped) once it banned AFTER, read to ``end`` and counted ``lost`` lines
    unreadable."""
    with running(cfg) as agent:
        agent.wait_for_log(f"Ban {AFTER} in jail sshd", timeout=60)
        reader.wait(lambda: reader.position("sshd") == end)
        reader.wait(lambda: unreadable_lines(textfile) == lost, timeout=10)
    return agent


def run_again(cfg: Path, ready: Callable[[], bool] = lambda: True) -> AgentProcess:
    """The agent started again (stopped) 1.5 s after it runs and ``ready`` holds: a reader
    that read anything again would have committed it by then."""
    with running(cfg) as again:
        deadline = time.monotonic() + 10
        while not ready():
            assert time.monotonic() < deadline, "never ready"
            time.sleep(0.05)
        time.sleep(1.5)
    return again


def test_a_damaged_entry_is_skipped_and_the_source_reads_on(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("JOURNALBAN_SOURCE_RETRY", "0.2")  # the agent's wait between restarts
    jdir = tmp_path / "journal"
    jdir.mkdir()
    state = tmp_path / "state"
    cfg, textfile = metrics_config(tmp_path, jdir, MAXRETRY)
    _, damaged = journal(jdir, time.time())
    end = last_cursor(jdir)
    reader = StateReader(state)
    agent = run_to_end(cfg, reader, end, textfile, 1)
    assert reader.bans() == {("sshd", f"{BEFORE}/32"), ("sshd", f"{AFTER}/32")}
    assert reader.total_failed("sshd") == 2 * MAXRETRY  # the damaged one not among them
    assert "192.0.2.77" not in agent.log
    skipped = re.findall(r"skipped a journal entry .*?: file (\S+), cursor (\S+);", agent.log)
    assert len(skipped) == 1, agent.log[-3000:]
    path, cursor = skipped[0]
    assert path == str(jdir / "remote.journal")
    # The first child dies in its first batch; the stepping one after it hands the entries
    # before the damaged one and dies there; STRIKES stepping ones die there with nothing
    # handed; the next skips it.
    assert agent.log.count("exited (-6)") == 1 + 1 + 2
    # the cursor logged is the damaged entry's: the one entry after it is the last BEFORE
    from systemd._reader import _Reader

    check = _Reader(0, None, [path])
    check.seek_cursor(cursor)
    assert check._next()
    assert check.test_cursor(cursor)
    assert check._previous()
    assert check._get("MESSAGE") == f"Failed password for root from {BEFORE} port 2 ssh2".encode()
    check.close()
    assert damaged  # (its text is never read: the entry's fields are where the damage is)

    again = run_again(cfg)
    assert reader.total_failed("sshd") == 2 * MAXRETRY
    assert reader.position("sshd") == end
    assert "skipped a journal entry" not in again.log
    assert "exited (" not in again.log


def test_a_damaged_entry_in_an_archived_file_read_natively_is_skipped(
    tmp_path: Path, small_fs: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The catch-up reads archived files natively (journalnative), which takes compressed
    values from libsystemd: it aborts there too; the stepping children read through the
    directory reader."""
    monkeypatch.setenv("JOURNALBAN_SOURCE_RETRY", "0.2")
    now, seq, total = time.time(), 0, 0
    for chunk in range(6):
        entries = [sshd_fields(f"Failed password for root from 10.{chunk}.{n // 250}.{n % 250 + 1} "
                               f"port {n} ssh2") for n in range(1000)]  # fmt: skip
        if chunk == 1:
            entries.insert(500, sshd_fields("Failed password for root from 192.0.2.77 port 7 ssh2 "
                                            + "y" * 2000))  # fmt: skip
        if chunk in (0, 5):  # failures that ban, in the first file and in the one written to
            address = BEFORE if chunk == 0 else AFTER
            entries += [sshd_fields(f"Failed password for root from {address} port 1 ssh2")] * 3
        records = []
        for fields in entries:
            seq += 1
            records.append(export_record(fields, int((now - 1200 + seq * 0.05) * 1e6), seq))
        remote_write(small_fs / "remote.journal", records)
        total += len(entries)
    holding = [p for p in small_fs.iterdir() if compressed_objects(p.read_bytes())]
    assert len(holding) == 1
    assert "@" in holding[0].name  # an archived file: the catch-up reads it natively
    assert len(list(small_fs.glob("*.journal"))) >= 3
    damage(holding[0])
    end = last_cursor(small_fs)
    cfg, textfile = metrics_config(tmp_path, small_fs, MAXRETRY)
    reader = StateReader(tmp_path / "state")
    agent = run_to_end(cfg, reader, end, textfile, 1)
    assert "reads closed files natively" in agent.log
    assert reader.bans() == {("sshd", f"{BEFORE}/32"), ("sshd", f"{AFTER}/32")}
    assert reader.total_failed("sshd") == total - 1
    skipped = re.findall(r"skipped a journal entry .*?: file (\S+), cursor (\S+);", agent.log)
    assert [path for path, _ in skipped] == [str(holding[0])]
    again = run_again(cfg)
    assert reader.total_failed("sshd") == total - 1
    assert "exited (" not in again.log


def test_a_stepping_reader_reads_its_catch_up_alone_each_entry_once(small_fs: Path) -> None:
    """After a crash the reader child steps, then reads its catch-up of archived files without
    a helper (a helper's share is primed by reading back before it, over the entry that
    killed a reader maybe); a reader started normally splits the same catch-up."""
    now, total = time.time(), 6000
    for chunk in range(6):
        records = [export_record(sshd_fields(f"line {n}"), int((now - 1200 + n * 0.05) * 1e6), n + 1)
                   for n in range(chunk * 1000, chunk * 1000 + 1000)]  # fmt: skip
        remote_write(small_fs / "remote.journal", records)
    assert len(list(small_fs.glob("*@*.journal"))) >= 2  # archived files: a catch-up in groups

    async def read(stepping: bool) -> tuple[list[int], list[str], int]:
        source = JournalSource("journal:sshd", clock=FakeClock(now), findtime=3600.0,
                               matches=[{"_SYSTEMD_UNIT": "ssh.service"}], batch_size=700,
                               directory=str(small_fs), split_at=1)  # fmt: skip
        source.resume(step=stepping, skip=False)
        counts: list[int] = []
        lines: list[str] = []
        most = 0
        batches = source.batches()
        try:
            async with asyncio.timeout(30):
                while sum(counts) < total:
                    batch = await anext(batches)
                    counts.append(batch.count)
                    lines += batch.lines
                    most = max(most, len(source.child_pids))
        finally:
            source.close()
            with contextlib.suppress(StopAsyncIteration):
                await anext(batches)  # closed: it ends, its children stopped
        return counts, lines, most

    expected = [f"line {n}" for n in range(total)]
    counts, lines, readers = asyncio.run(read(stepping=True))
    assert counts[:700] == [1] * 700
    assert lines == expected
    assert readers == 1
    counts, lines, readers = asyncio.run(read(stepping=False))
    assert lines == expected
    assert readers == 2  # the same catch-up, started normally, is split with a helper


# Moves with the sshd jail's match only (its lookup in each file): dies of SIGABRT on a file
# whose match bucket leads to the damaged compressed object first.
MOVE = """
import sys
from systemd._reader import _Reader
reader = _Reader(0, None, [sys.argv[1]])
reader.add_match("_SYSTEMD_UNIT=ssh.service")
while reader._next():
    reader._get_cursor()
"""


UNIT = b"_SYSTEMD_UNIT=ssh.service\0"


def chain_first(path: Path) -> None:
    """Damage the file so that libsystemd aborts while moving in it, before any entry: its
    one compressed DATA object (damaged: ``damage``) takes the hash of the
    ``_SYSTEMD_UNIT=ssh.service`` object and heads that hash's bucket, so that a reader
    with that match decompresses it looking the match up (``decompress_blob_zstd``'s
    assertion): a reader that skips an entry without reading it dies too."""
    damage(path)
    blob = bytearray(path.read_bytes())
    payload = 72 if int.from_bytes(blob[12:16], "little") & 16 else 64  # compact or not
    (spoiled, _), = compressed_objects(bytes(blob))  # fmt: skip
    at, unit = int.from_bytes(blob[88:96], "little"), None
    while unit is None:
        size = int.from_bytes(blob[at + 8 : at + 16], "little")
        if blob[at] == DATA_OBJECT and blob[at + payload :].startswith(UNIT):
            unit = at
        at += (size + 7) // 8 * 8
    digest = blob[unit + 16 : unit + 24]
    table, table_size = (int.from_bytes(blob[n : n + 8], "little") for n in (104, 112))
    bucket = table + int.from_bytes(digest, "little") % (table_size // 16) * 16
    blob[spoiled + 16 : spoiled + 24] = digest  # its hash
    blob[spoiled + 24 : spoiled + 32] = blob[bucket : bucket + 8]  # next in the bucket
    blob[bucket : bucket + 8] = spoiled.to_bytes(8, "little")
    path.write_bytes(blob)
    run = subprocess.run([sys.executable, "-c", MOVE, str(path)], capture_output=True,
                         timeout=60, check=False)  # fmt: skip
    assert run.returncode == -6, run.stderr
    assert b"decompress_blob_zstd" in run.stderr


def test_a_file_its_readers_die_moving_in_is_shunned_and_the_others_read(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A file whose damage kills every reader moving in it (even one skipping an entry:
    on main the source stalled, each child dying before its first entry): after the
    skipping child died too, the next ones never open that file; its entries are logged
    lost and counted unreadable, the later file's failures banned, a restart of the agent
    reads nothing twice (and shuns the file again, losing nothing more)."""
    monkeypatch.setenv("JOURNALBAN_SOURCE_RETRY", "0.2")
    jdir = tmp_path / "journal"
    jdir.mkdir()
    now = time.time()
    first = [sshd_fields(f"Failed password for root from {BEFORE} port {n} ssh2")
             for n in range(MAXRETRY)]  # fmt: skip
    first.append(sshd_fields("Failed password for root from 192.0.2.77 port 7 ssh2 " + "y" * 2000))
    later = []
    for n in range(MAXRETRY):
        later.append(sshd_fields(f"Failed password for root from {AFTER} port {n} ssh2"))
        later.append(sshd_fields(f"session opened for user alice by (uid=0) {n}"))
    for name, entries, start in (("a", first, now - 120), ("b", later, now - 60)):
        records = [export_record(fields, int((start + n) * 1e6), n + 1)
                   for n, fields in enumerate(entries)]  # fmt: skip
        remote_write(jdir / f"{name}.journal", records)
    from systemd._reader import _Reader

    check = _Reader(0, None, [str(jdir / "b.journal")])
    check.seek_tail()
    assert check._previous()
    end = check._get_cursor()
    check.close()
    chain_first(jdir / "a.journal")
    cfg, textfile = metrics_config(tmp_path, jdir, MAXRETRY)
    reader = StateReader(tmp_path / "state")
    agent = run_to_end(cfg, reader, end, textfile, len(first))
    assert reader.bans() == {("sshd", f"{AFTER}/32")}
    assert reader.total_failed("sshd") == MAXRETRY
    shunned = re.findall(r"stops reading journal file (\S+): .*?; its (\d+) entries", agent.log)
    assert shunned == [(str(jdir / "a.journal"), str(len(first)))], agent.log[-3000:]
    # the first child, STRIKES stepping ones and the skipping one died, each at once
    assert agent.log.count("exited (-6)") == 1 + STRIKES + 1

    # A restarted agent remembers the file it shunned (by its header's identity, in the
    # state): no reader child opens it, none dies, nothing more is lost or counted.
    textfile.unlink()
    again = run_again(cfg, lambda: unreadable_lines(textfile) == 0)
    assert reader.total_failed("sshd") == MAXRETRY
    assert reader.position("sshd") == end
    assert "exited (" not in again.log, again.log[-3000:]
    assert "stops reading journal file" not in again.log
    kept = re.findall(r"still does not read journal file (\S+), shunned", again.log)
    assert kept == [str(jdir / "a.journal")], again.log[-3000:]
    assert unreadable_lines(textfile) == 0

    # Another file at that path (the damaged one removed, a new one written there) is read.
    (jdir / "a.journal").unlink()
    records = [export_record(sshd_fields(f"Failed password for root from {BEFORE} port {n} ssh2"),
                             int((now - 30 + n) * 1e6), n + 100)  # (after b's, by time)
               for n in range(MAXRETRY)]  # fmt: skip
    remote_write(jdir / "a.journal", records)
    with running(cfg) as third:
        third.wait_for_log(f"Ban {BEFORE} in jail sshd", timeout=60)
    assert "exited (" not in third.log
    assert "still does not read journal file" not in third.log
    assert f"forgets journal file {jdir / 'a.journal'}" in third.log, third.log[-3000:]
