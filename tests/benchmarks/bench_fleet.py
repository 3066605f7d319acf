"""Fleet benchmark: real agents in network namespaces, a 3-node nats-server cluster.

    .venv/bin/python tests/benchmarks/bench_fleet.py [--latency 1000] [--flood 100000]

Needs root, nats-server, nft, systemd-journal-remote (everything stays inside
the benchmark's own network namespaces). Measures, on loopback veths:

- latency: a ban committed on host A (its element added to A's kernel set,
  which the agent does right after the commit) to the same element in host
  B's kernel set, both seen by ``nft monitor``: p50, p99, max over
  ``--latency`` bans detected by A from real journal entries;
- flood: ``--flood`` bans published into the stream from four origins as
  fast as a client can, and the rate host B applies them at (its kernel set,
  first element to last);
- catch-up: a host joining afterwards, from its process start to every live
  ban of the stream in its kernel set.

Prints a markdown table for docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import asyncio
import ipaddress
import os
import re
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from journalban.fleet.messages import ban_subject, encode_ban
from support.agent import AgentProcess, write_config
from support.fleet import PER_ADDRESS_ONLY, STREAM, FleetNet, fleet_net, wait_for
from support.journal import JournalWriter, sshd_fields

ELEMENT = re.compile(r"add element inet journalban sshd-v4 \{ ([0-9.]+) ")
FAST = {"ban_rate": 1_000_000, "ban_burst": 10_000_000}


class Monitor:
    """``nft monitor`` in a namespace: the time each element was added.

    ``keep``: remember each address's time; otherwise only count the elements
    and note the first and last time (a flood of 100,000 lines must not cost
    the host under test its CPU).
    """

    def __init__(self, ns: str, *, keep: bool = True) -> None:
        self.keep = keep
        self.seen: dict[str, float] = {}
        self.count = 0
        self.first = self.last = 0.0
        self.proc = subprocess.Popen(
            ["ip", "netns", "exec", ns, "nft", "monitor", "elements"],
            stdout=subprocess.PIPE,
            text=True,
            bufsize=1,
        )
        self.thread = threading.Thread(target=self._read, daemon=True)
        self.thread.start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            if not self.keep:
                if line.startswith("add element"):
                    self.last = time.monotonic()
                    self.first = self.first or self.last
                    self.count += 1
                continue
            match = ELEMENT.match(line)
            if match:
                self.seen.setdefault(match.group(1), time.monotonic())

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait()


def cpu_seconds(pid: int) -> float:
    """User and system CPU time of a process so far (load-independent, unlike wall time)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def addresses(count: int, start: str) -> list[str]:
    base = int(ipaddress.IPv4Address(start))
    return [str(ipaddress.IPv4Address(base + i)) for i in range(count)]


def agent(net: FleetNet, root: Path, name: str) -> tuple[AgentProcess, JournalWriter]:
    d = root / name
    (d / "journal").mkdir(parents=True)
    writer = JournalWriter(d / "journal")
    writer.__enter__()
    writer.write([sshd_fields("Server listening on :: port 22.")])
    writer.wait_visible(1)
    cfg = write_config(
        d / "journalban.yaml", d / "state", journal_dir=d / "journal",
        jails={"sshd": {"maxretry": 2, "bantime": "1h", **PER_ADDRESS_ONLY}},
        recidive={"enabled": False},
        fleet=net.fleet_config(name, **FAST),
    )  # fmt: skip
    proc = AgentProcess(cfg, dry_run=False, wrapper=["ip", "netns", "exec", net.ns[name]])
    proc.wait_for_log("running:", timeout=60)
    proc.wait_for_log("fleet prod: connected", timeout=60)
    return proc, writer


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def latency(net: FleetNet, writer: JournalWriter, count: int) -> dict[str, float]:
    mon_a, mon_b = Monitor(net.ns["a"]), Monitor(net.ns["b"])
    time.sleep(0.5)
    targets = addresses(count, "11.1.0.1")
    try:
        for i in range(0, count, 20):  # about 200 bans a second
            chunk = targets[i : i + 20]
            writer.write(
                [sshd_fields(f"Failed password for root from {a} port 22 ssh2") for a in chunk] * 2
            )
            time.sleep(0.1)
        wait_for(lambda: all(a in mon_b.seen for a in targets), timeout=120, what="latency bans")
    finally:
        mon_a.stop()
        mon_b.stop()
    delays = [(mon_b.seen[a] - mon_a.seen[a]) * 1000 for a in targets if a in mon_a.seen]
    return {
        "n": len(delays),
        "p50": statistics.median(delays),
        "p99": percentile(delays, 0.99),
        "max": max(delays),
    }


