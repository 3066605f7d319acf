"""`journalban reload --pid`: an agent off the bus is reloaded by SIGHUP."""

from __future__ import annotations

import signal
import subprocess
import sys

import pytest

from journalban.cli.reloadsignal import reload_by_signal


def test_the_process_gets_sighup(capsys: pytest.CaptureFixture[str]) -> None:
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    try:
        assert reload_by_signal(child.pid, "journalban is not running") == 0
        assert child.wait(10) == -signal.SIGHUP
    finally:
        child.kill()
        child.wait()
    assert f"sent SIGHUP to {child.pid} instead" in capsys.readouterr().err


def test_a_gone_process_is_an_error(capsys: pytest.CaptureFixture[str]) -> None:
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    assert reload_by_signal(child.pid, "no bus") == 1
    assert "SIGHUP to" in capsys.readouterr().err
