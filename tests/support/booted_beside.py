"""The booted tier, and the CPU-bound regex suites, run beside the rest of the suite.

The tier spends its minutes waiting (a container's boot, sshd's two-second
delay per failed login, agent restarts, journald); the adversarial and
conformance suites keep one core busy matching while the rest of the suite
mostly waits on daemons, namespaces and buses (the whole suite used 0.7 of
the machine's 2 cores). So when a session collects one of these groups and
other tests, the group's tests are taken out of it right after collection and
run by a pytest of their own started at once; one item per group, run last
but the fresh-machine check, waits for that run and fails with its report
when it fails. A session of such a group alone (``pytest tests/booted``) runs
it as usual, and so does any session with JOURNALBAN_BOOTED_BESIDE=0.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

from support.real import REPO

# Longer than the tier ever took (cold root file system, loaded machine: 15 min).
TIMEOUT = 3600.0


def wanted(config: pytest.Config, items: list[pytest.Item], beside: list[pytest.Item]) -> bool:
    """Whether to run ``beside`` apart from the rest: both kinds collected, not told otherwise."""
    if os.environ.get("JOURNALBAN_BOOTED_BESIDE") == "0" or config.option.collectonly:
        return False
    return bool(beside) and len(beside) < len(items)


@dataclass
class _Run:
    label: str
    process: subprocess.Popen[bytes]
    log: Path
    count: int
    outcome: str = ""


_runs: list[_Run] = []


def start(label: str, nodeids: list[str], where: Path) -> None:
    """Start a pytest of its own on ``nodeids`` (a group's tests this session selected),
    its log in the directory ``where`` (this session's, under pytest's base temporary
    directory: kept for the last sessions, as a test's tmp_path is, not left in /tmp)."""
    log = where / "pytest.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "pytest", "-q", "-ra", "-p", "no:cacheprovider",
             "--durations=10", *nodeids],
            cwd=REPO,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            env=os.environ | {"JOURNALBAN_BOOTED_BESIDE": "0"},
        )  # fmt: skip
    _runs.append(_Run(label, process, log, len(nodeids)))


def stop() -> None:
    """Interrupt a run still going (this session is ending): its fixtures still clean up."""
    for run in _runs:
        if run.process.poll() is None:
            # SIGINT to pytest alone: it tears the container and namespaces down.
            run.process.send_signal(signal.SIGINT)
            try:
                run.process.wait(120)
            except subprocess.TimeoutExpired:
                run.process.kill()
                run.process.wait()
    _runs.clear()


def summary() -> list[str]:
    """What the tier's own pytest reported, for the end of this session's report."""
    return [f"{run.label}, run beside: {run.outcome}" for run in _runs if run.outcome]


class BootedTier(pytest.Item):
    """Waits for a group's own pytest and fails with its report when it failed."""

    def runtest(self) -> None:
        (run,) = [run for run in _runs if run.label == self.name]
        started = time.monotonic()
        try:
            returncode = run.process.wait(TIMEOUT)
        except subprocess.TimeoutExpired:
            stop()
            pytest.fail(f"the {run.label} ran over {TIMEOUT:.0f}s; its log: {run.log}")
        text = run.log.read_text(errors="replace")
        waited = time.monotonic() - started
        run.outcome = f"{_last_line(text)}; waited {waited:.0f} s for it at the end; log {run.log}"
        if returncode != 0:
            pytest.fail(
                f"the {run.label} ({run.count} tests, its own pytest; log {run.log}) "
                f"exited {returncode}:\n{_report(text)}",
                pytrace=False,
            )

    def reportinfo(self) -> tuple[Path, int, str]:
        return REPO / "tests", 0, f"the {self.name} (run beside the suite)"


def _report(text: str) -> str:
    """The failures and the summary of a pytest log (all of it when short)."""
    lines = text.splitlines()
    for marker in ("= FAILURES =", "= ERRORS ="):
        for n, line in enumerate(lines):
            if marker in line:
                return "\n".join(lines[n:])
    return "\n".join(lines[-80:])


def _last_line(text: str) -> str:
    lines = [line for line in text.splitlines() if line.strip()]
    return lines[-1].strip("= ") if lines else "no output"
