"""How long the journal reader child takes to build its finder, from its request.

    .venv/bin/python tests/benchmarks/time_journal_finder.py [--corpora sshd,...] [--repeat 20]

For each corpus's jail (default configuration, the request bench_agent_corpora.py's
agent sends), ``--repeat`` fresh interpreters (``python -I``, as the child runs)
each import what the child imports ahead of its request (``journalreader.warm_up``),
then time ``journalreader.finder(request.matcher)``: the regex analyses and
compilations of the jail's filter, inside a benchmark's timed window. Printed per
corpus: the median and best milliseconds (wall and the child's CPU), and the number of sre parses (and of
distinct (pattern, flags) among them) one build makes.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # tests/, for support.*
sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_agent_corpora import jail_for, reader_request
from corpora import add_corpus_arguments
from corpus_files import ensure_files

CHILD = """
import json, sys, time
from re import _parser
from journalban.agent import journalreader
journalreader.warm_up()
spec = json.loads(sys.stdin.read())
parses = []
if sys.argv[1] == "count":
    plain = _parser.parse
    def counted(pattern, flags=0, state=None):
        parses.append((pattern, flags))
        return plain(pattern, flags, state)
    _parser.parse = counted
start, cpu = time.perf_counter(), time.process_time()
journalreader.finder(spec)
took, used = time.perf_counter() - start, time.process_time() - cpu
print(json.dumps([took * 1000, used * 1000, len(parses), len(set(parses))]))
"""


def one(spec: str, mode: str) -> list[float]:
    out = subprocess.run(
        [sys.executable, "-I", "-c", CHILD, mode], input=spec,
        capture_output=True, text=True, check=True, cwd="/",
    ).stdout  # fmt: skip
    result: list[float] = json.loads(out)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_corpus_arguments(parser, "sshd,dovecot,postfix")
    parser.add_argument("--repeat", type=int, default=20)
    args = parser.parse_args()
    for name in args.corpora.split(","):
        files = ensure_files(args.data / name / str(args.lines), name, args.lines)
        with tempfile.TemporaryDirectory() as work:
            request = reader_request(files, jail_for(name), Path(work))
        spec = json.dumps(request.matcher)
        runs = [one(spec, "time") for _ in range(args.repeat)]
        wall, cpu = [r[0] for r in runs], [r[1] for r in runs]
        _, _, parses, distinct = one(spec, "count")
        print(
            f"{name:8} finder wall median {statistics.median(wall):5.1f} ms, "
            f"best {min(wall):5.1f}; CPU median {statistics.median(cpu):5.1f} ms, "
            f"best {min(cpu):5.1f}; sre parses {parses} ({distinct} distinct)",
            flush=True,
        )


if __name__ == "__main__":
    main()
