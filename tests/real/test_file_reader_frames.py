"""The file reader child's frames (``filereader.Frames``): while the agent has not read
the last frame, the bursts of a backlog go up to four at a time into one frame, with at
most ``MERGE_HITS`` failures; a burst that ends the backlog goes at once.

A real child on a real file, and the frames on a real pipe.
"""

from __future__ import annotations

import dataclasses
import fcntl
import marshal
import os
import subprocess
import time
from pathlib import Path
from typing import Any

from test_file_reader_child import STAMP, _read_exactly

from journalban.agent.filereader import BURST_BYTES, MERGE_BURSTS, MERGE_HITS, FileJob, Frames
from journalban.agent.fileworker import WORKER
from journalban.matching.library import FilterLibrary
from journalban.matching.spec import MatcherSpec, pickle_filter
from journalban.sources.child import PIPE_BYTES
from journalban.sources.frames import FRAME_HEADER


def _frame(fd: int, timeout: float = 20.0) -> tuple[object, ...]:
    deadline = time.monotonic() + timeout
    (size,) = FRAME_HEADER.unpack(_read_exactly(fd, FRAME_HEADER.size, deadline))
    return tuple(marshal.loads(_read_exactly(fd, size, deadline)))  # noqa: S302 (our child)


def _fields(position: str, lines: int, hosts: list[str]) -> tuple[object, ...]:
    n = len(hosts)
    return (position, lines, 0, 0, ["line"] * n, hosts, [1.0] * n, [None] * n, [0] * n, [])


def test_frames_merge_only_what_waits_behind_an_unread_frame() -> None:
    read, write = os.pipe()
    with os.fdopen(write, "wb") as out:
        frames = Frames(out)
        frames.add(_fields("p1", 10, ["192.0.2.1"]), more=True)  # the pipe was empty: sent
        for k in range(2, 2 + MERGE_BURSTS):  # the first one unread: held, four at a time
            frames.add(_fields(f"p{k}", 10, [f"192.0.2.{k}"]), more=True)
        frames.add(_fields("p6", 10, ["192.0.2.6"]), more=True)  # held
        frames.add(_fields("p7", 5, ["192.0.2.7"]), more=False)  # the backlog's end: sent
        many = [f"198.51.100.{k % 250}" for k in range(MERGE_HITS - 10)]
        frames.add(_fields("p8", 10, many), more=True)  # alone: held
        frames.add(_fields("p9", 10, ["203.0.113.9"] * 20), more=True)  # would pass the cap
        frames.flush()  # (the child's wait for the files)
    got: list[tuple[Any, ...]] = []
    while header := os.read(read, FRAME_HEADER.size):
        (size,) = FRAME_HEADER.unpack(header)
        got.append(marshal.loads(_read_exactly(read, size, time.monotonic() + 5)))  # noqa: S302
    os.close(read)
    assert [(f[0], f[1], len(f[5])) for f in got] == [
        ("p1", 10, 1),
        ("p5", 40, 4),
        ("p7", 15, 2),
        ("p8", 10, MERGE_HITS - 10),
        ("p9", 10, 20),
    ]
    assert got[1][5] == ["192.0.2.2", "192.0.2.3", "192.0.2.4", "192.0.2.5"]


def test_a_backlog_the_agent_reads_late_comes_in_merged_frames(tmp_path: Path) -> None:
    stamp = time.strftime(STAMP, time.localtime())
    lines, hosts = [], []
    for n in range(30_000):
        if n % 15 == 0:
            host = f"198.51.{n // 3840}.{n // 15 % 256}"
            hosts.append(host)
            lines.append(f"{stamp} host sshd[{n}]: Failed password for root from {host} port 22\n")
        else:
            lines.append(
                f"{stamp} host sshd[{n}]: pam_unix(sshd:session): session closed for u{n}\n"
            )
    log = tmp_path / "auth.log"
    log.write_text("".join(lines))
    bursts = -(-log.stat().st_size // BURST_BYTES)
    assert bursts >= 2 * MERGE_BURSTS
    assert len(hosts) * MERGE_BURSTS < bursts * MERGE_HITS  # four bursts' failures fit a frame
    fdef = FilterLibrary(None).load("sshd")
    job = FileJob(f"files:{log}", [str(log)], 86400.0, None, MatcherSpec("sshd", None, None),
                  (), pickle_filter(fdef))  # fmt: skip
    job = dataclasses.replace(job, split=False)
    with subprocess.Popen(WORKER, stdin=subprocess.PIPE, stdout=subprocess.PIPE) as child:
        assert child.stdin is not None
        assert child.stdout is not None
        try:
            child.stdin.write(job.encode())
            child.stdin.flush()
            out = child.stdout.fileno()
            fcntl.fcntl(out, fcntl.F_SETPIPE_SZ, PIPE_BYTES)  # as the agent's (1 MiB)
            time.sleep(1.0)  # the agent behind: the child's frames wait in its pipe
            frames, read = 0, 0
            found: list[str] = []
            while read < len(lines):
                fields = _frame(out)
                frames += 1
                read += int(fields[1])  # type: ignore[call-overload]
                found += fields[5]  # type: ignore[arg-type]
            assert read == len(lines)
            assert found == hosts
            assert frames <= -(-(bursts - 1) // MERGE_BURSTS) + 2  # one per burst before
            time.sleep(0.3)  # caught up, waiting for the file
            with log.open("a") as f:
                f.write(f"{stamp} host sshd[1]: Failed password for root from 192.0.2.9 port 22\n")
            late = _frame(out, timeout=5.0)
            assert late[1] == 1
            assert late[5] == ["192.0.2.9"]
        finally:
            child.kill()
