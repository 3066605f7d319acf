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
from journalban.matching.engine import CompiledFilter
from journalban.matching.library import FilterLibrary
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


async def drain(source: Source, lines: int) -> tuple[int, int, int]:
    """(lines read, lines handed out, batches) until ``lines`` lines were read."""
    seen = handed = batches = 0
    async for batch in source.batches():
        seen += batch.count
        handed += len(batch.lines)
        batches += 1
        if seen >= lines:
            break
    source.close()
    return seen, handed, batches


def measure(name: str, source: Source, lines: int) -> None:
    """Wall time, CPU and peak RSS of this process and of its reader children."""
    children0 = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu0 = time.process_time()
    wall0 = time.perf_counter()
    seen, handed, batches = asyncio.run(drain(source, lines))
    wall = time.perf_counter() - wall0
    cpu = time.process_time() - cpu0
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    child_cpu = children.ru_utime + children.ru_stime - children0.ru_utime - children0.ru_stime
    rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    child_rss = f", child peak RSS {children.ru_maxrss / 1024:.0f} MB" if child_cpu else ""
    print(
        f"{name}: {seen} lines read, {handed} handed out in {batches} batches, "
        f"{wall:.2f} s wall, {cpu:.2f} s CPU here + {child_cpu:.2f} s in children, "
        f"{seen / wall:,.0f} lines/s, peak RSS so far {rss_mb:.0f} MB{child_rss}",
        flush=True,
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
    parser.add_argument(
        "--journal",
        type=Path,
        help="an existing journal directory to read (e.g. the agent bench's corpus), "
        "all of whose entries are sshd's",
    )
    parser.add_argument("--only", default="journal,file,latency")
    args = parser.parse_args()
    only = set(args.only.split(","))

    if "journal" in only:
        journal_dir = args.journal or ensure_journal(
            args.data / f"journal-{args.entries}", args.entries
        )
        size_mb = sum(p.stat().st_size for p in journal_dir.glob("*.journal")) / 2**20
        print(f"journal corpus: {args.entries} entries, {size_mb:.0f} MB in {journal_dir}")
        literals = CompiledFilter(FilterLibrary(None).load("sshd"), "normal").literals
        for name, prefilter in (("", ()), (" with the sshd prefilter", literals)):
            measure(
                "JournalSource" + name,
                JournalSource(
                    "journal:sshd",
                    clock=SystemClock(),
                    findtime=YEARS,
                    matches=SSHD_GROUPS,
                    directory=str(journal_dir),
                    prefilter=prefilter,
                ),
                args.entries,
            )
    if "file" in only:
        file_source(args.data, args.entries)
    if "latency" in only:
        latency(args.data, args.probes)


def file_source(data: Path, entries: int) -> None:
    log = ensure_file(data / f"file-{entries}" / "auth.log", entries)
    print(f"file corpus: {entries} lines, {log.stat().st_size / 2**20:.0f} MB")
    measure(
        "FileSource",
        FileSource(str(log), clock=SystemClock(), findtime=YEARS, line_time=epoch_prefix),
        entries,
    )


def latency(data: Path, probes: int) -> None:
    latency_dir = data / f"latency-{os.getpid()}"
    delays = sorted(asyncio.run(journal_latency(latency_dir, probes)))
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
