"""bench_agent.journalban_run, the run of the agent the benchmark times (issue 19, audit).

- It serves its D-Bus API when given a bus, as an installed agent does (``bus: true`` by
  default, the packaged unit runs ``journalban run``), and is told ``--no-bus`` only when
  it is not.
- From a file, journalban is left ``SETTLE`` seconds after its ready line before the corpus
  is appended, as fail2ban-server is, and its CPU is read then: its start's tail (its bus
  connection) is out of its window, as fail2ban's is.
"""

from __future__ import annotations

import subprocess
import sys
import time
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
import yaml

sys.path.insert(0, str(Path(__file__).parents[1] / "benchmarks"))

import bench_agent

SOURCES = ("file", "journal")  # a list literal starting "file" reads as a command line


class _Started(Exception):
    """Raised by the stand-in for the agent's process: the run goes no further."""


class _Corpus:
    def __init__(self, tmp: Path) -> None:
        self.log = tmp / "corpus.log"
        self.log.write_text("a line\n")
        self.journal = tmp / "journal"
        self.lines = 1


def _started_agent(monkeypatch: pytest.MonkeyPatch, tmp: Path, bus: str | None) -> dict[str, Any]:
    """The configuration the agent would have read and the bus address it would have had."""
    seen: dict[str, Any] = {}

    def agent(config: Path, *, bus_address: str | None = None) -> None:
        seen["config"] = yaml.safe_load(config.read_text())
        seen["bus_address"] = bus_address
        raise _Started

    monkeypatch.setattr(bench_agent, "AgentProcess", agent)
    with pytest.raises(_Started):
        bench_agent.journalban_run(
            tmp, _Corpus(tmp), "file", {"sshd": {"enabled": False}}, "sshd", lambda r: True,
            bus=bus,
        )  # fmt: skip
    return seen


def test_the_timed_agent_serves_its_bus_api_on_the_bus_given(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    seen = _started_agent(monkeypatch, tmp_path, "unix:path=/run/bench-bus")
    assert seen["config"]["bus"] is True
    assert seen["bus_address"] == "unix:path=/run/bench-bus"


def test_without_a_bus_the_timed_agent_runs_with_no_bus(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    seen = _started_agent(monkeypatch, tmp_path, None)
    assert seen["config"]["bus"] is False
    assert seen["bus_address"] is None


@pytest.mark.parametrize("source", SOURCES)
def test_the_one_corpus_benchmark_passes_its_bus_to_the_timed_agent(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, source: str
) -> None:
    """bench_agent's own file and journal runs (the 1M-line corpus) serve the bus too."""
    seen: dict[str, Any] = {}

    def run(*args: object, bus: str | None = None, **kwargs: object) -> None:
        seen["bus"] = bus
        raise _Started

    monkeypatch.setattr(bench_agent, "journalban_run", run)
    monkeypatch.setattr(bench_agent, "last_cursor", lambda journal: "end")
    tool = bench_agent.journalban_file if source == "file" else bench_agent.journalban_journal
    with pytest.raises(_Started):
        tool(tmp_path, _Corpus(tmp_path), bus="unix:path=/run/bench-bus")  # type: ignore[arg-type]
    assert seen["bus"] == "unix:path=/run/bench-bus"


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


def test_from_a_file_the_end_is_first_looked_for_before_the_corpus_comes(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """The benchmark's first look at the agent's state (its connection opened, its watch
    moved to the WAL: a close that sleeps in the kernel) is made before the clock starts,
    so that no look in the window waits on it."""
    monkeypatch.setattr(bench_agent, "AgentProcess", _Agent)
    monkeypatch.setattr(bench_agent, "SETTLE", 0.05)
    (tmp_path / "state").mkdir()
    order: list[str] = []

    def done(positions: object) -> bool:
        order.append("look")
        return "append" in order

    bench_agent.journalban_run(
        tmp_path, _Corpus(tmp_path), "file", {"sshd": {"enabled": False}}, "sshd",
        done, lambda: order.append("append"),
    )  # fmt: skip
    assert order[:2] == ["look", "append"]


class _Ended:
    """An agent whose process has ended (``true`` run to its end), with a log."""

    def __init__(self, code: int) -> None:
        self.proc = subprocess.Popen(["sh", "-c", f"exit {code}"])
        self.proc.wait()
        self.log = "".join(f"line {i}\n" for i in range(30)) + "Traceback: NameError\n"


def test_a_run_whose_agent_died_fails_at_once_with_its_log() -> None:
    ended = _Ended(1)
    with pytest.raises(bench_agent.AgentExited, match="exited with 1") as caught:
        bench_agent.still_running(ended)  # type: ignore[arg-type]
    assert "Traceback: NameError" in str(caught.value)  # the log's tail is told
    assert "line 5\n" not in str(caught.value)  # only the tail


def test_a_running_agent_is_running() -> None:
    class _Running:
        proc = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(5)"])
        log = ""

    try:
        assert bench_agent.still_running(_Running())  # type: ignore[arg-type]
    finally:
        _Running.proc.kill()
        _Running.proc.wait()
