"""Who did what: the caller of a manual command in the agent's journal fields and memory."""

from __future__ import annotations

import ipaddress
from typing import Any

from journalban.agent.callers import Caller, CommandLog, calling
from journalban.agent.logs import EventLog
from journalban.events import Ban


def _ban(address: str = "203.0.113.5") -> Ban:
    return Ban("sshd", ipaddress.ip_network(address), 1000.0, 1600.0, reason="manual")


def test_a_callers_ban_and_unban_carry_its_uid_and_bus_name() -> None:
    sent: list[dict[str, Any]] = []
    events = EventLog(lambda **fields: sent.append(fields))
    with calling(Caller(1000, ":1.42")):
        text = events.event("ban", _ban(), 1000.0)
    assert text.endswith(" by uid 1000 (:1.42)")
    assert sent[0]["JOURNALBAN_CALLER_UID"] == "1000"
    assert sent[0]["JOURNALBAN_CALLER_NAME"] == ":1.42"
    assert events.commands.ban_caller("sshd", "203.0.113.5") == Caller(1000, ":1.42")
    with calling(Caller(0, ":1.7")):
        events.event("unban", _ban(), 1001.0, "manual")
    assert sent[1]["JOURNALBAN_CALLER_UID"] == "0"
    assert events.commands.ban_caller("sshd", "203.0.113.5") is None


def test_the_agents_own_bans_name_no_caller_and_forget_an_earlier_one() -> None:
    sent: list[dict[str, Any]] = []
    events = EventLog(lambda **fields: sent.append(fields))
    with calling(Caller(0, ":1.9")):
        events.event("ban", _ban(), 1000.0)
    events.event("ban", _ban(), 1100.0)  # extended by the agent for failures
    assert "JOURNALBAN_CALLER_UID" not in sent[1]
    assert events.commands.ban_caller("sshd", "203.0.113.5") is None


def test_a_reload_by_a_caller_is_logged_and_remembered_the_agents_own_is_not() -> None:
    sent: list[dict[str, Any]] = []
    events = EventLog(lambda **fields: sent.append(fields))
    events.command("reload", "", 5.0)  # SIGHUP: nobody on the bus asked
    assert sent == []
    with calling(Caller(None, ":1.3")):
        events.command("reload", "", 6.0)
    assert sent[0]["JOURNALBAN_EVENT"] == "reload"
    assert "JOURNALBAN_CALLER_UID" not in sent[0]
    assert sent[0]["MESSAGE"] == "Reloaded, as asked by an unknown uid (:1.3)"
    (record,) = events.commands.recent()
    assert (record.kind, record.caller.bus_name, record.at) == ("reload", ":1.3", 6.0)


def test_the_command_log_keeps_the_last_few() -> None:
    log = CommandLog(size=3)
    with calling(Caller(0, ":1.1")):
        for i in range(5):
            log.record("ban", f"203.0.113.{i} in sshd", float(i))
    assert [r.what for r in log.recent()] == [f"203.0.113.{i} in sshd" for i in (2, 3, 4)]
