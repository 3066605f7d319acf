"""bench_agent: from a file, journalban is left ``SETTLE`` seconds after its ready line
before the corpus is appended, as fail2ban-server is, and its CPU is read then: its
start's tail (its bus connection) is out of its window, as fail2ban's is (issue 19, audit).
"""

from __future__ import annotations

import subprocess
import sys
import time
from datetime import datetime
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parents[1] / "benchmarks"))

import bench_agent


class _Corpus:
    def __init__(self, tmp: Path) -> None:
        self.log = tmp / "corpus.log"
        self.log.write_text("a line\n")
        self.journal = tmp / "journal"
        self.lines = 1


class _Agent:
    """Stands for ``journalban run``: a process that logged its ready line when started."""

    def __init__(self, config: Path, *, bus_address: str | None = None) -> None:
        self.proc = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
        stamp = datetime.now().strftime("%Y-%m-%d %H:%M:%S,%f")[:23]
        self.log = f"{stamp} journalban running: 1 jail\n"
        self.seen = time.monotonic()
        _Agent.last = self

    last: _Agent

    def stop(self) -> None:
        self.proc.kill()
        self.proc.wait()


def test_from_a_file_the_corpus_comes_settle_seconds_after_the_ready_line(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setattr(bench_agent, "AgentProcess", _Agent)
    monkeypatch.setattr(bench_agent, "SETTLE", 0.3)
    (tmp_path / "state").mkdir()
    appended: list[float] = []
    run = bench_agent.journalban_run(
        tmp_path, _Corpus(tmp_path), "file", {"sshd": {"enabled": False}}, "sshd",
        lambda r: True, lambda: appended.append(time.monotonic()),
    )  # fmt: skip
    assert appended
    assert appended[0] - _Agent.last.seen >= 0.3
    assert run.wall < 0.3  # the clock started at the copy, not at the ready line
