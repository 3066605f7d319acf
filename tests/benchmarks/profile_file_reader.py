"""Where the file reader child's CPU goes per line, stage by stage, on each corpus.

    .venv/bin/python tests/benchmarks/profile_file_reader.py [--corpora dovecot,...] [--repeat 3]

One file reader in this process (``filereader``'s own source and frame bodies,
no split: one core) over a copy of the corpus's log (corpus_files.py), with
the job the agent sends for the corpus's jail on its default configuration
(bench_agent_corpora.py's, from a file); CPU seconds (``time.process_time``,
the best of ``--repeat``) of three loops, each doing what the one before did
and more:

- **read**: the bursts of 256 KiB decoded into lines (``FileSource``);
- **scan**: and the literal scan of each burst (``line_ends``);
- **match**: the frame bodies (``filereader._body``): the candidates matched,
  their dates, the failures' fields, marshalled;
- **sessions**: and the jail's session table, as the child keeps it (its
  correlated failures and stored changes in the bodies; the same as match
  where the filter has no sessions).

Printed per corpus as microseconds per line, each stage's own share, and a
digest of the frames' hits (everything but the position, which names the
temporary file): the same digest before and after a change means the same
failures, addresses, times, users and marks; the sessions digest, the same
with the session table's hits and changes.
"""

from __future__ import annotations

import argparse
import dataclasses
import functools
import hashlib
import marshal
import shutil
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # tests/, for support.*
sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_agent_corpora import jail_for, jail_source
from corpora import add_corpus_arguments
from corpus_files import ensure_files

from journalban.agent.filereader import BURST_BYTES, FileJob, _body, dated_file_source
from journalban.clock import SystemClock
from journalban.matching.dates import DateReader
from journalban.matching.engine import LineMatcher
from journalban.matching.literals import line_ends
from journalban.matching.sessions import SessionTable
from journalban.matching.spec import unpickle_filter
from journalban.sources.hitkeys import AddressKeys


def file_job(log: Path, corpus: str, work: Path) -> FileJob:
    """The job the agent sends its file reader child for the corpus's jail, on ``log``."""
    from journalban.agent.fileworker import FileWorkerSource

    source = jail_source(work, jail_for(corpus), "file", log)
    assert isinstance(source, FileWorkerSource)
    return dataclasses.replace(source._job, split=False)


def run(job: FileJob, stage: str) -> tuple[int, str]:
    """One pass over the file to ``stage``: the lines read, and the hits' digest."""
    clock = SystemClock()
    assert job.filter_def is not None
    matcher = LineMatcher(job.matcher.compile(unpickle_filter(job.filter_def)), clock.now)
    source = dated_file_source(
        job.files, clock, job.findtime, job.position, job.key, burst_bytes=BURST_BYTES
    )
    table = None
    if stage == "sessions" and matcher.filter.fdef.sessions is not None:
        table = SessionTable(matcher.filter.fdef.sessions)
    dates = DateReader(clock.now)
    keys = AddressKeys(job.ipv6_prefix)  # (the frames' addresses: sources.hitkeys)
    digest = hashlib.sha256()
    lines = 0
    for batch in source.blocking_batches(lambda fd, timeout: False):
        lines += batch.count
        if stage == "scan":
            line_ends(batch.lines.text, matcher.filter.scan)  # type: ignore[attr-defined]
        elif stage in ("match", "sessions"):
            body = _body(batch, matcher, table, dates, keys)
            digest.update(marshal.dumps(columns(body)))
    return lines, digest.hexdigest()[:16]


def columns(body: bytes) -> tuple[Any, ...]:
    """A frame body's fields but the position, its hits as five lists (line, address,
    time, user, mark) as the frames held them before 2026-12-06: the digests recorded
    since ef647c4 compare."""
    _, *counts, hits, changed, _addresses = marshal.loads(body)  # noqa: S302 (our own bodies)
    return (*counts, *([hit[k] for hit in hits] for k in range(5)), changed)


def best(repeat: int, stage: Callable[[], tuple[int, str]]) -> tuple[float, int, str]:
    times: list[float] = []
    lines, digest = 0, ""
    for _ in range(repeat):
        start = time.process_time()
        lines, digest = stage()
        times.append(time.process_time() - start)
    return min(times), lines, digest


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_corpus_arguments(parser)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    print("| corpus | lines | read | scan | match | sessions | total µs/line | hits | sessions |")
    print("|---|---:|---:|---:|---:|---:|---:|---|---|")
    for name in args.corpora.split(","):
        files = ensure_files(args.data / name / str(args.lines), name, args.lines)
        with tempfile.TemporaryDirectory() as work:
            log = Path(work) / "corpus.log"
            shutil.copy(files.log, log)
            job = file_job(log, name, Path(work))
            t_read, lines, _ = best(args.repeat, functools.partial(run, job, "read"))
            t_scan, _, _ = best(args.repeat, functools.partial(run, job, "scan"))
            t_match, _, digest = best(args.repeat, functools.partial(run, job, "match"))
            t_all, _, both = best(args.repeat, functools.partial(run, job, "sessions"))
        shares = (t_read, t_scan - t_read, t_match - t_scan, t_all - t_match, t_all)
        cells = " | ".join(f"{t * 1e6 / lines:.2f}" for t in shares)
        print(f"| {name} | {lines:,} | {cells} | {digest} | {both} |", flush=True)


if __name__ == "__main__":
    main()
