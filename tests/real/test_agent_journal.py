"""The agent on real journal files written live by systemd-journal-remote."""

from __future__ import annotations

import random
import time
from pathlib import Path

from support.agent import (
    PER_ADDRESS_ONLY,
    AgentProcess,
    StateReader,
    last_cursor,
    running,
    write_config,
)
from support.journal import JournalWriter, sshd_fields

MAXRETRY = 3


def _stream(
    now: float, banned: int, spared: int, seed: int = 7
) -> tuple[list[dict[str, str | int]], set[str], int]:
    """Interleaved failures: ``banned`` addresses fail MAXRETRY times, ``spared`` one time fewer.

    Returns the entries, the addresses that must end up banned and the failure count.
    """
    rng = random.Random(seed)
    plan: list[str] = []
    must_ban = set()
    for i in range(banned):
        addr = f"203.0.{113 + i // 250}.{i % 250 + 1}"
        must_ban.add(addr)
        plan += [addr] * MAXRETRY
    for i in range(spared):
        plan += [f"198.51.{100 + i // 250}.{i % 250 + 1}"] * (MAXRETRY - 1)
    rng.shuffle(plan)
    entries: list[dict[str, str | int]] = []
    for n, addr in enumerate(plan):
        t = int((now - 120 + n * 0.01) * 1e6)
        entries.append(
            {
                **sshd_fields(f"Failed password for root from {addr} port {1024 + n} ssh2"),
                "__REALTIME_TIMESTAMP": t,
            }
        )
        # Noise: accepted logins and a local user's forged line (uid 1000) in between.
        if n % 7 == 0:
            entries.append(
                {
                    **sshd_fields(
                        f"Accepted publickey for alice from 192.0.2.{n % 200 + 1} port 22 ssh2"
                    ),
                    "__REALTIME_TIMESTAMP": t,
                }
            )
        if n % 11 == 0:
            forged = sshd_fields(
                "Failed password for root from 192.0.2.66 port 22 ssh2",
                unit="user@1000.service",
                uid=1000,
            )
            entries.append({**forged, "__REALTIME_TIMESTAMP": t})
    return entries, must_ban, len(plan)


def test_agent_bans_from_a_live_journal_and_ignores_forged_lines(tmp_path: Path) -> None:
    jdir = tmp_path / "journal"
    jdir.mkdir()
    state = tmp_path / "state"
    cfg = write_config(tmp_path / "c.yaml", state, journal_dir=jdir, firewall={"backend": "dry-run"},
                       jails={"sshd": {"maxretry": MAXRETRY}})  # fmt: skip
    with JournalWriter(jdir) as writer:
        writer.write([sshd_fields("Server listening on 0.0.0.0 port 22.")])
        writer.wait_visible(1)
        with running(cfg) as agent:
            forged = sshd_fields("Failed password for root from 192.0.2.66 port 22 ssh2", uid=1000)
            writer.write([forged] * 5)
            writer.write(
                [
                    sshd_fields(
                        "Failed password for invalid user 192.0.2.1 from 203.0.113.9 port 2 ssh2"
                    )
                ]
                * MAXRETRY
            )
            agent.wait_for_log("Ban 203.0.113.9 in jail sshd for 10m")
            reader = StateReader(state)
            assert reader.bans() == {("sshd", "203.0.113.9/32")}
    assert "192.0.2.66" not in agent.log
    assert "192.0.2.1 " not in agent.log


def test_kill9_mid_stream_loses_nothing_and_counts_nothing_twice(tmp_path: Path) -> None:
    jdir = tmp_path / "journal"
    jdir.mkdir()
    state = tmp_path / "state"
    cfg = write_config(tmp_path / "c.yaml", state, journal_dir=jdir, firewall={"backend": "dry-run"},
                       defaults={"findtime": "1h", "bantime": "1h", "maxretry": MAXRETRY},
                       jails={"sshd": PER_ADDRESS_ONLY})  # fmt: skip
    entries, must_ban, failures = _stream(time.time(), banned=400, spared=400)
    half = len(entries) // 2
    reader = StateReader(state)
    with JournalWriter(jdir) as writer:
        writer.write(entries[:half])
        writer.wait_visible(half)
        agent = AgentProcess(cfg)
        agent.wait_for_log("running:")
        # Kill it while it is still working through the stream.
        reader.wait(lambda: reader.total_failed("sshd") > 50, timeout=30)
        writer.write(entries[half:])
        agent.kill9()
        assert reader.total_failed("sshd") < failures
        writer.wait_visible(len(entries))
        end = last_cursor(jdir)
        again = AgentProcess(cfg)
        try:
            reader.wait(lambda: reader.position("sshd") == end, timeout=60)
        finally:
            again.stop()
    assert reader.bans() == {("sshd", f"{a}/32") for a in must_ban}
    assert reader.total_failed("sshd") == failures
    assert "Restore ban of" in again.log


def test_restart_resumes_from_the_cursor(tmp_path: Path) -> None:
    jdir = tmp_path / "journal"
    jdir.mkdir()
    state = tmp_path / "state"
    cfg = write_config(tmp_path / "c.yaml", state, journal_dir=jdir, firewall={"backend": "dry-run"},
                       jails={"sshd": {"maxretry": MAXRETRY}})  # fmt: skip
    reader = StateReader(state)
    line = "Failed password for root from 203.0.113.20 port 22 ssh2"
    with JournalWriter(jdir) as writer:
        writer.write([sshd_fields(line)] * (MAXRETRY - 1))
        writer.wait_visible(MAXRETRY - 1)
        first = AgentProcess(cfg)
        reader.wait(lambda: reader.total_failed("sshd") == MAXRETRY - 1)
        assert first.stop() == 0
        # One more failure while it was down: with the two before, that is a ban.
        writer.write([sshd_fields(line)])
        writer.wait_visible(MAXRETRY)
        second = AgentProcess(cfg)
        try:
            second.wait_for_log("Ban 203.0.113.20 in jail sshd")
        finally:
            second.stop()
    assert reader.total_failed("sshd") == MAXRETRY
