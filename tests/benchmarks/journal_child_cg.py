"""The journal reader child's read of one corpus, for cachegrind: instructions per entry.

    valgrind --tool=cachegrind --cache-sim=no .venv/bin/python \
        tests/benchmarks/journal_child_cg.py CORPUS --reads N [--copy DIR]

One process builds the reader the child builds for the corpus's jail on the default
configuration (``profile_journal_reader.follower``: a ``Follower`` with the jail's
finder, the agent's request, ``since_usec=0``, frames written to /dev/null) and reads
the corpus's journal files ``--reads`` times; run it with 2 reads and with 1, and the
difference of the two counts is one read, start-up and imports aside. Divided by the
jail entries it prints, that is the child's instructions per entry. ``--copy`` reads
copies of the files taken once in DIR (made if missing), so that every run reads the
same files while the benchmark's cache is rewritten hourly. The frames' digest is
printed: the same before and after a change means the child hands out the same.

``--catch-up`` reads as the child's catch-up does (``Follower.catch_up``, alone: no
helper), by parts of the archived files, then the files still written to: its parts
are read by the native reader (``journalnative``) where it is built, by libsystemd with
``JOURNALBAN_NATIVE_JOURNAL=0``.
"""

from __future__ import annotations

import argparse
import dataclasses
import hashlib
import json
import os
import shutil
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # tests/, for support.*
sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_agent_corpora import jail_for, reader_request
from corpora import add_corpus_arguments
from corpus_files import CorpusFiles, ensure_files
from profile_journal_reader import follower, raw

from journalban.agent.journalreader import finder
from journalban.sources.journalwire import Frame, Request
from journalban.sources.journalworker import Follower


def corpus(data: Path, name: str, lines: int, copy: Path | None) -> CorpusFiles:
    """The corpus's files: the benchmark's cache, or the copy of it in ``copy`` (taken
    from the cache when missing; never written again, so that no run of this process
    spends instructions on writing the corpus)."""
    if copy is None:
        return ensure_files(data, name, lines)
    copied = copy / name
    if not (copied / "corpus.json").exists():
        files = ensure_files(data, name, lines)
        shutil.copytree(files.journal, copied / "journal")
        shutil.copy(data / "corpus.json", copied / "corpus.json")
    meta = json.loads((copied / "corpus.json").read_text())
    return CorpusFiles(name, copied / "corpus.log", copied / "journal", **meta)


def catch_up(request: Request, digests: list[str]) -> int:
    """The entries the child's catch-up hands out (its frames hashed into ``digests``)."""
    assert request.matcher is not None
    sink = os.open(os.devnull, os.O_RDWR)
    reader = Follower(request, sink, sink, finder(request.matcher))
    hashed = hashlib.sha256()
    handed = 0

    def send(frame: Frame) -> None:
        nonlocal handed
        handed += len(frame.lines)
        hashed.update(repr(dataclasses.astuple(frame)).encode())

    reader.send = send  # type: ignore[method-assign]
    reader.seek_start()
    reader.catch_up()
    reader.drain()
    reader.reader.close()
    os.close(sink)
    digests.append(hashed.hexdigest()[:16])
    return handed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("corpus")
    parser.add_argument("--reads", type=int, default=1)
    parser.add_argument("--copy", type=Path, default=None)
    parser.add_argument("--catch-up", action="store_true")
    add_corpus_arguments(parser)
    args = parser.parse_args()
    files = corpus(args.data / args.corpus / str(args.lines), args.corpus, args.lines, args.copy)
    with tempfile.TemporaryDirectory() as work:
        request = dataclasses.replace(
            reader_request(files, jail_for(args.corpus), Path(work)), since_usec=0
        )
        digests: list[str] = []
        handed = 0
        for _ in range(args.reads):
            if args.catch_up:
                handed = catch_up(request, digests)
            else:
                handed = follower(request, True, digests)
        entries = raw(request) if args.reads else 0
    print(f"{args.corpus}: jail entries {entries}, handed out {handed}, digest {digests}")


if __name__ == "__main__":
    main()
