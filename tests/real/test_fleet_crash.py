"""Crash safety of publishing beyond the servers' duplicate window (real 3-node cluster).

A host killed after the servers stored its messages and before it forgot them
in its outbox finds them again at its start. Within the duplicate window the
servers drop the repeat (test_fleet.py's kill -9 test); beyond it, the host
looks the last message of each subject up and publishes nothing twice.
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from journalban.addresses import parse_network
from journalban.fleet.messages import encode_ban, network_key
from support.fleet import STREAM, wait_for
from support.fleet_hosts import Fleet, running_fleet

pytestmark = [pytest.mark.real, pytest.mark.slow]


@pytest.fixture
def fleet(tmp_path: Path) -> Iterator[Fleet]:
    with running_fleet(tmp_path, duplicate_window=1) as f:
        yield f


def _outbox(state: Path, sql: str, *args: Any) -> list[tuple[Any, ...]]:
    db = sqlite3.connect(state / "state.sqlite", timeout=10)
    try:
        with db:
            return db.execute(sql, args).fetchall()
    finally:
        db.close()


def test_messages_stored_before_a_crash_are_not_published_again(fleet: Fleet) -> None:
    a, b = fleet.add("a"), fleet.add("b")
    fleet.start("a").stop()  # a's state database, with its outbox, exists now
    fleet.start("b")
    # a's outbox as a kill -9 leaves it: a ban and its unban, both handed over
    # ten minutes ago and stored by the servers, neither forgotten yet.
    address = "203.0.113.210"
    subject = f"journalban.prod.bans.a.sshd.{network_key(parse_network(address))}"
    now = time.time()
    sent = now - 600
    rows = [("ban", now - 5, now + 3600, "failures"), ("unban", now - 4, None, "unban")]
    for op, at, exp, reason in rows:
        (row_id,) = _outbox(a.state,
            "INSERT INTO fleet_outbox (op, jail, network, banned_at, expires_at, reason, sent_at)"
            " VALUES (?, 'sshd', ?, ?, ?, ?, ?) RETURNING id", op, f"{address}/32", at, exp, reason,
            sent)[0]  # fmt: skip
        body = encode_ban(op, at, exp, reason)
        msg_id = f"a-{row_id}-{int(at * 1000)}"

        async def publish(js: Any, body: bytes = body, msg_id: str = msg_id) -> Any:
            return await js.publish(subject, body, headers={"Nats-Msg-Id": msg_id}, timeout=2)

        fleet.net.admin(publish, user="a", password="pw-a")  # noqa: S106 - support.fleet's
    wait_for(lambda: b.history(f"{address}/32") == 1, what="the ban applied on b")
    wait_for(lambda: address not in fleet.kernel("b"), what="its unban applied on b")
    before = fleet.net.admin(lambda js: js.get_msg(STREAM, subject=subject)).seq
    time.sleep(2)  # past the servers' duplicate window (1 s here)
    agent = fleet.start("a")
    wait_for(lambda: not _outbox(a.state, "SELECT id FROM fleet_outbox"), what="a's outbox empty")
    time.sleep(2)
    assert fleet.net.admin(lambda js: js.get_msg(STREAM, subject=subject)).seq == before
    assert b.history(f"{address}/32") == 1
    assert address not in fleet.kernel("b")
    assert agent.proc.poll() is None
