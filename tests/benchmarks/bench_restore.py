"""How long the agent takes from start to READY with 100,000 bans to restore.

The state holds 100k active bans; `journalban run` starts in a network
namespace (nftables backend) and we time until it logs that it is running
(what systemd sees as READY), over several runs, in two cases:

- **empty**: a fresh namespace per run, so the kernel holds no table;
- **held**: one namespace for all runs; a first, untimed start fills the
  sets, and each timed start finds the kernel already holding every ban
  (a restart of the agent).

Prints a Markdown table; `--record` writes it into docs/benchmarks.md.

    .venv/bin/python tests/benchmarks/bench_restore.py [--bans 100000] [--runs 3] [--record]
"""

from __future__ import annotations

import argparse
import contextlib
import ipaddress
import os
import platform
import shlex
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "tests"))

from bench_bytecode import compile_package  # noqa: E402

from journalban.events import Ban  # noqa: E402
from journalban.state.store import BatchCommit, StateStore  # noqa: E402
from support.bus import PrivateBus  # noqa: E402

SECTION = "## Restoring bans at start (agent)"


def make_state(state: Path, count: int) -> None:
    store = StateStore(state / "state.sqlite")
    now = time.time()
    base = int(ipaddress.IPv4Address("11.0.0.0"))
    bans = [
        Ban(
            "sshd",
            ipaddress.ip_network(ipaddress.IPv4Address(base + i)),
            now,
            now + 3600,
            1,
            "failures",
            5,
            "journal",
        )
        for i in range(count)
    ]
    store.commit([BatchCommit(jail="sshd", bans=bans)])
    store.close()


class ReadyWatch:
    """READY=1 on a notify socket of ours (``NOTIFY_SOCKET``), as systemd receives it: each
    arrival's time is written to a file the run's shell waits for."""

    def __init__(self, tmp: Path) -> None:
        self.path = tmp / "notify.sock"
        self.flag = tmp / "ready"
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(str(self.path))
        self.times: list[float] = []
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        with contextlib.suppress(OSError):
            while True:
                data = self.sock.recv(4096)
                if "READY=1" in data.decode(errors="replace").split("\n"):
                    at = time.time()
                    self.times.append(at)
                    self.flag.write_text(f"{at:.6f}")

    def close(self) -> None:
        self.sock.close()
        self.path.unlink(missing_ok=True)


def timed_runs(
    tmp: Path, runs: int, held: bool, bus: str | None = None
) -> list[tuple[float, float, int]]:
    """(seconds from exec to READY=1, to "running:", elements the kernel then holds) per run;
    ``bus``: the address its D-Bus API serves on (READY waits for it), None: no bus."""
    log = tmp / "agent.log"
    ready = ReadyWatch(tmp)
    on_bus = f"DBUS_SYSTEM_BUS_ADDRESS={shlex.quote(bus)} " if bus is not None else ""
    one = (
        f"rm -f {log} {ready.flag}; start=$(date +%s.%N);"
        f" {on_bus}NOTIFY_SOCKET={ready.path} {REPO}/.venv/bin/journalban run --config {tmp}/c.yaml"
        f" > {log} 2>&1 & pid=$!;"
        f' while ! grep -qs "running:" {log}; do sleep 0.005; done; running=$(date +%s.%N);'
        f" while [ ! -s {ready.flag} ]; do sleep 0.005; done;"
        f' echo "$start $(cat {ready.flag}) $running";'
        " nft -j list set inet journalban sshd-v4 | grep -o '\"elem\"' | wc -l;"
        " kill $pid; wait;"
    )
    # Held: the first run fills the kernel's sets, untimed.
    script = f"{one} " + one * runs if held else one
    results: list[tuple[float, float, int]] = []
    try:
        for _ in range(1 if held else runs):
            out = subprocess.run(
                ["unshare", "-n", "sh", "-c", script],
                capture_output=True,
                text=True,
                check=True,
                timeout=300,
            )
            words = out.stdout.split()
            # Four words a run; the set's own "elem" key counts once.
            found = [
                (
                    float(words[i + 1]) - float(words[i]),
                    float(words[i + 2]) - float(words[i]),
                    int(words[i + 3]) - 1,
                )
                for i in range(0, len(words), 4)
            ]
            results += found[1:] if held else found
    finally:
        ready.close()
    return results


