"""The file reader child on its own: no event loop, waiting on inotify and on its stdin.

``python -I -m journalban.agent.filereader`` with a real file: lines appended
while it waits are read (inotify wakes it), a logrotate-style rename and new
file are followed, and closing its stdin (the agent gone) ends it.
"""

from __future__ import annotations

import marshal
import os
import select
import subprocess
import time
from pathlib import Path

from journalban.agent.filereader import FileJob
from journalban.agent.fileworker import WORKER
from journalban.matching.library import FilterLibrary
from journalban.matching.spec import MatcherSpec, pickle_filter
from journalban.sources.frames import FRAME_HEADER

STAMP = "%b %e %H:%M:%S"


def _line(addr: str, n: int) -> str:
    stamp = time.strftime(STAMP, time.localtime())
    return f"{stamp} host sshd[{1000 + n}]: Failed password for root from {addr} port {n} ssh2\n"


def _read_exactly(fd: int, size: int, deadline: float) -> bytes:
    data = b""
    while len(data) < size:
        left = deadline - time.monotonic()
        assert left > 0, "no frame in time"
        ready, _, _ = select.select([fd], [], [], left)
        if ready:
            chunk = os.read(fd, size - len(data))
            assert chunk, "the child ended"
            data += chunk
    return data


def _hosts(fd: int, want: int, timeout: float = 20.0) -> list[str]:
    """Addresses of the failures in the frames until ``want`` of them came."""
    deadline = time.monotonic() + timeout
    hosts: list[str] = []
    while len(hosts) < want:
        (size,) = FRAME_HEADER.unpack(_read_exactly(fd, FRAME_HEADER.size, deadline))
        fields = marshal.loads(_read_exactly(fd, size, deadline))  # noqa: S302 (our child)
        hosts += [hit[1] for hit in fields[4]]
    return hosts


def test_the_child_waits_follows_rotation_and_ends_on_eof(tmp_path: Path) -> None:
    log = tmp_path / "auth.log"
    log.write_text("")
    spec = MatcherSpec("sshd", None, None)
    fdef = FilterLibrary(None).load("sshd")
    job = FileJob(f"files:{log}", [str(log)], 86400.0, None, spec, (), pickle_filter(fdef))
    with subprocess.Popen(WORKER, stdin=subprocess.PIPE, stdout=subprocess.PIPE) as child:
        assert child.stdin is not None
        assert child.stdout is not None
        try:
            child.stdin.write(job.encode())
            child.stdin.flush()
            out = child.stdout.fileno()
            time.sleep(0.5)  # it is waiting now
            with log.open("a") as f:
                f.write(_line("203.0.113.1", 1) + _line("203.0.113.2", 2))
            assert _hosts(out, 2) == ["203.0.113.1", "203.0.113.2"]

            log.rename(tmp_path / "auth.log.1")  # logrotate's create: a new file by the name
            with (tmp_path / "auth.log.1").open("a") as f:
                f.write(_line("203.0.113.3", 3))  # a late write to the rotated file
            log.write_text(_line("203.0.113.4", 4))
            assert sorted(_hosts(out, 2)) == ["203.0.113.3", "203.0.113.4"]

            child.stdin.close()  # the agent is gone
            assert child.wait(timeout=10) == 0
        finally:
            child.kill()
