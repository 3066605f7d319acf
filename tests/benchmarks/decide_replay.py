"""The decisions stage of a ``decide_corpus.py`` run, recorded once and replayed.

    .venv/bin/python tests/benchmarks/decide_replay.py record sshd-flood OUT.pkl [--lines N]
    .venv/bin/python tests/benchmarks/decide_replay.py replay OUT.pkl [--times N]
        [--no-commit] [--events K]
    .venv/bin/python tests/benchmarks/decide_replay.py cg OUT.pkl [--no-commit] [--events K]
        [--no-hash]

``record`` runs ``decide_corpus.py``'s agent on a corpus and keeps what reached
its decisions stage: every ``DecisionEngine.process_hits`` call (the jail, the
batch part, its hits) and where each commit group ended (the agent's call of
``collect_detector_rows``). ``replay`` feeds them, in order, into a fresh
agent's engine (``Agent._install`` on the same configuration, the agent's
collector thresholds, ``gc.freeze()`` as its restore does); at each group's
end the detectors' rows are collected, the bans sealed, the group committed
(unless ``--no-commit``) and its lines forgotten. With commits, the replay
ends in the run's state: it prints ``decide_corpus``'s state hash, which must
be the run's. ``--events K``: only the first K events (a slice, faster under
valgrind). ``--no-hash``: no state hash at the end (with commits, its reading, JSON and
sorting of every row were about a fifth of a replay's instructions: ``cg`` then counts the
deciding and the commits alone).

``cg`` counts one replay's instructions: cachegrind (``--cache-sim=no``,
``PYTHONHASHSEED=0``: with a random seed the same code varies by a few percent)
over a process replaying twice minus one replaying once, so that the start,
the imports and the unpickling cancel out.
"""

from __future__ import annotations

import argparse
import dataclasses
import gc
import os
import pickle
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import decide_corpus
import yaml

from journalban.agent import deciding
from journalban.agent.restoring import keep_out_of_collections
from journalban.agent.runtime import Agent
from journalban.cli.run import GC_MIDDLE_THRESHOLD, GC_YOUNG_THRESHOLD
from journalban.clock import FakeClock
from journalban.decisions.engine import Changes, DecisionEngine
from journalban.decisions.ignore import host_interfaces
from journalban.decisions.rowbatch import collect_detector_rows
from journalban.sources.hitkeys import AddressKeys

GROUP = "group"  # an event: the commit group ends here (else: (jail, batch, hits))


def record(corpus: str, lines: int, out: Path, work: Path) -> None:
    log = decide_corpus.cached_log(corpus, lines, work)
    base = log.parent
    events: list[Any] = []
    process_hits = DecisionEngine.process_hits
    collect = collect_detector_rows  # (as deciding imported it)

    def recorded_hits(self: DecisionEngine, jail: str, batch: Any, hits: Any) -> Changes:
        hits = list(hits)
        events.append((jail, batch, hits))
        return process_hits(self, jail, batch, hits)

    def recorded_group(engine: DecisionEngine, changes: Changes) -> None:
        events.append(GROUP)
        collect(engine, changes)

    DecisionEngine.process_hits = recorded_hits  # type: ignore[method-assign]
    setattr(deciding, "collect_detector_rows", recorded_group)  # noqa: B010 (not exported)
    run = Path(tempfile.mkdtemp(dir=base))
    decide_corpus.run_agent(corpus, log, run)
    DecisionEngine.process_hits = process_hits  # type: ignore[method-assign]
    setattr(deciding, "collect_detector_rows", collect)  # noqa: B010
    rows = decide_corpus.state_rows(run / "state")
    config = decide_corpus.config_for(corpus, log, Path("STATE"))
    digest = decide_corpus.state_digest(rows, log)[:16]
    with out.open("wb") as f:
        pickle.dump({"config": config, "log": str(log), "state": digest, "events": events}, f)
    hits = sum(len(e[2]) for e in events if e != GROUP)
    print(f"{corpus}: {len(events)} events, {hits} hits, state {digest}")


def with_child_keys(data: dict[str, Any]) -> dict[str, Any]:
    """``data`` with each event's batch carrying its hits' addresses as the file reader
    child sends them (``sources.hitkeys``; made once, before any replay: ``cg`` counts
    the deciding's instructions, not the child's)."""
    child = AddressKeys(64)
    events = [
        e if e == GROUP else (e[0], dataclasses.replace(e[1], addresses=child.of(e[2])), e[2])
        for e in data["events"]
    ]
    return dict(data, events=events)


