"""The PAM check's latency, process start included, with 100,000 active bans.

    .venv/bin/python tests/benchmarks/bench_pam.py [--runs 300] [--bans 100000]

A real ``PamPolicyServer`` listens on a unix socket (in a thread's event loop,
as in the agent) over a ``BanTable`` of ``--bans`` bans and a detection view
with one account under attack. Each run starts ``journalban pam-check`` as
pam_exec does: a new process with PAM_* in its environment, timed from fork
to exit. Measured three ways:

- packaged: ``/usr/bin/python3`` running a console script like the one a
  package installs (``from journalban.cli.main import main``), the checkout on
  ``sys.path`` as dist-packages would be;
- the module file alone: ``/usr/bin/python3 -I -S`` running
  ``journalban/pamcheck.py`` as a script, as its first line runs the copy
  packages install as ``/usr/lib/journalban/pam-check`` (it imports nothing of
  journalban, so it needs no site-packages; the lightest pam_exec line);
- venv: the editable install's ``.venv/bin/journalban`` (its path finder
  costs tens of milliseconds at start; no package installs it that way);
- floor: ``/usr/bin/python3 -c pass``, the interpreter alone on this machine
  now (the load of the shared machine is printed beside it).

Answers alternate between a banned address (no), an attacked account from
a new network (no) and a known-good one (yes); each answer is checked.
Each row also gives the CPU time a run costs (user + system of the client
processes), which the machine's load does not change.
Prints a markdown table for docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import asyncio
import ipaddress
import os
import resource
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from journalban.config.enforcement import Listen, PamPoint
from journalban.enforce.bantable import BanTable
from journalban.enforce.pam import PamPolicyServer
from journalban.firewall.base import BanEntry

REPO = Path(__file__).resolve().parents[2]
NOW = time.time()


class View:
    """One account under attack, one known-good address for it."""

    def account_under_attack(self, jail: str, account: str) -> float | None:
        return NOW + 3600 if account == "alice" else None

    def known_good(self, jail: str, account: str, address: str) -> bool:
        return (account, address) == ("alice", "198.51.100.7")

    def known_good_pairs(self, jail: str) -> list[tuple[str, str, float]]:
        return []

    def accounts_under_attack(self, jail: str) -> list[tuple[str, float, float]]:
        return []


def table(count: int) -> BanTable:
    t = BanTable()
    base = int(ipaddress.IPv4Address("10.0.0.0"))
    t.apply((BanEntry("sshd", ipaddress.IPv4Network(base + i), None) for i in range(count)), ())
    return t


CASES = (
    ("10.0.0.5", "bob", 1),  # banned
    ("198.51.100.99", "alice", 1),  # account under attack, new network
    ("198.51.100.7", "alice", 0),  # known-good
    ("198.51.100.8", "bob", 0),  # nothing against it
)


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * p))]


def children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


CPU: dict[str, float] = {}  # client name -> CPU ms a run (user + system), the load aside


def measure(argv: list[str], runs: int, path: str) -> list[float]:
    times = []
    cpu = children_cpu()
    for n in range(runs):
        rhost, user, expect = CASES[n % len(CASES)]
        env = {"PATH": "/usr/bin:/bin", "PAM_TYPE": "auth", "PAM_SERVICE": "sshd",
               "PAM_USER": user, "PAM_RHOST": rhost}  # fmt: skip
        start = time.perf_counter()
        code = subprocess.run(
            [*argv, *([] if argv[-1].endswith(".py") else ["pam-check"]), "--socket", path],
            env=env,
            check=False,
        ).returncode
        times.append((time.perf_counter() - start) * 1000)
        if code != expect:
            raise SystemExit(f"{argv}: {rhost} {user}: exit {code}, expected {expect}")
    CPU[" ".join(argv)] = (children_cpu() - cpu) * 1000 / runs
    return times


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=300)
    ap.add_argument("--bans", type=int, default=100_000)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as where:
        path = f"{where}/pam.sock"
        server = PamPolicyServer(
            PamPoint(Listen(path=path), ("sshd",)), table(args.bans), time.time, View
        )
        loop = asyncio.new_event_loop()
        thread = threading.Thread(target=loop.run_forever, daemon=True)
        thread.start()
        asyncio.run_coroutine_threadsafe(server.start(), loop).result(10)
        script = Path(where) / "journalban"
        script.write_text(
            "#!/usr/bin/python3\nimport sys\n"
            f"sys.path.insert(0, {str(REPO)!r})\n"
            "from journalban.cli.main import main\nsys.exit(main())\n"
        )
        script.chmod(0o755)
        rows = []
        for name, argv in (
            ("packaged (/usr/bin/python3, console script)", [str(script)]),
            (
                "/usr/lib/journalban/pam-check (python3 -IS journalban/pamcheck.py)",
                ["/usr/bin/python3", "-I", "-S", str(REPO / "journalban/pamcheck.py")],
            ),
            ("venv (editable install)", [str(REPO / ".venv/bin/journalban")]),
        ):
            times = measure(argv, args.runs, path)
            rows.append((name, times, CPU[" ".join(argv)]))
        floor = []
        cpu = children_cpu()
        for _ in range(args.runs):
            start = time.perf_counter()
            subprocess.run(["/usr/bin/python3", "-c", "pass"], check=True)
            floor.append((time.perf_counter() - start) * 1000)
        floor_cpu = (children_cpu() - cpu) * 1000 / args.runs
        rows.append(("floor: /usr/bin/python3 -c pass", floor, floor_cpu))
        asyncio.run_coroutine_threadsafe(server.close(), loop).result(10)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(10)
        answered = server.answered
    print(f"{args.runs} runs each, {args.bans:,} active bans, load average "
          f"{os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs; {answered} answers checked\n")  # fmt: skip
    print("| client | p50 ms | p90 ms | p99 ms | max ms | CPU ms a run |")
    print("|---|---|---|---|---|---|")
    for name, times, cpu_ms in rows:
        print(f"| {name} | {percentile(times, 0.5):.1f} | {percentile(times, 0.9):.1f} | "
              f"{percentile(times, 0.99):.1f} | {max(times):.1f} | {cpu_ms:.1f} |")  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
