"""Whole-cluster outages with real parts (a 3-node nats-server JetStream cluster).

After a restart, a server whose copy of the stream has no leader answers the
stream's info with its own copy, which may be behind: it missed what the
other two stored while it was down. A host must not take that answer for the
stream (its end before the host's position would look like a stream made
anew), and must follow the stream again once the servers are back.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from support.fleet import STREAM, wait_for
from support.fleet_hosts import Fleet, running_fleet

pytestmark = [pytest.mark.real, pytest.mark.slow]


@pytest.fixture
def fleet(tmp_path: Path) -> Iterator[Fleet]:
    with running_fleet(tmp_path) as f:
        yield f


def _alone_answers(fleet: Fleet) -> bool:
    """Whether the one server up answers the stream's info, leaderless, with its own copy."""
    try:
        info: Any = fleet.net.admin(lambda js: js.stream_info(STREAM))
    except Exception:
        return False
    return info.cluster is not None and not info.cluster.leader


def test_a_server_behind_and_alone_moves_no_host_back_to_the_start(fleet: Fleet) -> None:
    for name in ("a", "b"):
        fleet.add(name)
        fleet.start(name)
    b = fleet.hosts["b"]
    assert b.agent is not None
    fleet.net.stop_server(2)
    fleet.hosts["a"].fail("203.0.113.40")  # stored by n1 and n2 only
    wait_for(lambda: "203.0.113.40" in fleet.kernel("b"), what="the ban on b")
    fleet.net.stop_server(0)
    fleet.net.stop_server(1)
    fleet.net.start_server(2)  # n3 alone, its copy of the stream behind b's position
    wait_for(lambda: _alone_answers(fleet), timeout=60, what="n3 answering alone")
    wait_for(lambda: "has no leader" in b.agent.log or "reading it from the start" in b.agent.log,
             timeout=30, what="b reading the leaderless answer")  # fmt: skip
    fleet.net.start_server(0)
    fleet.net.start_server(1)
    fleet.net.wait_cluster()
    fleet.hosts["a"].fail("203.0.113.41")
    wait_for(lambda: "203.0.113.41" in fleet.kernel("b"), timeout=60,
             what="the ban on b after the outage")  # fmt: skip
    assert b.agent.proc.poll() is None
    assert "reading it from the start" not in b.agent.log, b.agent.log
    assert "the stream ends at" not in b.agent.log, b.agent.log
    # Applied once: b kept its position through the outage.
    assert b.history("203.0.113.40/32") == 1
