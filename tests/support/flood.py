"""A flood of distinct addresses through the real agent, and what it costs in memory.

Used by ``tests/real/test_agent_address_flood.py`` (a few hundred thousand
addresses) and ``tests/benchmarks/bench_address_flood.py`` (a million of each).
The agent runs ``--dry-run`` with one file jail (the sshd filter, matched in
its reader child) with the default cap (``max_tracked`` 100,000) and the
default detectors; each address fails once, so nothing is banned and every
address is a new network to track. The agent's own peak RSS (VmHWM) is what
the caps bound; its reader child's is reported apart.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from support.agent import AgentProcess, StateReader, write_config
from support.procs import child_pids

JAIL = "ssh-file"


def ipv4(n: int) -> str:
    """The n-th of distinct public IPv4 addresses (11-99.x.x.x), no /24 holding many."""
    return f"{11 + n % 89}.{n // 89 % 256}.{n // 22784 % 256}.{1 + n // 5832704 % 250}"


def ipv6_64(n: int) -> str:
    """An address in the n-th of distinct /64s, spread over /48s."""
    return f"2001:db8:{n % 65536:x}:{n // 65536 % 65536:x}::{n % 7 + 1:x}"


def flood_lines(v4: int, v6: int) -> Iterator[str]:
    stamp = time.strftime("%b %e %H:%M:%S", time.localtime())
    for n in range(v4):
        yield f"{stamp} host sshd[9]: Failed password for root from {ipv4(n)} port {n % 65536} ssh2\n"
    for n in range(v6):
        yield f"{stamp} host sshd[9]: Failed password for root from {ipv6_64(n)} port 2 ssh2\n"


def _status_kb(pid: int, name: str) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(name + ":"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


def run_flood(work: Path, v4: int, v6: int, timeout: float = 600.0) -> dict[str, Any]:
    """Run the agent over ``v4`` IPv4 and ``v6`` IPv6 failure lines; its figures."""
    log = work / "auth.log"
    log.write_text("")
    cfg = write_config(
        work / "journalban.yaml", work / "state", firewall={"backend": "dry-run"},
        jails={"sshd": {"enabled": False},
               JAIL: {"filter": "sshd", "source": "files", "files": [str(log)],
                      "maxretry": 5, "findtime": "1d"}},
    )  # fmt: skip
    agent = AgentProcess(cfg)
    reader = StateReader(work / "state")
    child_hwm: dict[int, int] = {}
    try:
        agent.wait_for_log("running:")
        idle_kb = _status_kb(agent.proc.pid, "VmRSS")
        with log.open("a") as out:
            out.writelines(flood_lines(v4, v6))
        size = log.stat().st_size
        start = time.monotonic()
        while True:
            for child in child_pids(agent.proc.pid):
                child_hwm[child] = max(child_hwm.get(child, 0), _status_kb(child, "VmHWM"))
            position = reader.position(JAIL)
            offsets = [m["off"] for m in json.loads(position)["files"]] if position else []
            if offsets and max(offsets) >= size:
                break
            if time.monotonic() - start > timeout:
                raise AssertionError(f"the flood was not read in {timeout}s:\n{agent.log[-2000:]}")
            if agent.proc.poll() is not None:
                raise AssertionError(f"the agent exited:\n{agent.log[-2000:]}")
            time.sleep(0.1)
        seconds = time.monotonic() - start
        hwm_kb = _status_kb(agent.proc.pid, "VmHWM")
        rss_kb = _status_kb(agent.proc.pid, "VmRSS")
        failed = reader.total_failed(JAIL)
    finally:
        agent.stop()
    return {
        "ipv4": v4, "ipv6_64": v6, "seconds": round(seconds, 1), "failed": failed,
        "agent_idle_rss_mb": round(idle_kb / 1024, 1),
        "agent_peak_rss_mb": round(hwm_kb / 1024, 1),
        "agent_rss_after_mb": round(rss_kb / 1024, 1),
        "reader_child_peak_rss_mb": round(max(child_hwm.values(), default=0) / 1024, 1),
    }  # fmt: skip
