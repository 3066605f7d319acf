"""The state commits' CPU per row: capture an agent's commits, replay them into a fresh store.

    .venv/bin/python tests/benchmarks/bench_commit.py capture sshd-flood [--lines 300000]
    .venv/bin/python tests/benchmarks/bench_commit.py replay sshd-flood [--rounds 3]
        [--commits 27] [--no-digest] [--busy]

``capture`` runs decide_corpus.py's in-process agent on the corpus with
``StateStore.commit`` wrapped: it prints the commit thread's CPU seconds
(``time.thread_time`` around each call: the --commit-time of issue 19) and
the state hash, counts the rows the commits wrote (bans, history, detector
rows by detector) and pickles the batches of every commit (into --work).
``replay`` commits those batches into a fresh state file and prints the
commits' CPU per round and the hash of the state the replay left (the tables
decide_corpus.py hashes, positions aside from their text): an A/B of the
commit code alone, on the same rows. ``--commits N``: the same batches in
about N commits (the real agent on sshd-flood from a file: 27 commits of
about 2,200 bans; the in-process agent makes 7). As in the agent, the
networks' texts are made before (addresses.network_text remembers them) and
the WAL is checkpointed beside the commits, not in them (state.checkpoint).
``--no-digest``: no hash (for instruction counts under cachegrind, less a
``--rounds 0`` run). ``--busy``: a thread runs Python beside the commits (the
agent deciding while it commits) and the commits' wall time is printed.
"""

from __future__ import annotations

import argparse
import collections
import gc
import logging
import pickle
import shutil
import sys
import tempfile
import threading
import time
from collections.abc import Sequence
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from ipaddress import IPv4Network, IPv6Network

import decide_corpus
from corpora import CORPORA

from journalban.addresses import network_text, stored_network
from journalban.cli.run import GC_MIDDLE_THRESHOLD, GC_YOUNG_THRESHOLD
from journalban.events import Ban
from journalban.state.checkpoint import detach
from journalban.state.files import DRY_RUN_STATE_FILE
from journalban.state.store import BatchCommit, StateStore

WORK = Path("/var/tmp/journalban-bench/commit")
# The agent checkpoints once a second (state.checkpoint), beside the commits: about every
# 7 commits of sshd-flood from a file. Here after that many, outside the commits' time.
CHECKPOINT_EVERY = 7


def capture(name: str, lines: int, work: Path) -> None:
    log = decide_corpus.cached_log(name, lines, work)
    base = log.parent
    groups: list[bytes] = []
    spent = [0.0]
    original = StateStore.commit

    def commit(self: StateStore, batches: Sequence[BatchCommit]) -> None:
        groups.append(pickle.dumps(list(batches), protocol=pickle.HIGHEST_PROTOCOL))
        started = time.thread_time()
        try:
            original(self, batches)
        finally:
            spent[0] += time.thread_time() - started

    StateStore.commit = commit  # type: ignore[method-assign]
    run = Path(tempfile.mkdtemp(dir=base, prefix="run-"))
    try:
        cpu = decide_corpus.run_agent(name, log, run)
    finally:
        StateStore.commit = original  # type: ignore[method-assign]
    rows = decide_corpus.state_rows(run / "state")
    shutil.rmtree(run)
    print(f"{name} {lines}: agent CPU {cpu:.2f} s, commit thread CPU {spent[0]:.3f} s "
          f"({len(groups)} commits), state {decide_corpus.state_digest(rows, log)[:16]}")  # fmt: skip
    (base / "commits.pickle").write_bytes(pickle.dumps(groups))
    counts: collections.Counter[str] = collections.Counter()
    for group in groups:
        for b in pickle.loads(group):  # noqa: S301  (this script's own file)
            counts["bans"] += len(b.bans)
            counts["unbans"] += len(b.unbans)
            counts["history"] += len(b.history)
            changed = [(d, v) for d, keyed in b.detector_changes.items() for v in keyed.values()]
            for detector, value in [(d, v) for d, _, v in b.detector_rows] + changed:
                counts[f"{detector} {'deleted' if value is None else 'written'}"] += 1
    print("rows:", dict(sorted(counts.items())))


