"""nftables backend benchmark, inside a private network namespace.

    .venv/bin/python tests/benchmarks/bench_nft.py [--bans 100000] [--per-process 2000]

Re-executes itself under ``unshare -n`` (root), so nothing touches the machine's
ruleset. Measures:

- restoring N bans at start (setup + reconcile, as the agent does), into an
  empty table and into a table that already holds them (agent restart);
- the backend's ban rate: ``apply`` batches of 1000 and of 100, timed from the
  call to the kernel's acknowledgement;
- fail2ban's nftables action: one ``nft add element`` process per ban, timed
  over ``--per-process`` elements and extrapolated to N;
- one ``nft -f`` file holding all N elements (the practical limit of nft).

Prints a markdown table for docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import ipaddress
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable

from journalban.firewall.base import BanEntry, JailRules, PortRange
from journalban.firewall.nftables import NftablesBackend

JAIL = JailRules("sshd", (PortRange(22, 22),), ("tcp",))
MARK = "JOURNALBAN_BENCH_IN_NETNS"


def bans(count: int, now: float, offset: int = 0) -> list[BanEntry]:
    base = int(ipaddress.IPv4Address("10.0.0.0")) + offset
    return [
        BanEntry("sshd", ipaddress.IPv4Network(base + i), now + 3600 + i % 600)
        for i in range(count)
    ]


def timed(fn: Callable[[], object]) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def restore(count: int) -> tuple[float, float]:
    backend = NftablesBackend()
    wanted = bans(count, time.time())

    def start(b: NftablesBackend) -> None:
        b.setup([JAIL])
        b.reconcile(wanted, time.time())

    empty = timed(lambda: start(backend))
    again = NftablesBackend()
    held = timed(lambda: start(again))
    backend.teardown()
    backend.close()
    again.close()
    return empty, held


def ban_rate(count: int, batch: int) -> float:
    backend = NftablesBackend()
    backend.setup([JAIL])
    now = time.time()
    entries = bans(count, now, offset=1 << 20)
    chunks = [entries[i : i + batch] for i in range(0, count, batch)]

    def send() -> None:
        for chunk in chunks:
            backend.apply(chunk, [], now)

    elapsed = timed(send)
    backend.teardown()
    backend.close()
    return count / elapsed


def nft_ruleset_prelude() -> str:
    return "add table inet f2b\nadd set inet f2b addr { type ipv4_addr; flags timeout; }\n"


def one_process_per_element(count: int) -> float:
    subprocess.run(["nft", "-f", "-"], input=nft_ruleset_prelude(), text=True, check=True)
    base = int(ipaddress.IPv4Address("10.64.0.0"))
    start = time.perf_counter()
    for i in range(count):
        addr = ipaddress.IPv4Address(base + i)
        subprocess.run(
            ["nft", "add", "element", "inet", "f2b", "addr", f"{{ {addr} timeout 3600s }}"],
            check=True,
        )
    elapsed = time.perf_counter() - start
    subprocess.run(["nft", "delete", "table", "inet", "f2b"], check=True)
    return count / elapsed


def one_nft_file(count: int) -> float:
    base = int(ipaddress.IPv4Address("10.128.0.0"))
    with tempfile.NamedTemporaryFile("w", suffix=".nft", delete=False) as f:
        f.write(nft_ruleset_prelude())
        for i in range(0, count, 1000):
            chunk = ", ".join(
                f"{ipaddress.IPv4Address(base + j)} timeout 3600s"
                for j in range(i, min(i + 1000, count))
            )
            f.write(f"add element inet f2b addr {{ {chunk} }}\n")
        path = f.name
    try:
        elapsed = timed(lambda: subprocess.run(["nft", "-f", path], check=True))
    finally:
        os.unlink(path)
    subprocess.run(["nft", "delete", "table", "inet", "f2b"], check=True)
    return count / elapsed


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--bans", type=int, default=100_000)
    parser.add_argument("--per-process", type=int, default=2000)
    args = parser.parse_args()
    if os.environ.get(MARK) != "1":
        env = dict(os.environ, **{MARK: "1"})
        os.execvpe("unshare", ["unshare", "-n", sys.executable, *sys.argv], env)  # noqa: S606
    subprocess.run(["ip", "link", "set", "lo", "up"], check=True)
    n = args.bans
    empty, held = restore(n)
    rate_1000 = ban_rate(n, 1000)
    rate_100 = ban_rate(min(n, 20_000), 100)
    per_process = one_process_per_element(args.per_process)
    nft_file = one_nft_file(n)
    print(f"| what | {n:,} bans | rate |")
    print("| --- | --- | --- |")
    print(
        f"| journalban restore into an empty table (setup + reconcile) | {empty:.2f} s "
        f"| {n / empty:,.0f}/s |"
    )
    print(
        f"| journalban restore when the kernel already holds them | {held:.2f} s "
        f"| {n / held:,.0f}/s |"
    )
    print(f"| journalban `apply`, batches of 1000 | {n / rate_1000:.2f} s | {rate_1000:,.0f}/s |")
    print(f"| journalban `apply`, batches of 100 | {n / rate_100:.2f} s | {rate_100:,.0f}/s |")
    print(
        f"| one `nft` process per element (fail2ban's way; {args.per_process:,} measured, "
        f"extrapolated) | {n / per_process:,.0f} s | {per_process:,.0f}/s |"
    )
    print(f"| one `nft -f` file with every element | {n / nft_file:.2f} s | {nft_file:,.0f}/s |")


if __name__ == "__main__":
    main()
