"""The agent benchmark's corpus: gen_sshd_corpus's lines, dated recently, as a file and a journal.

The generator's lines are re-dated so that the corpus ends a minute before it
is written and spans ``SPAN`` seconds: a jail with a findtime longer than that
counts every failure (neither agent skips a line as too old). The journal
variant holds the same lines as export records written by
systemd-journal-remote: MESSAGE without the syslog prefix,
``_SYSTEMD_UNIT=ssh.service``, ``_UID=0``, the line's ident and pid, and
``__REALTIME_TIMESTAMP`` and ``_SOURCE_REALTIME_TIMESTAMP`` from its date.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

from gen_sshd_corpus import generate

from support.journal import JOURNAL_REMOTE, export_record

SPAN = 86400.0  # the corpus covers one day
MAX_AGE = 6 * 3600.0  # a cached corpus older than this is written again
SYSLOG = re.compile(r"^(\w{3} [ \d]\d \d\d:\d\d:\d\d) (\S+) ([^:\[]+)(?:\[(\d+)\])?: (.*)$")


@dataclass(frozen=True)
class Corpus:
    """The same lines as a syslog file and as a directory of journal files."""

    log: Path
    journal: Path
    lines: int
    ends_at: float
    journal_files: int
    journal_bytes: int


def dated_lines(lines: int, ends_at: float) -> Iterator[tuple[float, str]]:
    """(time, syslog line) with the generator's text and a date from the last ``SPAN``."""
    step = SPAN / lines
    first = ends_at - SPAN
    stamps: dict[int, str] = {}
    for i, line in enumerate(generate(lines)):
        when = first + i * step
        second = int(when)
        stamp = stamps.get(second)
        if stamp is None:
            stamps.clear()
            stamp = stamps[second] = time.strftime("%b %e %H:%M:%S", time.localtime(second))
        # The generator's date is 15 characters ("Nov 21 00:00:02").
        yield when, stamp + line[15:]


def journal_fields(line: str, when: float) -> dict[str, str | int]:
    """Export-record fields of one syslog line, as journald stores a syslog message."""
    found = SYSLOG.match(line)
    if found is None:
        raise ValueError(f"not a syslog line: {line!r}")
    _, host, ident, pid, message = found.groups()
    usec = int(when * 1e6)
    fields: dict[str, str | int] = {
        "__REALTIME_TIMESTAMP": usec,
        "_SOURCE_REALTIME_TIMESTAMP": usec,
        "_TRANSPORT": "syslog",
        "_SYSTEMD_UNIT": "ssh.service",
        "_UID": 0,
        "_GID": 0,
        "_COMM": ident,
        "_HOSTNAME": host,
        "PRIORITY": 6,
        "SYSLOG_FACILITY": 10,
        "SYSLOG_IDENTIFIER": ident,
        "MESSAGE": message,
    }
    if pid is not None:
        fields["_PID"] = int(pid)
        fields["SYSLOG_PID"] = int(pid)
    return fields


def _write_journal(directory: Path, records: Iterator[tuple[float, str]]) -> None:
    """Feed export records to systemd-journal-remote, which rotates its files itself."""
    proc = subprocess.Popen(
        [JOURNAL_REMOTE, "-o", str(directory / "remote.journal"), "-"],
        stdin=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
    )
    assert proc.stdin is not None
    buf = bytearray()
    for seq, (when, line) in enumerate(records, 1):
        fields = journal_fields(line, when)
        usec = int(fields.pop("__REALTIME_TIMESTAMP"))
        buf += export_record(fields, usec, seq)
        if len(buf) > 1 << 20:
            proc.stdin.write(bytes(buf))
            buf.clear()
    proc.stdin.write(bytes(buf))
    proc.stdin.close()
    if proc.wait() != 0:
        raise RuntimeError(f"systemd-journal-remote exited {proc.returncode}")


def write_journal_records(directory: Path, entries: Iterable[tuple[float, str, int]]) -> None:
    """sshd messages (time, message, pid) as journal files, through systemd-journal-remote."""
    proc = subprocess.Popen(
        [JOURNAL_REMOTE, "-o", str(directory / "remote.journal"), "-"],
        stdin=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
    )
    assert proc.stdin is not None
    buf = bytearray()
    for seq, (when, message, pid) in enumerate(entries, 1):
        usec = int(when * 1e6)
        fields: dict[str, str | int] = {
            "_SOURCE_REALTIME_TIMESTAMP": usec, "_TRANSPORT": "syslog",
            "_SYSTEMD_UNIT": "ssh.service", "_UID": 0, "_GID": 0, "_COMM": "sshd",
            "_HOSTNAME": "host", "PRIORITY": 6, "SYSLOG_FACILITY": 10,
            "SYSLOG_IDENTIFIER": "sshd", "_PID": pid, "SYSLOG_PID": pid, "MESSAGE": message,
        }  # fmt: skip
        buf += export_record(fields, usec, seq)
        if len(buf) > 1 << 20:
            proc.stdin.write(bytes(buf))
            buf.clear()
    proc.stdin.write(bytes(buf))
    proc.stdin.close()
    if proc.wait() != 0:
        raise RuntimeError(f"systemd-journal-remote exited {proc.returncode}")


def ensure_corpus(data: Path, lines: int) -> Corpus:
    """The corpus in ``data`` (written again when missing or older than ``MAX_AGE``)."""
    meta_path = data / "corpus.json"
    if meta_path.exists():
        meta = json.loads(meta_path.read_text())
        if meta["lines"] == lines and time.time() - meta["ends_at"] < MAX_AGE:
            return Corpus(
                data / "auth.log", data / "journal", lines, meta["ends_at"],
                meta["journal_files"], meta["journal_bytes"],
            )  # fmt: skip
    shutil.rmtree(data, ignore_errors=True)
    journal = data / "journal"
    journal.mkdir(parents=True)
    ends_at = time.time() - 60
    log = data / "auth.log"
    with log.open("w", encoding="utf-8") as out:
        out.writelines(line + "\n" for _, line in dated_lines(lines, ends_at))
    _write_journal(journal, dated_lines(lines, ends_at))
    files = list(journal.glob("*.journal"))
    meta = {
        "lines": lines,
        "ends_at": ends_at,
        "journal_files": len(files),
        "journal_bytes": sum(f.stat().st_size for f in files),
    }
    meta_path.write_text(json.dumps(meta))
    return Corpus(log, journal, lines, ends_at, meta["journal_files"], meta["journal_bytes"])