def replay(
    name: str, lines: int, work: Path, rounds: int, commits: int, digest_state: bool = True,
    busy: bool = False,
) -> None:  # fmt: skip
    base = work / f"{name}-{lines}"
    saved = pickle.loads((base / "commits.pickle").read_bytes())  # noqa: S301  (this script's own)
    groups = [pickle.loads(g) for g in saved]  # noqa: S301
    if commits:
        groups = regroup(groups, commits)
    for group in groups:
        for b in group:
            for ban in (*b.bans, *(ban for ban, _ in b.history), *b.unbans):
                as_agent(ban)
    gc.set_threshold(GC_YOUNG_THRESHOLD, GC_MIDDLE_THRESHOLD)  # as the agent runs (cli/run.py)
    for n in range(rounds):
        with tempfile.TemporaryDirectory(dir=base) as tmp:
            state = Path(tmp)
            store = StateStore(state / DRY_RUN_STATE_FILE)
            detach(store.db)  # as the agent: its checkpoints run in a thread of their own
            spent = wall = 0.0
            spinning = _spin() if busy else None
            for n_group, group in enumerate(groups, 1):
                started, at = time.thread_time(), time.monotonic()
                store.commit(group)
                spent += time.thread_time() - started
                wall += time.monotonic() - at
                if n_group % CHECKPOINT_EVERY == 0:
                    store.db.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()
            if spinning is not None:
                spinning.set()
                print(f"{name} replay {n + 1}: commits wall {wall:.3f} s beside a busy thread")
            store.close()
            if not digest_state:
                print(f"{name} replay {n + 1}: commits CPU {spent:.3f} s", flush=True)
                continue
            rows = decide_corpus.state_rows(state)
            rows["positions"] = [r[:1] for r in rows["positions"]]
            digest = decide_corpus.state_digest(rows, base / "corpus.log")[:16]
            print(f"{name} replay {n + 1}: commits CPU {spent:.3f} s, "
                  f"flood cache {store.flood_cache}, state {digest}", flush=True)  # fmt: skip


def as_agent(ban: Ban) -> None:
    """``ban``'s network as the agent holds it (a pickle makes a plain ipaddress network,
    whose hash ipaddress computes in Python at each lookup), its text remembered."""
    if type(ban.network) in (IPv4Network, IPv6Network):
        object.__setattr__(ban, "network", stored_network(str(ban.network)))
    network_text(ban.network)


def _spin() -> threading.Event:
    """A thread running Python until the event is set (the agent deciding the next batches
    while a commit runs): the commits' thread then waits for the GIL each time it let it go."""
    stop = threading.Event()

    def spin() -> None:
        while not stop.is_set():
            sum(range(200))

    threading.Thread(target=spin, daemon=True).start()
    return stop


def regroup(groups: list[list[BatchCommit]], commits: int) -> list[list[BatchCommit]]:
    """The same batches, in order, in about ``commits`` transactions (the real agent
    commits up to five batches at a time: sshd-flood from a file, about 109 commits)."""
    batches = [b for group in groups for b in group]
    size = max(1, -(-len(batches) // commits))
    return [batches[i : i + size] for i in range(0, len(batches), size)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("what", choices=("capture", "replay"))
    parser.add_argument("corpus", choices=sorted(CORPORA))
    parser.add_argument("--lines", type=int, default=300_000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--commits", type=int, default=0, help="regroup into about N commits")
    parser.add_argument(
        "--no-digest", action="store_true", help="no state hash (instruction counts of the commits)"
    )
    parser.add_argument(
        "--busy", action="store_true", help="a busy Python thread beside the commits"
    )
    parser.add_argument("--work", type=Path, default=WORK)
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, stream=open("/dev/null", "w"))  # noqa: SIM115
    if args.what == "capture":
        capture(args.corpus, args.lines, args.work)
    else:
        replay(
            args.corpus, args.lines, args.work, args.rounds, args.commits, not args.no_digest,
            args.busy,
        )  # fmt: skip


if __name__ == "__main__":
    main()
