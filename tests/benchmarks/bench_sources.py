"""Throughput of the sources alone: JournalSource over journal files, FileSource over a file.

    .venv/bin/python tests/benchmarks/bench_sources.py [--entries 1000000] [--data DIR]

The journal corpus is written once through systemd-journal-remote into DIR
(kept for later runs); the figures go into docs/benchmarks.md by hand.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import resource
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # tests/, for support.*

from journalban.clock import SystemClock
from journalban.sources.base import Source
from journalban.sources.files import FileSource
from journalban.sources.journal import JournalSource
from support.journal import JournalWriter, sshd_fields

SSHD_GROUPS = [
    {"_SYSTEMD_UNIT": "ssh.service", "_UID": "0"},
    {"_SYSTEMD_UNIT": "sshd.service", "_UID": "0"},
]
YEARS = 20 * 365 * 86400.0


def corpus_line(i: int) -> str:
    return (
        f"Failed password for invalid user user{i % 997} from 198.51.{i % 256}.{i % 253} "
        f"port {1024 + i % 60000} ssh2"
    )


def ensure_journal(directory: Path, entries: int) -> Path:
    """A journal directory holding ``entries`` sshd entries (written once)."""
    done = directory / f"complete-{entries}"
    if done.exists():
        return directory
    directory.mkdir(parents=True, exist_ok=True)
    for old in directory.glob("*.journal"):
        old.unlink()
    start = time.time() - 3600
    with JournalWriter(directory) as writer:
        for first in range(0, entries, 10_000):
            chunk = range(first, min(entries, first + 10_000))
            writer.write(
                [
                    {
                        **sshd_fields(corpus_line(i)),
                        "__REALTIME_TIMESTAMP": int((start + i / 1000) * 1e6),
                        # sshd logs through syslog, which journald stamps with the send time.
                        "_SOURCE_REALTIME_TIMESTAMP": int((start + i / 1000) * 1e6),
                    }
                    for i in chunk
                ]
            )
    done.touch()
    return directory


def ensure_file(path: Path, lines: int) -> Path:
    if path.exists() and path.with_suffix(f".complete-{lines}").exists():
        return path
    path.parent.mkdir(parents=True, exist_ok=True)
    start = int(time.time()) - 3600
    with path.open("w") as f:
        for first in range(0, lines, 10_000):
            f.write(
                "".join(
                    f"{start + i // 1000} host sshd[{i % 30000}]: {corpus_line(i)}\n"
                    for i in range(first, min(lines, first + 10_000))
                )
            )
    path.with_suffix(f".complete-{lines}").touch()
    return path


async def drain(source: Source, lines: int) -> tuple[int, int]:
    """(lines, batches) read until ``lines`` lines arrived."""
    seen = batches = 0
    async for batch in source.batches():
        seen += len(batch.lines)
        batches += 1
        if seen >= lines:
            break
    source.close()
    return seen, batches


def measure(name: str, source: Source, lines: int) -> None:
    cpu0 = time.process_time()
    wall0 = time.perf_counter()
    seen, batches = asyncio.run(drain(source, lines))
    wall = time.perf_counter() - wall0
    cpu = time.process_time() - cpu0
    rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(
        f"{name}: {seen} lines in {batches} batches, {wall:.2f} s wall, {cpu:.2f} s CPU, "
        f"{seen / wall:,.0f} lines/s, peak RSS so far {rss_mb:.0f} MB"
    )


def epoch_prefix(line: str) -> float | None:
    head = line.split(" ", 1)[0]
    return float(head) if head.isdigit() else None


async def journal_latency(directory: Path, probes: int) -> list[float]:
    """Seconds from an entry written by journal-remote to its batch, while idle."""
    delays: list[float] = []
    with JournalWriter(directory) as writer:
        writer.write([sshd_fields("warm up")])
        writer.wait_visible(1)
        source = JournalSource(
            "journal:sshd",
            clock=SystemClock(),
            findtime=YEARS,
            matches=SSHD_GROUPS,
            directory=str(directory),
        )
        batches = source.batches()
        await anext(batches)
        for i in range(probes):
            await asyncio.sleep(0.01)
            started = time.perf_counter()
            writer.write([sshd_fields(f"probe {i}")])
            await anext(batches)
            delays.append(time.perf_counter() - started)
        source.close()
    return delays


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--entries", type=int, default=1_000_000)
    parser.add_argument("--data", type=Path, default=Path("/var/tmp/journalban-bench"))
    parser.add_argument("--probes", type=int, default=200)
    args = parser.parse_args()

    journal_dir = ensure_journal(args.data / f"journal-{args.entries}", args.entries)
    size_mb = sum(p.stat().st_size for p in journal_dir.glob("*.journal")) / 2**20
    print(f"journal corpus: {args.entries} entries, {size_mb:.0f} MB in {journal_dir}")
    measure(
        "JournalSource",
        JournalSource(
            "journal:sshd",
            clock=SystemClock(),
            findtime=YEARS,
            matches=SSHD_GROUPS,
            directory=str(journal_dir),
        ),
        args.entries,
    )

    log = ensure_file(args.data / f"file-{args.entries}" / "auth.log", args.entries)
    print(f"file corpus: {args.entries} lines, {log.stat().st_size / 2**20:.0f} MB")
    measure(
        "FileSource",
        FileSource(str(log), clock=SystemClock(), findtime=YEARS, line_time=epoch_prefix),
        args.entries,
    )

    latency_dir = args.data / f"latency-{os.getpid()}"
    delays = sorted(asyncio.run(journal_latency(latency_dir, args.probes)))
    for path in latency_dir.glob("*"):
        path.unlink()
    latency_dir.rmdir()
    p99 = delays[max(0, int(len(delays) * 0.99) - 1)]
    print(
        f"JournalSource latency, write by journal-remote -> batch: "
        f"median {statistics.median(delays) * 1000:.1f} ms, p99 {p99 * 1000:.1f} ms, "
        f"max {delays[-1] * 1000:.1f} ms over {len(delays)} probes"
    )


if __name__ == "__main__":
    main()
