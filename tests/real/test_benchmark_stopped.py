"""A benchmark stopped by SIGTERM cleans up as one stopped by Ctrl-C does (corpus_files).

Killed by the default action, a runner left its corpus half written under
/var/tmp/journalban-bench (``.NAME.new-PID``, journal-remote still writing into it), its
temporary directories in /tmp and its agents running. ``clean_up_when_stopped``, set by the
shared helpers every runner goes through, turns the signal into an exception.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from support.journal import JOURNAL_REMOTE
from support.real import REPO, need_tool

pytestmark = pytest.mark.real

WRITE = """
import sys, tempfile
from pathlib import Path
from corpus_files import ensure_files
with tempfile.TemporaryDirectory(dir=sys.argv[2]) as tmp:  # a runner's work directory
    ensure_files(Path(sys.argv[1]), "sshd", 1_000_000)
"""


def wait_for(check: object, what: str) -> None:
    deadline = time.monotonic() + 60
    while not check():  # type: ignore[operator]
        assert time.monotonic() < deadline, what
        time.sleep(0.05)


def test_a_corpus_half_written_is_removed_when_the_runner_is_stopped(tmp_path: Path) -> None:
    need_tool(JOURNAL_REMOTE)
    data, work = tmp_path / "bench" / "sshd", tmp_path / "work"
    work.mkdir()
    bench = REPO / "tests" / "benchmarks"
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(REPO), str(REPO / "tests"), str(bench)]),
    }
    proc = subprocess.Popen([sys.executable, "-c", WRITE, str(data), str(work)], env=env, cwd=bench)
    try:
        half = data.with_name(f".sshd.new-{proc.pid}") / "corpus.log"
        wait_for(half.exists, "the corpus never started being written")
        assert list(work.iterdir())  # the runner's temporary directory
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=60) == 128 + signal.SIGTERM
    finally:
        proc.kill()
        proc.wait()
    # was: the half-written corpus and the temporary directory left behind
    assert sorted(p.name for p in data.parent.iterdir()) == [".sshd.lock"]
    assert list(work.iterdir()) == []
