"""Notifier.pinging: WATCHDOG=1 from a thread across a long step after READY, bounded."""

from __future__ import annotations

import time

import pytest

from journalban.agent.notify import Notifier


def notifier(
    monkeypatch: pytest.MonkeyPatch, watchdog_usec: str | None
) -> tuple[Notifier, list[float]]:
    monkeypatch.setenv("NOTIFY_SOCKET", "/nonexistent/notify.sock")
    monkeypatch.delenv("WATCHDOG_PID", raising=False)
    if watchdog_usec is None:
        monkeypatch.delenv("WATCHDOG_USEC", raising=False)
    else:
        monkeypatch.setenv("WATCHDOG_USEC", watchdog_usec)
    sent: list[float] = []
    n = Notifier()
    monkeypatch.setattr(n, "watchdog", lambda: sent.append(time.monotonic()))
    return n, sent


def test_pings_while_the_block_runs_then_stop(monkeypatch: pytest.MonkeyPatch) -> None:
    n, sent = notifier(monkeypatch, "100000")  # a ping every 0.05 s
    with n.pinging():
        time.sleep(0.4)
    during = len(sent)
    time.sleep(0.2)
    assert during >= 4, sent  # one at the start, then every 0.05 s (a loaded machine: fewer)
    assert len(sent) == during, "no ping once the block has ended"


def test_pings_stop_after_most_seconds(monkeypatch: pytest.MonkeyPatch) -> None:
    n, sent = notifier(monkeypatch, "100000")
    with n.pinging(most=0.12):
        time.sleep(0.6)
    assert 1 <= len(sent) <= 4, sent  # a step past `most` is a hang: the watchdog must see it
    assert sent[-1] - sent[0] < 0.3


def test_no_thread_without_a_watchdog(monkeypatch: pytest.MonkeyPatch) -> None:
    n, sent = notifier(monkeypatch, None)
    with n.pinging():
        time.sleep(0.1)
    assert sent == []
