"""What the file reader child does before the agent's ``GO``: its inotify instance is open
and its directories watched, the regexes of its first lines compiled, and what it built
to read with is frozen out of the collector's passes (``filereader.serve``), so that none
of it comes before its first read."""

from __future__ import annotations

import contextlib
import gc
import io
import os
from pathlib import Path

import pytest

from journalban.agent.filereader import FileJob, serve
from journalban.matching.library import FilterLibrary
from journalban.matching.spec import MatcherSpec, pickle_filter
from support.compiles import fused_compiles


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


def test_a_held_child_compiles_its_first_lines_regexes_before_go(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A held child (told its job while the agent starts) compiles the fused regexes its
    filter's samples need before ``GO`` (``matching.warmup``); one told at once compiles
    them at its first lines, as before (it would only delay them)."""
    log = tmp_path / "auth.log"
    log.write_text("")
    fdef = FilterLibrary(None).load("sshd")
    compiled = fused_compiles(monkeypatch)
    before_go: list[int] = []

    def go() -> bool:
        before_go.append(len(compiled))
        return False  # the agent is gone: nothing is read

    for hold in (True, False):
        compiled.clear()
        job = FileJob("files:x", [str(log)], 60.0, None, MatcherSpec("sshd", None, None), (),
                      pickle_filter(fdef), hold=hold)  # fmt: skip
        read, write = os.pipe()
        try:
            serve(job, read, io.BytesIO(), go)
        finally:
            gc.unfreeze()
            os.close(read)
            os.close(write)
    held, at_once = before_go
    assert held >= 5  # sshd's samples: the masks of its common failures
    assert at_once == 0
