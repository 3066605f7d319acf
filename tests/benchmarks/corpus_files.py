"""A corpus of corpora.py, re-dated to the day before, as a syslog file and as journal files.

The agent benchmarks need each corpus twice: as the file a jail with
``source: files`` tails, and as journal files the same lines would be in, as
journald stores a syslog message (MESSAGE without the prefix, the ident as
SYSLOG_IDENTIFIER and _COMM, the pid). Every line is re-dated so that the
corpus spans ``SPAN`` seconds and ends a minute before it is written: a jail
with a longer findtime counts every failure. Each line goes to the unit its
program runs in (sshd: ssh.service, Dovecot: dovecot.service, Postfix:
postfix@-.service with the postfix user's uid, cron, logind...), so a jail's
journal matches select its own lines, as on a real host.
"""

from __future__ import annotations

import fcntl
import json
import os
import pwd
import re
import shutil
import signal
import subprocess
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from types import FrameType
from typing import Any

from corpora import flagged_lines

from support.journal import JOURNAL_REMOTE, export_record

SPAN = 86400.0
# A cached corpus older than this is written again. The agent's short detector bans that
# end before now are held as virtual bans, not committed: an older corpus gives it less
# work, fail2ban-server the same (sshd: 12,509 bans written fresh, 11,246 at 2.2 h, 10,251
# at 4 h). An hour keeps two runs in a row on the same corpora.
MAX_AGE = 3600.0
SYSLOG = re.compile(r"^(\w{3} [ \d]\d \d\d:\d\d:\d\d) (\S+) ([^:\[]+)(?:\[(\d+)\])?: (.*)$")


# Ctrl-C's SIGINT already raises KeyboardInterrupt (and is left so: pytest's own).
STOP_SIGNALS = (signal.SIGTERM, signal.SIGHUP)


def clean_up_when_stopped() -> None:
    """Make SIGTERM and SIGHUP end a benchmark as Ctrl-C does, by an exception: its
    ``finally`` and ``with`` blocks run (its agents stopped, its temporary directories and a
    corpus half written removed), where the default action left them behind. Further
    signals during that cleanup are ignored. Called by the shared helpers every runner goes
    through (``ensure_files``, bench_agent's main); a signal some caller set is left as it is."""
    if threading.current_thread() is not threading.main_thread():
        return  # handlers are set in the main thread only
    runner = os.getpid()

    def stop(signum: int, frame: FrameType | None) -> None:
        if os.getpid() != runner:  # a child forked by the runner ends as it would have
            signal.signal(signum, signal.SIG_DFL)
            os.kill(os.getpid(), signum)
            return
        for number in STOP_SIGNALS:  # a handler, not SIG_IGN: what the cleanup runs gets
            signal.signal(number, _ignored)  # the default again
        raise SystemExit(128 + signum)

    for number in STOP_SIGNALS:
        if signal.getsignal(number) == signal.SIG_DFL:
            signal.signal(number, stop)


def _ignored(signum: int, frame: FrameType | None) -> None:
    """A signal after the first: the cleanup it started goes on."""


def postfix_uid() -> int:
    try:
        return pwd.getpwnam("postfix").pw_uid
    except KeyError:
        return 107


# ident (or its start) -> (unit, uid)
UNITS: list[tuple[str, str, int]] = [
    ("sshd", "ssh.service", 0),
    ("postfix", "postfix@-.service", -1),  # the postfix user's
    ("dovecot", "dovecot.service", 0),
    ("auth", "dovecot.service", 0),  # Dovecot's auth process logs as "auth"
    ("imap", "dovecot.service", 0),
    ("pop3", "dovecot.service", 0),
    ("CRON", "cron.service", 0),
    ("systemd-logind", "systemd-logind.service", 0),
    ("polkitd", "polkit.service", 998),
    ("systemd", "user@1000.service", 1000),
]


def unit_of(ident: str) -> tuple[str, int]:
    for start, unit, uid in UNITS:
        if ident.startswith(start):
            return unit, postfix_uid() if uid < 0 else uid
    return "session-1.scope", 1000  # sudo, su, login: a user's session


@dataclass(frozen=True)
class CorpusFiles:
    """One corpus as a syslog file and a directory of journal files."""

    name: str
    log: Path
    journal: Path
    lines: int
    failures: int
    ends_at: float
    journal_files: int
    journal_bytes: int


def dated(name: str, lines: int, ends_at: float) -> Iterator[tuple[float, str, bool]]:
    """(time, syslog line, a failure) with the corpus's text and a date from the last SPAN."""
    step = SPAN / lines
    first = ends_at - SPAN
    stamps: dict[int, str] = {}
    for i, (line, failure) in enumerate(flagged_lines(name, lines)):
        when = first + i * step
        second = int(when)
        stamp = stamps.get(second)
        if stamp is None:
            stamps.clear()
            stamp = stamps[second] = time.strftime("%b %e %H:%M:%S", time.localtime(second))
        yield when, stamp + line[15:], failure


