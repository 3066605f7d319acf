"""Memory suite: a flood of distinct addresses cannot make a jail's memory grow without end.

A remote attacker chooses its source address freely inside what it holds (a
botnet's IPv4 addresses, every /64 of an IPv6 allocation). Every per-address
structure of a jail is capped by the jail's ``max_tracked`` (the failure
counter, the lines kept for a ban, the detectors' tables) or by a constant
(the address memo), and the lines kept are bounded in bytes. The bound on the
whole agent is stated in ``docs/threat-model.md`` and checked on the real
agent in ``tests/real/test_agent_address_flood.py``.
"""

from __future__ import annotations

import gc
import tracemalloc
from collections.abc import Iterator
from pathlib import Path

import pytest

from journalban.clock import FakeClock
from journalban.config.schema import JailConfig, RecidiveConfig
from journalban.decisions.engine import DecisionEngine
from journalban.decisions.ignore import IgnoreList
from journalban.decisions.recentlines import LINE_CHARS, MAX_BYTES, PER_NETWORK
from journalban.decisions.runtime import NETWORK_MEMO_SIZE
from journalban.events import Hit, LineBatch
from journalban.state.store import StateStore

NOW = 1_800_000_000.0
BATCH = 5000
CAP = 5000
FLOOD = 5 * CAP  # distinct IPv4 addresses, then as many distinct IPv6 /64s
# What a jail may hold per network it tracks (Python objects, tracemalloc):
# measured 1.4-1.9 KB with IPv6 /64s (see docs/threat-model.md).
BYTES_PER_TRACKED = 3000


def _engine(tmp_path: Path, max_tracked: int, maxretry: int = 5) -> DecisionEngine:
    engine = DecisionEngine(
        StateStore(tmp_path / "state.sqlite"), FakeClock(NOW), RecidiveConfig(enabled=False)
    )
    cfg = JailConfig(name="sshd", maxretry=maxretry, findtime=3600, max_tracked=max_tracked)
    engine.configure({"sshd": cfg}, {"sshd": IgnoreList(())})
    return engine


def ipv4(n: int) -> str:
    return f"{11 + n // 65536 % 200}.{n // 256 % 256}.{n % 256}.{1 + n % 7}"


def ipv6_64(n: int) -> str:
    """A host in the n-th /64 of a /32 (the jail counts IPv6 by /64)."""
    return f"2001:db8:{n >> 16 & 0xFFFF:x}:{n & 0xFFFF:x}::{n % 9 + 1:x}"


def _flood(engine: DecisionEngine, hosts: Iterator[str], line: str = "") -> None:
    batch: list[Hit] = []
    for n, host in enumerate(hosts):
        batch.append((line or f"Failed password for root from {host} port {n} ssh2", host,
                      NOW + n * 1e-6, None, 0))  # fmt: skip
        if len(batch) == BATCH:
            _commit(engine, batch)
            batch = []
    if batch:
        _commit(engine, batch)


def _commit(engine: DecisionEngine, hits: list[Hit]) -> None:
    lines = [h[0] for h in hits]
    batch = LineBatch("journal", lines, "cursor", prefixed=False, hits=hits)
    changes = engine.process_hits("sshd", batch, hits)
    engine.store.commit(changes.commits)


def test_recent_lines_are_capped_with_the_failure_counter(tmp_path: Path) -> None:
    """Issue 13, finding 6: 50,000 addresses through a 1,000 cap left 49,000 line lists."""
    engine = _engine(tmp_path, max_tracked=1000)
    _flood(engine, (ipv4(n) for n in range(50_000)))
    rt = engine.jails["sshd"]
    assert len(rt.counter) == 1000
    assert len(rt.recent_lines) <= 1000
    assert rt.counter.evicted == 49_000
    # The addresses still counted still have their lines, for their ban.
    assert ipv4(49_999) + "/32" in rt.recent_lines
    assert ipv4(0) + "/32" not in rt.recent_lines
    assert len(rt.networks) <= min(NETWORK_MEMO_SIZE, rt.counter.max_tracked)


def test_lines_kept_are_bounded_in_bytes(tmp_path: Path) -> None:
    engine = _engine(tmp_path, max_tracked=100_000, maxretry=1000)
    long_line = "Failed password for " + "x" * 65_000 + " from 203.0.113.1 port 1 ssh2"
    _flood(engine, (ipv4(n) for n in range(10_000)), line=long_line)
    _flood(engine, (ipv4(7) for _ in range(PER_NETWORK * 3)), line="again")
    recent = engine.jails["sshd"].recent_lines
    assert recent.bytes <= MAX_BYTES
    assert recent.bytes == sum(
        len(line) for key in list(recent._lines) for line in recent.lines_of(key)
    )
    assert all(len(line) <= LINE_CHARS for key in recent._lines for line in recent.lines_of(key))
    assert recent.lines_of(ipv4(7) + "/32") == ["again"] * PER_NETWORK
    assert recent.evicted > 0


def test_a_flood_of_ipv4_addresses_and_ipv6_64s_stays_within_the_bound(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    engine = _engine(tmp_path, max_tracked=CAP)
    _flood(engine, (ipv4(n) for n in range(1_000_000, 1_000_000 + CAP)))  # at the cap already
    gc.collect()
    tracemalloc.start()
    try:
        base, _ = tracemalloc.get_traced_memory()
        _flood(engine, (ipv4(n) for n in range(FLOOD)))
        _flood(engine, (ipv6_64(n) for n in range(FLOOD)))
        gc.collect()
        current, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    rt = engine.jails["sshd"]
    assert len(rt.counter) == CAP
    assert len(rt.recent_lines) <= CAP
    assert len(rt.networks) <= CAP
    assert rt.counter.evicted == 2 * FLOOD
    assert ipv6_64(FLOOD - 1).rsplit(":", 2)[0] + "::/64" in rt.recent_lines
    assert current - base < CAP * BYTES_PER_TRACKED, f"{(current - base) // CAP} bytes a network"
    assert peak - base < CAP * BYTES_PER_TRACKED * 3 // 2, f"{(peak - base) // CAP} at the peak"
