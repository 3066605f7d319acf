"""TestLine over the real bus cannot stall the agent (issue 13, finding 5).

Any local user may call TestLine. A line that makes a filter's regex backtrack
used to be matched inside the agent's event loop: no bans, no expiries, no
D-Bus while it ran. Here the real agent, on a private system bus with
polkitd, gets such a line from ``nobody`` against a local filter whose regex
backtracks (lighttpd-auth's digest regex before issue 13); meanwhile it must
answer other calls and ban from the journal, and the call must end with
``org.jailban.Error.TimedOut`` within the limit.
"""

from __future__ import annotations

import subprocess
import time
from collections.abc import Iterator

import pytest

from journalban.agent.linetest import TIME_LIMIT
from support.bus import as_user, run_client
from support.busagent import BusAgent, agent_on_bus, module_dir
from support.journal import sshd_fields

pytestmark = pytest.mark.real
MANAGER = ["--dest", "org.jailban", "--object-path", "/org/jailban"]
SLOW_FILTER = r"""
description: a filter whose regex backtracks (lighttpd-auth's digest regex before issue 13)
prefilter: ["IP: "]
failregex:
  - regex: '^digest: auth failed for\s+(?P<user>.*?)\s*: wrong password,? IP: <HOST>$'
samples:
  - line: "digest: auth failed for bob : wrong password, IP: 203.0.113.3"
    host: 203.0.113.3
"""
SLOW_LINE = "digest: auth failed for" + " " * 4000 + "x"  # minutes of backtracking


Setup = BusAgent


@pytest.fixture(scope="module")
def setup() -> Iterator[Setup]:
    with module_dir("jb-testline-") as tmp:
        (tmp / "filters.d").mkdir()
        (tmp / "filters.d" / "slow.yaml").write_text(SLOW_FILTER)
        (tmp / "slow.log").write_text("")
        jails = {"sshd": {"maxretry": 2},
                 "slow": {"filter": "slow", "source": "files", "files": [str(tmp / "slow.log")]}}  # fmt: skip
        with agent_on_bus(tmp, jails=jails) as s:
            yield s


def _test_line(s: Setup, jail: str, line: str, user: str | None) -> list[str]:
    return ["gdbus", "call", "--address", s.bus.address, *MANAGER,
            "--method", "org.jailban.Manager1.TestLine", jail, line]  # fmt: skip


def test_a_backtracking_line_times_out_while_the_agent_bans_and_answers(setup: Setup) -> None:
    start = time.monotonic()
    slow = subprocess.Popen(
        as_user("nobody", _test_line(setup, "slow", SLOW_LINE, "nobody")),
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=setup.bus.env(),
    )  # fmt: skip
    try:
        time.sleep(0.3)  # the line is in the tester's child by now
        asked = time.monotonic()
        status = run_client(setup.bus, ["busctl", f"--address={setup.bus.address}", "call",
                                        "org.jailban", "/org/jailban", "org.jailban.Manager1",
                                        "GetStatus"], user="nobody")  # fmt: skip
        answered_in = time.monotonic() - asked
        line = "Failed password for root from 203.0.113.77 port 22 ssh2"
        setup.writer.write([sshd_fields(line)] * 2)
        setup.agent.wait_for_log("Ban 203.0.113.77 in jail sshd", timeout=TIME_LIMIT + 5)
        banned_while_testing = slow.poll() is None
        out, err = slow.communicate(timeout=TIME_LIMIT + 10)
    finally:
        if slow.poll() is None:
            slow.kill()
            slow.wait()
    took = time.monotonic() - start
    assert status.returncode == 0, status.stderr
    assert answered_in < 1.0
    assert banned_while_testing
    assert slow.returncode != 0
    assert "org.jailban.Error.TimedOut" in err, (out, err)
    assert took < TIME_LIMIT + 3.0
    # The timeout spent nobody's whole burst; another caller is still served.
    again = run_client(setup.bus, _test_line(setup, "sshd", line, None), user="nobody")
    assert "org.jailban.Error.RateLimited" in again.stderr, again
    root = run_client(setup.bus, _test_line(setup, "sshd", line, None))
    assert root.stdout.startswith("(true, '203.0.113.77',"), root


def test_the_slow_filters_own_sample_still_matches(setup: Setup) -> None:
    done = run_client(
        setup.bus,
        _test_line(setup, "slow", "digest: auth failed for bob : wrong password, IP: 203.0.113.3",
                   None),
    )  # fmt: skip
    assert done.stdout.startswith("(true, '203.0.113.3',"), done
