"""The file reader child's work on one corpus, for cachegrind: instructions per line.

    valgrind --tool=cachegrind --cache-sim=no .venv/bin/python \
        tests/benchmarks/file_child_cg.py CORPUS --reads N

One process builds what the file reader child builds for the corpus's jail on the
default configuration, from a file (``profile_file_reader.file_job``: no split, one
core) and reads a copy of the corpus's log ``--reads`` times, making each burst's frame
body as the child does (``filereader._body``: the hits, the session table's, the
addresses' keys); run it with 2 reads and with 1, and the difference of the two counts
is one read, start-up and imports aside. ``--digest`` prints the frames' digest (as
``profile_file_reader``'s sessions digest; not counted: a separate run): the same
before and after a change means the child hands out the same failures.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # tests/, for support.*
sys.path.insert(0, str(Path(__file__).resolve().parent))

from corpora import CORPUS_CACHE
from corpus_files import ensure_files
from profile_file_reader import file_job, run

from journalban.agent.filereader import BURST_BYTES, FileJob, _body, dated_file_source
from journalban.clock import SystemClock
from journalban.matching.dates import DateReader
from journalban.matching.engine import LineMatcher
from journalban.matching.sessions import SessionTable
from journalban.matching.spec import unpickle_filter
from journalban.sources.hitkeys import AddressKeys


def read(job: FileJob) -> int:
    """One read of the job's file, each burst's frame body made as the child makes it;
    the lines read."""
    clock = SystemClock()
    assert job.filter_def is not None
    matcher = LineMatcher(job.matcher.compile(unpickle_filter(job.filter_def)), clock.now)
    source = dated_file_source(
        job.files, clock, job.findtime, job.position, job.key, burst_bytes=BURST_BYTES
    )
    sessions = matcher.filter.fdef.sessions
    table = None if sessions is None else SessionTable(sessions)
    dates = DateReader(clock.now)
    keys = AddressKeys(job.ipv6_prefix)
    lines = 0
    for batch in source.blocking_batches(lambda fd, timeout: False):
        lines += batch.count
        _body(batch, matcher, table, dates, keys)
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("corpus")
    parser.add_argument("--reads", type=int, default=1)
    parser.add_argument("--lines", type=int, default=300_000)
    parser.add_argument("--data", type=Path, default=CORPUS_CACHE)
    parser.add_argument("--digest", action="store_true")
    args = parser.parse_args()
    files = ensure_files(args.data / args.corpus / str(args.lines), args.corpus, args.lines)
    with tempfile.TemporaryDirectory() as work:
        log = Path(work) / "corpus.log"
        shutil.copy(files.log, log)
        job = file_job(log, args.corpus, Path(work))
        if args.digest:
            lines, digest = run(job, "sessions")
            print(f"{args.corpus}: {lines:,} lines, frames' digest {digest}")
            return
        started = time.process_time()
        for _ in range(args.reads):
            lines = read(job)
        spent = time.process_time() - started
    print(f"{args.corpus}: {lines:,} lines, {args.reads} reads, {spent:.2f} s CPU")


if __name__ == "__main__":
    main()
