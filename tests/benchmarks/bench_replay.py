"""Replay speed: `journalban replay` against `journalban regex` on the same input.

    .venv/bin/python tests/benchmarks/bench_replay.py [--runs R] [--lines N] [--flood N]

Issue 14 asks that replay (matching plus every detector, ban lengths and
recidive) run at least as fast as `journalban regex` (matching only) within
2x, wall clock. Three corpora, made once in a temporary directory:

- ``sshd``: gen_sshd_corpus.py's auth.log (N lines, about 15% failures);
- ``scenario``: gen_scenario.py's default day, as auth.log and as journal
  files (journal-remote; skipped if systemd-journal-remote is missing);
- ``flood``: half the lines failures, each from one of ``--flood`` distinct
  addresses (the worst case for the per-key state of every detector).

Each input is run R times, regex and replay in turn (round robin, so a busy
machine slows both alike); the medians of wall clock and CPU (the command's
children's rusage) and their ratio are printed with the load average.
Replay runs with the shipped defaults (every detector the default turns on).
"""

from __future__ import annotations

import argparse
import os
import random
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
sys.path[:0] = [str(HERE), str(REPO / "tests")]
JOURNALBAN = str(Path(sys.executable).parent / "journalban")


def flood_corpus(path: Path, lines: int, addresses: int, seed: int = 14) -> int:
    """Half the lines sshd failures from ``addresses`` distinct addresses; the failures."""
    rng = random.Random(seed)
    pool = [
        f"{41 + i // 65536}.{i // 256 % 256}.{i % 256}.{rng.randint(1, 254)}"
        for i in range(addresses)
    ]
    rng.shuffle(pool)
    start = time.mktime((2025, 11, 21, 0, 0, 0, 0, 0, -1))
    users = ("root", "admin", "oracle", "alice", "bob", "postgres", "ubuntu", "git")
    out: list[str] = []
    failures = 0
    for n in range(lines):
        t = time.localtime(start + n * 0.2)
        stamp = time.strftime("%b %e %H:%M:%S", t)
        pid = 1000 + n % 60000
        if n % 2 == 0:
            addr = pool[(n // 2) % addresses]
            user = users[n % len(users)]
            out.append(
                f"{stamp} web1 sshd[{pid}]: Failed password for {user} from {addr} port {1024 + n % 60000} ssh2"
            )
            failures += 1
        else:
            out.append(
                f"{stamp} web1 sshd[{pid}]: Received disconnect from 192.0.2.{n % 250 + 1} port 22:11: Bye [preauth]"
            )
    path.write_text("\n".join(out) + "\n")
    return failures


def corpora(work: Path, lines: int, flood: int) -> dict[str, Path]:
    from gen_scenario import write

    found: dict[str, Path] = {}
    sshd = work / "sshd.log"
    subprocess.run(
        [sys.executable, str(HERE / "gen_sshd_corpus.py"), str(sshd), "--lines", str(lines)],
        check=True,
    )
    found["sshd"] = sshd
    scenario = work / "scenario"
    try:
        write(scenario, "default", 14)
    except (OSError, subprocess.CalledProcessError, FileNotFoundError) as exc:
        print(f"scenario journal files skipped: {exc}", file=sys.stderr)
    if (scenario / "auth.log").exists():
        found["scenario (auth.log)"] = scenario / "auth.log"
    if (scenario / "journal").is_dir():
        found["scenario (journal)"] = scenario / "journal"
    path = work / "flood.log"
    flood_corpus(path, 2 * flood, flood)
    found["flood"] = path
    return found


def timed(argv: list[str]) -> tuple[float, float, str]:
    """(wall seconds, children's CPU seconds, stdout) of one run."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    done = subprocess.run(argv, capture_output=True, text=True, check=True)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, cpu, done.stdout


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--runs", type=int, default=3)
    p.add_argument("--lines", type=int, default=300_000, help="sshd corpus lines")
    p.add_argument("--flood", type=int, default=200_000, help="flood corpus: distinct addresses")
    args = p.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-replay-") as tmp:
        work = Path(tmp)
        config = work / "journalban.yaml"
        config.write_text(f"state_dir: {work / 'state'}\n")
        inputs = corpora(work, args.lines, args.flood)
        print(f"load average before: {os.getloadavg()[0]:.1f} (cores: {os.cpu_count()})")
        print(f"{'corpus':<22} {'lines':>8} {'fails':>7} {'regex wall/cpu':>16} "
              f"{'replay wall/cpu':>16} {'ratio wall':>10} {'ratio cpu':>9}")  # fmt: skip
        for name, path in inputs.items():
            regex: list[tuple[float, float]] = []
            replay: list[tuple[float, float]] = []
            out = ""
            for _ in range(args.runs):
                w, c, _ = timed([JOURNALBAN, "regex", str(path), "sshd", "--json"])
                regex.append((w, c))
                w, c, out = timed(
                    [JOURNALBAN, "replay", str(path), "--config", str(config), "--json"]
                )
                replay.append((w, c))
            import json

            result = json.loads(out)
            rw = statistics.median(w for w, _ in regex)
            rc = statistics.median(c for _, c in regex)
            pw = statistics.median(w for w, _ in replay)
            pc = statistics.median(c for _, c in replay)
            print(
                f"{name:<22} {result['lines']:>8} {result['failures']:>7} "
                f"{rw:>7.2f}/{rc:>5.2f} s {pw:>7.2f}/{pc:>5.2f} s {pw / rw:>9.2f}x {pc / rc:>8.2f}x",
                flush=True,
            )
        print(f"load average after: {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
