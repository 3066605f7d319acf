"""The action runner keeps the agent moving whatever the actions do."""

from __future__ import annotations

import ipaddress
import threading
import time

from journalban.actions.runner import ActionRunner
from journalban.events import Ban

BAN = Ban("sshd", ipaddress.ip_network("192.0.2.7/32"), 1000.0, 1600.0)


class RecordingAction:
    def __init__(self, name: str = "record") -> None:
        self.name = name
        self.seen: list[str] = []
        self.flushed = 0

    def start(self) -> None:
        pass

    def ban(self, ban: Ban) -> None:
        self.seen.append(f"ban {ban.address}")

    def unban(self, ban: Ban, reason: str) -> None:
        self.seen.append(f"unban {ban.address} {reason}")

    def flush(self) -> None:
        self.flushed += 1

    def stop(self) -> None:
        pass


class HangingAction(RecordingAction):
    def __init__(self) -> None:
        super().__init__("hang")
        self.release = threading.Event()

    def ban(self, ban: Ban) -> None:
        self.release.wait(30)


class RaisingAction(RecordingAction):
    def ban(self, ban: Ban) -> None:
        raise RuntimeError("smtp refused")


class DueAction(RecordingAction):
    def due(self, now: float) -> bool:
        return now >= 50


def test_calls_to_one_action_keep_their_order() -> None:
    runner = ActionRunner(timeout=5)
    action = RecordingAction()
    runner.ban("sshd", [action], BAN)
    runner.unban("sshd", [action], BAN, "expired")
    assert runner.wait_idle(5)
    assert action.seen == ["ban 192.0.2.7", "unban 192.0.2.7 expired"]
    assert runner.action_stats()["record"].errors == 0
    runner.stop()


def test_a_hanging_action_neither_blocks_dispatch_nor_other_actions() -> None:
    runner = ActionRunner(timeout=0.2)
    hanging, healthy = HangingAction(), RecordingAction()
    started = time.monotonic()
    for _ in range(3):
        runner.ban("sshd", [hanging, healthy], BAN)
    assert time.monotonic() - started < 0.1
    assert runner.wait_idle(5)
    assert healthy.seen == ["ban 192.0.2.7"] * 3

    stats = runner.action_stats()["hang"]
    assert stats.timeouts == 3
    assert "timed out after 0.2 s" in stats.last_error
    assert runner.jail_stats()["sshd"].errors == 3
    hanging.release.set()
    runner.stop()


def test_an_action_stuck_too_often_has_further_calls_dropped_and_counted() -> None:
    runner = ActionRunner(timeout=0.05, max_stuck=2)
    hanging = HangingAction()
    for _ in range(4):
        runner.ban("sshd", [hanging], BAN)
    assert runner.wait_idle(5)
    stats = runner.action_stats()["hang"]
    assert (stats.timeouts, stats.dropped, stats.errors) == (2, 2, 4)
    assert "action stuck" in stats.last_error
    hanging.release.set()
    runner.stop()


def test_a_raising_action_is_counted_per_action_and_per_jail() -> None:
    runner = ActionRunner(timeout=5)
    raising, healthy = RaisingAction("mail"), RecordingAction()
    runner.ban("sshd", [raising, healthy], BAN)
    runner.ban("postfix", [raising], BAN)
    assert runner.wait_idle(5)
    mail = runner.action_stats()["mail"]
    assert (mail.calls, mail.errors) == (2, 2)
    assert mail.last_error == "ban failed: RuntimeError: smtp refused"
    jails = runner.jail_stats()
    assert (jails["sshd"].calls, jails["sshd"].errors) == (2, 1)
    assert jails["postfix"].errors == 1
    assert healthy.seen == ["ban 192.0.2.7"]
    runner.stop()


def test_flush_runs_only_for_buffers_that_are_due_and_on_stop() -> None:
    runner = ActionRunner(timeout=5)
    buffered, plain = DueAction(), RecordingAction()
    runner.flush_due("sshd", [buffered, plain], now=10)
    runner.flush_due("sshd", [buffered, plain], now=60)
    assert runner.wait_idle(5)
    assert (buffered.flushed, plain.flushed) == (1, 0)
    runner.stop()
    assert buffered.flushed == 2