def main() -> int:
    compile_package()  # byte code as an installed package has it (bench_bytecode)
    parser = argparse.ArgumentParser()
    parser.add_argument("--bans", type=int, default=100_000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--record", action="store_true")
    parser.add_argument("--no-bus", action="store_true",
                        help="without the D-Bus API (the rule before 2026-12-06)")  # fmt: skip
    args = parser.parse_args()
    load_before = os.getloadavg()[0]
    commit = subprocess.run(
        ["git", "-C", str(REPO), "rev-parse", "--short", "HEAD"], capture_output=True, text=True
    ).stdout.strip()
    tmp = Path(tempfile.mkdtemp(prefix="jb-restore-"))
    with contextlib.ExitStack() as stack:
        # The agent serves its D-Bus API, as installed (``bus: true`` by default), on a
        # private bus (a path socket: reached from the agent's own network namespace).
        bus = None if args.no_bus else stack.enter_context(PrivateBus(polkit=False)).address
        try:
            (tmp / "j").mkdir()
            (tmp / "c.yaml").write_text(
                f"state_dir: {tmp}/state\nbus: {'false' if bus is None else 'true'}\n"
                f"journal: {{directory: {tmp}/j}}\nrecidive: {{enabled: false}}\n"
            )
            make_state(tmp / "state", args.bans)
            empty = timed_runs(tmp, args.runs, held=False, bus=bus)
            held = timed_runs(tmp, args.runs, held=True, bus=bus)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
    load = os.getloadavg()[0]
    rows = "\n".join(
        f"| {kind} | {i + 1} | {t:.2f} | {r:.2f} | {n:,} |"
        for kind, results in (("empty", empty), ("held", held))
        for i, (t, r, n) in enumerate(results)
    )
    best_empty = min(t for t, _, _ in empty)
    best_held = min(t for t, _, _ in held)
    text = f"""{SECTION}

`tests/benchmarks/bench_restore.py`: {args.bans:,} active bans in the state; `journalban run`
(nftables backend, in a network namespace) is timed from exec to READY=1 on a notify
socket of the benchmark's (what systemd waits for), and to its "running" log line: Python
start-up, reading the state, creating or checking the table and sets, and the netlink
transactions that make the kernel hold every ban. (The agent's own ban table, the `Ban`
objects its decisions and D-Bus work with, is built after the "running" line; READY
follows once the D-Bus API and the enforcement points serve: see agent/readiness.py.)
D-Bus API: {"off (`--no-bus`)" if args.no_bus else "on, on a private dbus-daemon, as installed"}.
**empty**: a fresh namespace per run (no table); **held**: one
namespace, a first untimed start filled the sets, and each timed start finds the kernel
already holding every ban (a restart). Floors: held under 2 s, empty under 1 s.

Machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()};
{time.strftime("%Y-%m-%d %H:%M")} UTC, code {commit}; load average {load_before:.1f} before the
runs, {load:.1f} when they ended.

| kernel | run | seconds to READY | seconds to "running" | elements in the kernel |
|---|---|---:|---:|---:|
{rows}

Best: empty {best_empty:.2f} s (floor 1 s: {"holds" if best_empty < 1 else "MISSED"}),
held {best_held:.2f} s (floor 2 s: {"holds" if best_held < 2 else "MISSED"}).
"""
    print(text)
    if args.record:
        doc = REPO / "docs" / "benchmarks.md"
        body = doc.read_text()
        if SECTION in body:
            # The figures are replaced; what the section says after them (where the
            # time went, what changed) is kept.
            start = body.index(SECTION)
            nxt = body.find("\n## ", start + len(SECTION))
            best = body.find("\nBest: empty", start, nxt if nxt != -1 else len(body))
            end = body.find("\n\n", best + 1) if best != -1 else nxt
            rest = body[end:].lstrip("\n") if end != -1 else ""
            body = body[:start] + text.rstrip() + ("\n\n" + rest if rest else "\n")
        else:
            body = body.rstrip() + "\n\n" + text
        doc.write_text(body)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
