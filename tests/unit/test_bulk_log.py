"""Lines logged in bulk (agent.bulklog) are the lines ``Logger.info`` writes, one each."""

from __future__ import annotations

import io
import logging
from collections.abc import Iterator

import pytest

from journalban.addresses import stored_network
from journalban.agent.bulklog import log_lines
from journalban.agent.logs import DRY_RUN_PREFIX, EventLog, SecondFormatter
from journalban.events import Ban
from support.agentlog import agent_log

LINES = [
    "Ban 203.0.113.5 in jail sshd for 2d (account: 'root')",
    "Ban 2001:db8::/64 in jail sshd for 2d",
    "100% of it, with %s and %(name)s kept",
    "",
    "a line\nwith a new line in it",
]


@pytest.fixture
def logger() -> Iterator[logging.Logger]:
    found = logging.getLogger("journalban.test-bulk")
    found.propagate = False
    found.setLevel(logging.INFO)
    yield found
    found.handlers[:] = []
    found.filters[:] = []


def _stream(logger: logging.Logger, fmt: str) -> io.StringIO:
    out = io.StringIO()
    handler = logging.StreamHandler(out)
    handler.setFormatter(SecondFormatter(fmt))
    logger.handlers[:] = [handler]
    return out


@pytest.mark.parametrize(
    "fmt",
    ["%(message)s", f"{DRY_RUN_PREFIX}%(message)s", "%(levelname)s %(name)s: %(message)s <"],
)
def test_the_same_text_as_one_record_per_line(logger: logging.Logger, fmt: str) -> None:
    out = _stream(logger, fmt)
    for line in LINES:
        logger.info(line)
    one_by_one = out.getvalue()
    out.seek(0)
    out.truncate()
    log_lines(logger, logging.INFO, LINES)
    assert out.getvalue() == one_by_one
    assert one_by_one.count("\n") == len(LINES) + 1  # one line has a new line in it


def test_the_time_stamp_is_written_on_every_line(logger: logging.Logger) -> None:
    out = _stream(logger, "%(asctime)s %(levelname)s %(message)s")
    log_lines(logger, logging.INFO, LINES[:2])
    written = out.getvalue().splitlines()
    assert [w[24:] for w in written] == [f"INFO {line}" for line in LINES[:2]]
    assert written[0][:23] == written[1][:23]
    assert written[0][4] == "-"


def test_below_the_level_nothing_is_written(logger: logging.Logger) -> None:
    out = _stream(logger, "%(message)s")
    logger.setLevel(logging.WARNING)
    log_lines(logger, logging.INFO, LINES)
    assert out.getvalue() == ""


def test_a_filter_or_another_handler_gets_a_record_per_line(logger: logging.Logger) -> None:
    out = _stream(logger, "%(message)s")
    logger.handlers[0].addFilter(lambda r: "2001:" not in r.getMessage())
    records: list[logging.LogRecord] = []

    class Keep(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            records.append(record)

    logger.addHandler(Keep())
    log_lines(logger, logging.INFO, LINES[:3])
    assert out.getvalue() == f"{LINES[0]}\n{LINES[2]}\n"
    assert [r.getMessage() for r in records] == LINES[:3]
    assert all(r.levelno == logging.INFO and r.name == logger.name for r in records)


def test_a_format_showing_the_message_twice_is_formatted_per_line(
    logger: logging.Logger,
) -> None:
    out = _stream(logger, "%(message)s|%(message)s")
    log_lines(logger, logging.INFO, LINES[:2])
    assert out.getvalue() == "".join(f"{line}|{line}\n" for line in LINES[:2])


def test_a_logger_filter_is_obeyed(logger: logging.Logger) -> None:
    out = _stream(logger, "%(message)s")
    logger.addFilter(lambda r: r.getMessage().startswith("Ban 2001"))
    log_lines(logger, logging.INFO, LINES)
    assert out.getvalue() == f"{LINES[1]}\n"


def test_records_reach_the_parents_handlers_as_logging_sends_them(
    caplog: pytest.LogCaptureFixture,
) -> None:
    child = logging.getLogger("journalban.test-bulk.child")
    with caplog.at_level(logging.INFO):
        log_lines(child, logging.INFO, LINES[:2])
    assert [r.getMessage() for r in caplog.records if r.name == child.name] == LINES[:2]


def test_the_event_log_writes_a_group_of_bans_one_line_each(logger: logging.Logger) -> None:
    with agent_log() as out:
        bans = [
            Ban(
                "sshd",
                stored_network(text),
                1000.0,
                173_800.0,
                1,
                "account",
                3,
                "files",
                (),
                "root",
            )
            for text in ("203.0.113.5/32", "2001:db8::/64", "198.51.100.0/24")
        ]
        events = EventLog(None)
        events.events("ban", bans, 1000.0)
        bulk = out.getvalue()
        out.seek(0)
        out.truncate()
        for ban in bans:
            events.event("ban", ban, 1000.0)
        assert bulk == out.getvalue()
        assert bulk.splitlines() == [
            "Ban 203.0.113.5 in jail sshd for 2d (account: 'root')",
            "Ban 2001:db8::/64 in jail sshd for 2d (account: 'root')",
            "Ban 198.51.100.0/24 in jail sshd for 2d (account: 'root')",
        ]
