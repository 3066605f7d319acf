"""Ban events: a fixed message and structured journal fields."""

from __future__ import annotations

import ipaddress
import logging
from pathlib import Path

import pytest

from journalban.agent.logs import EventLog, event_message, setup_logging, start_message
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
            "JOURNALBAN_REASON": "",
        }
    ]


def test_ban_message_says_the_length_decided_not_what_is_left() -> None:
    two_hours = Ban("sshd", ipaddress.ip_network("203.0.113.5/32"), 1000.0, 1000.0 + 7200)
    assert event_message("ban", two_hours, 1000.4) == "Ban 203.0.113.5 in jail sshd for 2h"
    restored = event_message("restore", two_hours, 1000.4)
    assert restored == "Restore ban of 203.0.113.5 in jail sshd for 2h"


def test_a_dry_run_marks_its_events(caplog: pytest.LogCaptureFixture) -> None:
    sent: list[dict[str, str]] = []
    EventLog(lambda **fields: sent.append(fields), dry_run=True).event("ban", BAN, 1000.0)
    assert sent[0]["MESSAGE"] == "[dry run] Ban 203.0.113.5 in jail sshd for 10m"
    assert sent[0]["JOURNALBAN_DRY_RUN"] == "1"


def test_restored_bans_are_one_record_each(caplog: pytest.LogCaptureFixture) -> None:
    other = Ban("sshd", ipaddress.ip_network("198.51.100.7/32"), 1000.0, 1600.0)
    with caplog.at_level(logging.INFO, logger="journalban"):
        EventLog(None).events("restore", [BAN, other], 1000.0)
    assert caplog.messages == [
        "Restore ban of 203.0.113.5 in jail sshd for 10m",
        "Restore ban of 198.51.100.7 in jail sshd for 10m",
    ]


def test_start_message_names_the_jails_and_a_dry_run(tmp_path: Path) -> None:
    one = start_message("1.0", ["sshd"], True, 1, "nftables")
    assert one == (
        "journalban 1.0 running: 1 jail (sshd), recidive fed by their bans, "
        "1 ban restored, backend nftables"
    )
    dry = start_message("1.0", ["sshd", "postfix"], False, 0, "dry-run", tmp_path / "x.sqlite")
    assert dry.startswith("journalban 1.0 running: 2 jails (postfix, sshd), 0 bans restored")
    assert f"a dry run: no firewall is changed and no action runs, and its state ({tmp_path}" in dry


def test_every_line_of_a_dry_run_says_so(capsys: pytest.CaptureFixture[str]) -> None:
    root = logging.getLogger("journalban")
    saved = (root.handlers[:], root.level, root.propagate)
    setup_logging("info", dry_run=True)
    try:
        logging.getLogger("journalban.agent").warning("source failed")
    finally:
        root.handlers[:], root.level, root.propagate = saved
    assert "WARNING [dry run] source failed" in capsys.readouterr().err


def test_a_detectors_ban_names_its_reason_and_account_in_the_agents_own_journal() -> None:
    ban = Ban(
        "sshd",
        ipaddress.ip_network("203.0.113.5/32"),
        1000.0,
        1600.0,
        1,
        "account",
        10,
        "journal",
        (),
        "alice",
    )
    sent: list[dict[str, str]] = []
    EventLog(lambda **fields: sent.append(fields)).event("ban", ban, 1000.0)
    assert sent[0]["MESSAGE"] == "Ban 203.0.113.5 in jail sshd for 10m (account: 'alice')"
    assert sent[0]["JOURNALBAN_REASON"] == "account"
    assert sent[0]["JOURNALBAN_ACCOUNT"] == "alice"


def test_time_formatted_once_a_second_reads_as_logging_writes_it() -> None:
    from journalban.agent.logs import SecondFormatter

    fmt = "%(asctime)s %(levelname)s %(message)s"
    ours, theirs = SecondFormatter(fmt), logging.Formatter(fmt)
    for created in (1_700_000_000.0, 1_700_000_000.4567, 1_700_000_000.9999, 1_700_000_001.001,
                    1_700_000_061.5, 1_700_003_600.25):  # fmt: skip
        record = logging.LogRecord("journalban", logging.INFO, __file__, 1, "Ban x", None, None)
        record.created = created
        record.msecs = (created - int(created)) * 1000
        assert ours.format(record) == theirs.format(record)