def replay(
    data: dict[str, Any], commit: bool, events: int | None, hashed: bool = True
) -> tuple[float, str]:
    """One replay into a fresh agent's engine: its thread CPU seconds, and its state hash
    (without commits or ``hashed``: the jails' counts of failures and bans)."""
    work = Path(tempfile.mkdtemp(prefix="decide-replay-"))
    config = dict(data["config"], state_dir=str(work / "state"))
    (work / "journalban.yaml").write_text(yaml.safe_dump(config))
    agent = Agent(work / "journalban.yaml", clock=FakeClock(decide_corpus.ENDS_AT + 60.0))
    agent._install(agent.config, host_interfaces())
    engine, store = agent.decisions, agent.store
    engine.load_bans()
    keep_out_of_collections()
    changes = Changes()
    started = time.thread_time()
    for event in data["events"][:events]:
        if event != GROUP:
            changes.extend(engine.process_hits(*event))
            continue
        collect_detector_rows(engine, changes)
        if changes.commits:
            engine.seal()
            if commit:
                store.commit(changes.commits)
            engine.forget_lines(changes.bans)
        changes = Changes()
    spent = time.thread_time() - started
    totals = {n: (rt.total_failed, rt.total_banned) for n, rt in engine.jails.items()}
    digest = f"(not {'committed' if not commit else 'hashed'}) failed, banned {totals}"
    if commit and hashed:
        rows = decide_corpus.state_rows(work / "state")
        digest = decide_corpus.state_digest(rows, Path(data["log"]))[:16]
    store.close()
    shutil.rmtree(work)  # (each replay's state: 796 of them were left in /tmp)
    return spent, digest


def count_instructions(pickled: Path, extra: list[str]) -> int:
    """Cachegrind's instructions of one replay: a process replaying twice minus once."""
    return instructions_of_one(
        lambda times: [__file__, "replay", str(pickled), "--times", str(times), *extra],
        "replay(s)",
    )


def instructions_of_one(args: Callable[[int], list[str]], told: str | None = None) -> int:
    """Cachegrind's instructions (``--cache-sim=no``, ``PYTHONHASHSEED=0``) of one round:
    this Python running ``args(2)`` (two rounds) minus ``args(1)``, the start-up's alike;
    each count printed on stderr as "N ``told``" when given."""
    counts = []
    for times in (1, 2):
        cmd = ["valgrind", "--tool=cachegrind", "--cache-sim=no", "--cachegrind-out-file=/dev/null",
               sys.executable, *args(times)]  # fmt: skip
        env = dict(os.environ, PYTHONHASHSEED="0")
        done = subprocess.run(cmd, env=env, capture_output=True, text=True, check=True)
        found = re.search(r"I\s+refs:\s+([\d,]+)", done.stderr)
        if found is None:
            raise SystemExit(done.stderr[-2000:])
        counts.append(int(found.group(1).replace(",", "")))
        if told is not None:
            print(f"  {times} {told}: {counts[-1]:,} instructions", file=sys.stderr)
    return counts[1] - counts[0]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    rec = sub.add_parser("record")
    rec.add_argument("corpus")
    rec.add_argument("out", type=Path)
    rec.add_argument("--lines", type=int, default=300_000)
    rec.add_argument("--work", type=Path, default=Path("/var/tmp/journalban-bench/decide"))
    for name in ("replay", "cg"):
        one = sub.add_parser(name)
        one.add_argument("pickled", type=Path)
        one.add_argument("--times", type=int, default=1)
        one.add_argument("--no-commit", action="store_true")
        one.add_argument("--events", type=int)
        one.add_argument("--child-keys", action="store_true", help="batches carry addresses")
        one.add_argument("--no-hash", action="store_true", help="no state hash at the end")
    args = parser.parse_args()
    if args.command == "record":
        record(args.corpus, args.lines, args.out, args.work)
        return
    extra = (
        (["--no-commit"] if args.no_commit else [])
        + (["--child-keys"] if args.child_keys else [])
        + (["--no-hash"] if args.no_hash else [])
        + ([] if args.events is None else ["--events", str(args.events)])
    )
    if args.command == "cg":
        print(f"one replay: {count_instructions(args.pickled, extra) / 1e6:,.0f} M instructions")
        return
    with args.pickled.open("rb") as f:
        data = pickle.load(f)  # noqa: S301 (a file this script wrote: ``record``)
    if args.child_keys:
        data = with_child_keys(data)
    _, older, oldest = gc.get_threshold()
    gc.set_threshold(GC_YOUNG_THRESHOLD, max(older, GC_MIDDLE_THRESHOLD), oldest)
    for _ in range(args.times):
        spent, digest = replay(data, not args.no_commit, args.events, not args.no_hash)
        print(f"replay: {spent:.3f} s thread CPU, state {digest} (recorded {data['state']})")


if __name__ == "__main__":
    main()