def journal_fields(line: str, when: float) -> dict[str, str | int]:
    found = SYSLOG.match(line)
    if found is None:
        raise ValueError(f"not a syslog line: {line!r}")
    _, host, ident, pid, message = found.groups()
    unit, uid = unit_of(ident)
    usec = int(when * 1e6)
    fields: dict[str, str | int] = {
        "_SOURCE_REALTIME_TIMESTAMP": usec, "_TRANSPORT": "syslog", "_SYSTEMD_UNIT": unit,
        "_UID": uid, "_GID": uid, "_COMM": ident.split("/")[-1][:15], "_HOSTNAME": host,
        "PRIORITY": 6, "SYSLOG_FACILITY": 10, "SYSLOG_IDENTIFIER": ident, "MESSAGE": message,
    }  # fmt: skip
    if pid is not None:
        fields["_PID"] = int(pid)
        fields["SYSLOG_PID"] = int(pid)
    return fields


def _write_journal(directory: Path, name: str, lines: int, ends_at: float) -> None:
    proc = subprocess.Popen(
        [JOURNAL_REMOTE, "-o", str(directory / "remote.journal"), "-"],
        stdin=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
    )
    assert proc.stdin is not None
    try:
        buf = bytearray()
        for seq, (when, line, _) in enumerate(dated(name, lines, ends_at), 1):
            buf += export_record(journal_fields(line, when), int(when * 1e6), seq)
            if len(buf) > 1 << 20:
                proc.stdin.write(bytes(buf))
                buf.clear()
        proc.stdin.write(bytes(buf))
        proc.stdin.close()
    except BaseException:  # stopped: no journal-remote left writing into a removed directory
        proc.kill()
        proc.wait()
        raise
    if proc.wait() != 0:
        raise RuntimeError(f"systemd-journal-remote exited {proc.returncode}")


def ensure_files(data: Path, name: str, lines: int) -> CorpusFiles:
    """Corpus ``name`` in ``data`` (written again when missing or older than ``MAX_AGE``).

    Several benchmarks run at once on a shared machine: one writes a corpus
    while holding a lock (``flock`` on a file beside it), in a directory of
    its own renamed into place when whole. Two writing into ``data`` at once
    interleaved two runs of journal-remote in one directory (464,507 entries
    for 300,000 lines), and a reader of the old files saw them removed. Stopped
    meanwhile (``clean_up_when_stopped``), it removes what it half wrote.
    """
    clean_up_when_stopped()
    data.parent.mkdir(parents=True, exist_ok=True)
    with (data.parent / f".{data.name}.lock").open("a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        found = _cached(data, name, lines)
        if found is not None:
            return found
        new = data.with_name(f".{data.name}.new-{os.getpid()}")
        shutil.rmtree(new, ignore_errors=True)
        try:
            meta = _write_corpus(new, name, lines)
        except BaseException:
            shutil.rmtree(new, ignore_errors=True)
            raise
        old = data.with_name(f".{data.name}.old-{os.getpid()}")
        if data.exists():
            data.rename(old)  # a reader of its files keeps them open until it closes them
        new.rename(data)
        shutil.rmtree(old, ignore_errors=True)
    return CorpusFiles(name, data / "corpus.log", data / "journal", **meta)


def _cached(data: Path, name: str, lines: int) -> CorpusFiles | None:
    meta_path = data / "corpus.json"
    if meta_path.exists():
        meta = json.loads(meta_path.read_text())
        if meta["lines"] == lines and time.time() - meta["ends_at"] < MAX_AGE:
            return CorpusFiles(name, data / "corpus.log", data / "journal", **meta)
    return None


def _write_corpus(data: Path, name: str, lines: int) -> dict[str, Any]:
    journal = data / "journal"
    journal.mkdir(parents=True)
    ends_at = time.time() - 60
    failures = 0
    with (data / "corpus.log").open("w", encoding="utf-8") as out:
        for _, line, failure in dated(name, lines, ends_at):
            out.write(line + "\n")
            failures += failure
    _write_journal(journal, name, lines, ends_at)
    files = list(journal.glob("*.journal"))
    meta = {
        "lines": lines,
        "failures": failures,
        "ends_at": ends_at,
        "journal_files": len(files),
        "journal_bytes": sum(f.stat().st_size for f in files),
    }
    (data / "corpus.json").write_text(json.dumps(meta))
    return meta
