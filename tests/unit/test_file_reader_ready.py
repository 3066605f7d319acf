"""What the file reader child does before the agent's ``GO``: its inotify instance is open
and its directories watched, and what it built to read with is frozen out of the
collector's passes (``filereader.serve``), so that neither comes before its first read."""

from __future__ import annotations

import contextlib
import gc
import io
import os
from pathlib import Path

from journalban.agent.filereader import FileJob, serve
from journalban.matching.library import FilterLibrary
from journalban.matching.spec import MatcherSpec, pickle_filter


def _inotify_fds() -> int:
    found = 0
    for fd in os.listdir("/proc/self/fd"):
        with contextlib.suppress(OSError):
            found += os.readlink(f"/proc/self/fd/{fd}") == "anon_inode:inotify"
    return found


def test_watches_open_and_the_matcher_frozen_before_go(tmp_path: Path) -> None:
    log = tmp_path / "auth.log"
    log.write_text("Dec  5 10:00:00 host sshd[1]: Failed password for root from 192.0.2.7\n")
    fdef = FilterLibrary(None).load("sshd")
    job = FileJob("files:x", [str(log)], 60.0, None, MatcherSpec("sshd", None, None), (),
                  pickle_filter(fdef), hold=True)  # fmt: skip
    seen: list[tuple[int, int]] = []
    before = _inotify_fds()

    def go() -> bool:
        seen.append((_inotify_fds() - before, gc.get_freeze_count()))
        return False  # the agent is gone: nothing is read

    read, write = os.pipe()
    out = io.BytesIO()
    gc.unfreeze()  # (a test before may have frozen: what counts is what serve freezes)
    try:
        serve(job, read, out, go)
    finally:
        gc.unfreeze()
        os.close(read)
        os.close(write)
    assert len(seen) == 1
    watches, frozen = seen[0]
    assert watches == 1
    assert frozen > 1000
    assert out.getvalue() == b""
    assert _inotify_fds() == before  # closed when the agent is gone
