"""Where the journal reader child's CPU goes per entry, stage by stage, on each corpus.

    .venv/bin/python tests/benchmarks/profile_journal_reader.py [--corpora sshd,...] [--repeat 3]

One reader in this process over the corpus's journal files (corpus_files.py,
as bench_agent_corpora.py writes them), with the request the agent sends for
the corpus's jail on its default configuration; CPU seconds
(``time.process_time``, the best of ``--repeat``) of four loops, each doing
what the one before did and more:

- **raw**: ``_next()`` and ``_get("MESSAGE")`` for every entry the jail's
  matches select (the minimal reader of bench_agent_corpora.py);
- **scan**: and the prefilter (the literal scan, tuned as the child tunes it);
- **candidates**: ``Follower.read_batch`` without a finder: each candidate's
  time, text and session key, the frames (written to /dev/null);
- **finder**: with the jail's finder (its session gate and matching): what a
  reader child does, start-up aside.

Printed per corpus as microseconds per jail entry: each stage's own share, and a
digest of the finder's frames (their hits, address texts, times, users, marks,
session rows, cursors and counts): the same digest before and after a change
means the reader child hands out the same.
"""

from __future__ import annotations

import argparse
import dataclasses
import hashlib
import os
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # tests/, for support.*
sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_agent_corpora import jail_for, raw_entries, reader_request
from corpora import add_corpus_arguments
from corpus_files import ensure_files

from journalban.agent.journalreader import finder
from journalban.sources.journalwire import Request
from journalban.sources.journalworker import Follower
from journalban.sources.literalscan import literal_scan, sample_messages
from journalban.sources.sdreader import Reader, open_reader


def opened(request: Request) -> Reader:
    # The reader child's own (sources.sdreader), as the child opens it.
    reader = open_reader(path=request.directory)
    for index, group in enumerate(request.matches):
        if index:
            reader.add_disjunction()
        for name, value in group.items():
            reader.add_match(f"{name}={value}")
    reader.seek_head()
    return reader


def raw(request: Request) -> int:
    reader = opened(request)
    entries = raw_entries(reader)
    reader.close()
    return entries


def scan(request: Request) -> int:
    found = literal_scan(request.prefilter, sample_messages(opened(request)))
    assert found is not None
    search = found.search
    reader = opened(request)
    next_entry, get = reader._next, reader._get
    candidates = 0
    while next_entry():
        try:
            message = get("MESSAGE")
        except KeyError:
            continue
        if search(message) is not None:
            candidates += 1
    reader.close()
    return candidates


def follower(request: Request, with_finder: bool, digest: list[str] | None = None) -> int:
    """The entries handed out; ``digest`` gets the frames' digest appended."""
    assert request.matcher is not None
    sink = os.open(os.devnull, os.O_RDWR)
    reader = Follower(request, sink, sink, finder(request.matcher) if with_finder else None)
    reader.seek_start()
    handed = 0
    hashed = hashlib.sha256()
    while (frame := reader.read_batch()) is not None:
        handed += len(frame.lines)
        reader.send(frame)
        if digest is not None:  # (an untimed pass: the frames' values, not their bytes;
            # ``marshal`` marks an object held twice, so the same values may be written two
            # ways: digests recorded before 2026-12-06 10:40 do not compare)
            hashed.update(repr(dataclasses.astuple(frame)).encode())
    reader.close()
    os.close(sink)
    if digest is not None:
        digest.append(hashed.hexdigest()[:16])
    return handed


def best(repeat: int, run: Callable[..., int], *args: object) -> tuple[float, int]:
    times: list[float] = []
    out = 0
    for _ in range(repeat):
        start = time.process_time()
        out = run(*args)
        times.append(time.process_time() - start)
    return min(times), out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_corpus_arguments(parser)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    print("| corpus | jail entries | candidates | handed out | raw | scan | candidates "
          "| finder | total µs/entry | frames digest |\n"
          "|---|---:|---:|---:|---:|---:|---:|---:|---:|---|")  # fmt: skip
    for name in args.corpora.split(","):
        files = ensure_files(args.data / name / str(args.lines), name, args.lines)
        with tempfile.TemporaryDirectory() as work:
            request = dataclasses.replace(
                reader_request(files, jail_for(name), Path(work)), since_usec=0
            )
            print(row(name, request, args.repeat), flush=True)


def row(name: str, request: Request, repeat: int) -> str:
    t_raw, entries = best(repeat, raw, request)
    t_scan, candidates = best(repeat, scan, request)
    t_cand, _ = best(repeat, follower, request, False)
    digests: list[str] = []
    t_full, handed = best(repeat, follower, request, True)
    for _ in range(2):
        follower(request, True, digests)
    assert len(set(digests)) == 1, f"the frames differ between runs: {digests}"
    shares = (t_raw, t_scan - t_raw, t_cand - t_scan, t_full - t_cand, t_full)
    return (
        f"| {name} | {entries:,} | {candidates:,} | {handed:,} | "
        + " | ".join(f"{t * 1e6 / entries:.2f}" for t in shares)
        + f" | {digests[0]} |"
    )


if __name__ == "__main__":
    main()
