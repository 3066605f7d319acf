"""Found and Ignore lines at debug, as fail2ban users read them when tuning a jail."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
from test_decisions import NOW, _engine, _feed

from journalban.clock import FakeClock


def test_each_counted_and_ignored_failure_is_logged_at_debug(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    engine = _engine(tmp_path, FakeClock(NOW), maxretry=3, ignoreip=("192.0.2.0/24",))
    hits = [("203.0.113.5", NOW - 3), ("192.0.2.44", NOW - 2), ("203.0.113.5", NOW - 1)]
    with caplog.at_level(logging.DEBUG, logger="journalban.decisions"):
        _feed(engine, hits)
    assert caplog.messages == [
        "Found 203.0.113.5 in jail sshd (1/3)",
        "Ignore 192.0.2.44 in jail sshd: ignoreip",
        "Found 203.0.113.5 in jail sshd (2/3)",
    ]


def test_nothing_is_logged_per_failure_at_info(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    engine = _engine(tmp_path, FakeClock(NOW), maxretry=3)
    with caplog.at_level(logging.INFO, logger="journalban.decisions"):
        _feed(engine, [("203.0.113.5", NOW - 3)])
    assert caplog.messages == []
