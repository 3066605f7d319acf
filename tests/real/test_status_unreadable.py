"""`journalban status` shows the lines the agent could not read (issue 19, older23).

The real agent on a private system bus with polkitd reads a log file; a line that is
not UTF-8 is counted unreadable (the metrics showed it, the status did not). The count
comes over the bus as the jail's ``LinesUnreadable`` property: ``journalban status
JAIL`` shows the jail's, ``journalban status`` every jail's summed, to any user (the
``info`` action, as before).
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator

import pytest

from support.bus import run_client
from support.busagent import BusAgent, agent_on_bus, module_dir
from support.real import REPO

pytestmark = pytest.mark.real
JOURNALBAN = [str(REPO / ".venv" / "bin" / "python"), "-m", "journalban"]
UNREADABLE = "Failed password for root from 192.0.2.7 port 22 ssh2 \xff\xfe".encode("latin-1")


@pytest.fixture(scope="module")
def setup() -> Iterator[BusAgent]:
    with module_dir("jb-unreadable-") as tmp:
        log = tmp / "auth.log"
        log.write_text("")
        jails = {"ssh-files": {"filter": "sshd", "source": "files", "files": [str(log)]}}
        with agent_on_bus(tmp, jails=jails) as s:
            yield s


def status(s: BusAgent, *args: str) -> str:
    done = run_client(s.bus, [*JOURNALBAN, "status", *args], user="nobody")
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_an_unreadable_line_shows_in_the_status_of_its_jail_and_of_the_agent(
    setup: BusAgent,
) -> None:
    assert "|  |- Unreadable lines:\t0" in status(setup, "ssh-files").splitlines()
    assert "|- Unreadable lines:\t0" in status(setup).splitlines()
    log = setup.config.parent / "auth.log"
    with log.open("ab") as out:
        out.write(b"Dec  7 21:00:00 host sshd[1]: Connection closed by 192.0.2.8 port 22\n")
        out.write(b"Dec  7 21:00:01 host sshd[1]: " + UNREADABLE + b"\n")
    deadline = time.monotonic() + 20
    while "|  |- Unreadable lines:\t1" not in status(setup, "ssh-files").splitlines():
        assert time.monotonic() < deadline, status(setup, "ssh-files")
        time.sleep(0.2)
    assert "|- Unreadable lines:\t1" in status(setup).splitlines()
    assert json.loads(status(setup, "--json"))["LinesUnreadable"] == 1
    assert json.loads(status(setup, "ssh-files", "--json"))["LinesUnreadable"] == 1
    # The journal jail read none: its own count stays 0.
    assert "|  |- Unreadable lines:\t0" in status(setup, "sshd").splitlines()