async def _publish(js: object, bans: list[tuple[str, bytes]]) -> None:
    pending = []
    for subject, body in bans:
        pending.append(await js.publish_async(subject, body))  # type: ignore[attr-defined]
        if len(pending) >= 2000:
            await asyncio.gather(*pending)
            pending.clear()
    await asyncio.gather(*pending)


async def _flood(js: object, bans: list[tuple[str, bytes]]) -> float:
    """Publish as four origins at once; the seconds it took."""
    start = time.monotonic()
    await asyncio.gather(*(_publish(js, bans[i::4]) for i in range(4)))
    return time.monotonic() - start


def flood(net: FleetNet, count: int, b: AgentProcess) -> dict[str, float]:
    now = time.time()
    bans = []
    for i, address in enumerate(addresses(count, "11.64.0.1")):
        net_ = ipaddress.ip_network(address)
        subject = ban_subject("journalban.prod", f"f{i % 4}", "sshd", net_)
        bans.append((subject, encode_ban("ban", now, now + 3600, "flood")))
    mon_b = Monitor(net.ns["b"], keep=False)
    time.sleep(0.5)
    cpu = cpu_seconds(b.proc.pid)
    try:
        publish_s = net.admin(lambda js: _flood(js, bans))
        wait_for(lambda: mon_b.count >= count, timeout=300, what="flood applied on b")
        cpu = cpu_seconds(b.proc.pid) - cpu
    finally:
        mon_b.stop()
    applied_s = mon_b.last - mon_b.first
    return {"n": count, "publish_rate": count / publish_s, "apply_rate": count / applied_s,
            "per_cpu_second": count / cpu}  # fmt: skip


def catch_up(net: FleetNet, root: Path) -> dict[str, float]:
    info = net.admin(lambda js: js.stream_info(STREAM))
    live = int(info.state.messages) - 2  # one a subject; less the members' announcements
    net.add_host("d")
    mon_d = Monitor(net.ns["d"], keep=False)
    time.sleep(0.5)
    start = time.monotonic()
    proc, writer = agent(net, root, "d")
    try:
        wait_for(lambda: mon_d.count >= live, timeout=300, what="catch-up on d")
        elapsed = mon_d.last - start
        cpu = cpu_seconds(proc.proc.pid)
    finally:
        mon_d.stop()
        proc.stop()
        writer.__exit__(None, None, None)
    return {"n": mon_d.count, "seconds": elapsed, "cpu": cpu}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--latency", type=int, default=1000)
    parser.add_argument("--flood", type=int, default=100_000)
    args = parser.parse_args()
    root = Path(tempfile.mkdtemp(prefix="jb-bench-fleet-"))
    # d's user exists on the servers from the start; its namespace comes later.
    with fleet_net(root / "net", ["a", "b"], later=["d"]) as net:
        net.create_stream()
        a, writer_a = agent(net, root, "a")
        b, writer_b = agent(net, root, "b")
        try:
            lat = latency(net, writer_a, args.latency)
            # On one machine every host shares the CPU; in a fleet each has its
            # own. A stops once its part is measured, and so does B.
            a.stop()
            fl = flood(net, args.flood, b)
            b.stop()
            cu = catch_up(net, root)
        finally:
            for proc, writer in ((a, writer_a), (b, writer_b)):
                proc.stop()
                writer.__exit__(None, None, None)
    print(f"(latency {lat}, flood {fl}, catch-up {cu}; load average {os.getloadavg()})")
    print("| measure | result | floor |")
    print("|---|---|---|")
    print(f"| latency, ban committed on A to element in B's kernel set ({lat['n']:.0f} bans) |"
          f" p50 {lat['p50']:.1f} ms, p99 {lat['p99']:.1f} ms, max {lat['max']:.1f} ms | p99 < 250 ms |")  # fmt: skip
    print(f"| flood, {fl['n']:.0f} bans from 4 origins | published {fl['publish_rate']:,.0f}/s,"
          f" applied on B {fl['apply_rate']:,.0f}/s ({fl['per_cpu_second']:,.0f} per CPU second of B)"
          " | >= 5,000/s applied |")  # fmt: skip
    print(f"| catch-up of {cu['n']:,.0f} live bans by a joining host (process start to the last"
          f" element in its kernel set) | {cu['seconds']:.1f} s ({cu['cpu']:.1f} CPU s, start-up"
          " included) | < 10 s |")  # fmt: skip


if __name__ == "__main__":
    main()
