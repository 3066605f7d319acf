"""A ban the clock ends while the journal behind it is still to be read (the real agent).

The agent reads a journal by its entries' times and lifts bans by the clock,
in a chore every second. A catch-up of a backlog decides bans from old lines;
one may end by the clock before the reading reaches its end. The failures of
its span read after the chore lifted it must not count (they did: how many
counted, and the bans they led to, depended on when the chore ran, that is on
the load; a journal catch-up of a benchmark corpus once counted 9,549 failures
instead of 9,555, with 16 more bans). Here the rest of the span is written to
the journal only once the chore has lifted the ban: the order a slow catch-up
gives, made certain.
"""

from __future__ import annotations

import time
from pathlib import Path

from support.agent import PER_ADDRESS_ONLY, AgentProcess, StateReader, last_cursor, write_config
from support.journal import JournalWriter, sshd_fields

BANTIME = 60.0
ADDRESS = "203.0.113.5"


def failure(address: str, when: float, port: int) -> dict[str, str | int]:
    usec = int(when * 1e6)
    fields = sshd_fields(f"Failed password for root from {address} port {port} ssh2")
    return {**fields, "_SOURCE_REALTIME_TIMESTAMP": usec, "__REALTIME_TIMESTAMP": usec}


def test_a_ban_lifted_before_the_lines_read_pass_its_end_keeps_its_span(tmp_path: Path) -> None:
    jdir = tmp_path / "journal"
    state = tmp_path / "state"
    jail = {"findtime": "1h", "bantime": f"{BANTIME:.0f}s", "maxretry": 2, **PER_ADDRESS_ONLY}
    cfg = write_config(tmp_path / "c.yaml", state, journal_dir=jdir,
                       firewall={"backend": "dry-run"}, jails={"sshd": jail})  # fmt: skip
    reader = StateReader(state)
    # Its ban ends 12 s from now: time enough for the agent to start and decide it.
    start = time.time() - BANTIME + 12
    with JournalWriter(jdir) as writer:
        writer.write([failure(ADDRESS, start, 1000), failure(ADDRESS, start + 1, 1001)])
        writer.wait_visible(2)
        agent = AgentProcess(cfg)
        try:
            reader.wait(lambda: reader.bans() == {("sshd", f"{ADDRESS}/32")}, timeout=30)
            assert time.time() < start + 1 + BANTIME, "decided as a running ban"
            # The chore lifts it once its end has passed by the clock.
            reader.wait(lambda: not reader.bans(), timeout=BANTIME)
            assert reader.total_failed("sshd") == 2
            # The rest of its span, and a later failure of another address.
            writer.write(
                [
                    failure(ADDRESS, start + 20, 1002),
                    failure(ADDRESS, start + 30, 1003),
                    failure("198.51.100.7", start + 40, 1004),
                ]
            )
            writer.wait_visible(5)
            end = last_cursor(jdir)
            reader.wait(lambda: reader.position("sshd") == end, timeout=30)
        finally:
            agent.stop()
    assert reader.total_failed("sshd") == 3  # the other address's; none inside the ban
    assert not reader.bans()
    assert [network for network, _ in reader.history()] == [f"{ADDRESS}/32"]
