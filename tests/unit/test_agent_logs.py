"""Ban events: a fixed message and structured journal fields."""

from __future__ import annotations

import ipaddress

from journalban.agent.logs import EventLog, event_message
from journalban.events import Ban

BAN = Ban("sshd", ipaddress.ip_network("203.0.113.5/32"), 1000.0, 1600.0)


def test_ban_message_is_fixed() -> None:
    assert event_message("ban", BAN, 1000.0) == "Ban 203.0.113.5 in jail sshd for 10m"
    assert event_message("restore", BAN, 1300.0) == "Restore ban of 203.0.113.5 in jail sshd for 5m"
    assert (
        event_message("unban", BAN, 1600.0, "expired") == "Unban 203.0.113.5 in jail sshd (expired)"
    )


def test_permanent_ban_message() -> None:
    forever = Ban("recidive", ipaddress.ip_network("2001:db8::/64"), 0.0, None)
    assert event_message("ban", forever, 5.0) == "Ban 2001:db8::/64 in jail recidive for permanent"


def test_events_carry_journal_fields() -> None:
    sent: list[dict[str, str]] = []
    EventLog(lambda **fields: sent.append(fields)).event("ban", BAN, 1000.0)
    assert sent == [
        {
            "MESSAGE": "Ban 203.0.113.5 in jail sshd for 10m",
            "PRIORITY": "5",
            "SYSLOG_IDENTIFIER": "journalban",
            "JOURNALBAN_EVENT": "ban",
            "JOURNALBAN_JAIL": "sshd",
            "JOURNALBAN_ADDRESS": "203.0.113.5",
        }
    ]
