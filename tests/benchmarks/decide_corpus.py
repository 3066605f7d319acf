"""The agent's whole decisions path over a benchmark corpus, in this process, deterministic.

    .venv/bin/python tests/benchmarks/decide_corpus.py sshd-flood [--lines 300000]
        [--repeat 3] [--profile OUT.prof]

The real ``Agent`` on the corpus's jail with its default configuration (the
detectors it turns on, recidive on; maxretry 5, findtime and bantime 2 days,
as in bench_agent_corpora.py), the dry-run backend and a fake clock standing
a minute after the corpus's last line: the file is read in-process
(``dated_file_source``, as the agent does with a clock it cannot hand to a
reader child), matched, decided, committed and logged by the agent's own
code. Prints the CPU seconds of the run and a digest of everything the state
database holds at its end (bans with their accounts, history, detector rows,
failures, counters, positions): what a restart starts from, and the digest of
the same rows as state format 0 held them (``FORMAT_0``: a ``ban_accounts``
table beside the bans), which the hashes recorded before format 1 compare to. ``state_digest`` is what
tests/unit/test_decisions_corpus_fixed.py compares before and after a change.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import cProfile
import gc
import hashlib
import json
import logging
import sqlite3
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # tests/, for support.*
sys.path.insert(0, str(Path(__file__).resolve().parent))

import yaml
from corpora import CORPORA
from corpus_files import dated

from journalban.agent import chores
from journalban.agent.runtime import Agent
from journalban.cli.run import GC_MIDDLE_THRESHOLD, GC_YOUNG_THRESHOLD
from journalban.clock import FakeClock
from journalban.state.detectorlog import all_rows
from journalban.state.files import DRY_RUN_STATE_FILE

# Where every corpus ends, fixed so that the same corpus gives the same state.
ENDS_AT = 1_764_000_000.0
DAYS2 = 2 * 86_400
# What each table says was decided (sequence numbers and row ids aside), as queries.
# The state format 1 (journalban/state/schema.py) made a ban's account a column of its
# ban row: the hash of these rows changed with it, on purpose. ``DETECTOR_ROWS``: the
# detectors' rows as format 1 held them in ``detector_state`` (format 2 logs them:
# state.detectorlog reads them back), so the hash is the same.
DETECTOR_ROWS = "detector rows"
TABLES = {
    "bans": "SELECT * FROM bans",
    "history": "SELECT network, jail, banned_at, expires_at, manual FROM history",
    "detector_state": DETECTOR_ROWS,
    "counters": "SELECT * FROM counters",
    "positions": "SELECT jail, source FROM positions",
    # (format 4 packs the cleared networks, state.failurerows: as the JSON list before)
    "failure_log": "SELECT jail, newest, CASE WHEN substr(cleared, 1, 1) = char(30) THEN"
    " '[\"' || replace(substr(cleared, 2), char(31), '\", \"') || '\"]' ELSE cleared END,"
    " failures FROM failure_log",
}
# The same state as the rows format 0 held (a ``ban_accounts`` table beside the bans):
# its hash is the one recorded before format 1, when the decisions are the same.
FORMAT_0 = {
    **TABLES,
    "bans": "SELECT jail, network, banned_at, expires_at, ban_count, reason, failures,"
    " source, lines FROM bans",
    "ban_accounts": "SELECT jail, network, account FROM bans WHERE account IS NOT NULL",
}


def write_corpus(name: str, lines: int, path: Path) -> None:
    with path.open("w", encoding="utf-8") as out:
        for _, line, _failure in dated(name, lines, ENDS_AT):
            out.write(line + "\n")


def cached_log(name: str, lines: int, work: Path) -> Path:
    """Corpus ``name`` of ``lines`` lines as a log in ``work/NAME-LINES/`` (written once)."""
    base = work / f"{name}-{lines}"
    base.mkdir(parents=True, exist_ok=True)
    log = base / "corpus.log"
    if not log.exists():
        write_corpus(name, lines, log)
    return log


def jail_of(name: str) -> str:
    return CORPORA[name].filter


def config_for(name: str, log: Path, state: Path) -> dict[str, object]:
    jail = jail_of(name)
    own: dict[str, object] = {
        "maxretry": 5, "findtime": DAYS2, "bantime": DAYS2, "source": "files", "files": [str(log)],
    }  # fmt: skip
    jails: dict[str, object] = {jail: own}
    if jail != "sshd":
        own["enabled"] = True
        jails["sshd"] = {"enabled": False}
    return {
        "state_dir": str(state),
        "bus": False,
        "firewall": {"backend": "dry-run"},
        "jails": jails,
    }


def run_agent(name: str, log: Path, work: Path) -> float:
    """Run the agent on corpus ``name`` until it committed the end of ``log``; its CPU
    seconds (process time: the decisions task and the commit threads)."""
    state = work / "state"
    return run_config(config_for(name, log, state), jail_of(name), log, work, ENDS_AT + 60.0)


def run_config(config: dict[str, object], jail: str, log: Path, work: Path, now: float) -> float:
    """Run the agent with ``config`` (its state_dir in ``work``) and a clock standing at
    ``now`` until jail ``jail`` committed the end of ``log``; the CPU seconds it took."""
    state = Path(str(config["state_dir"]))
    path = work / "journalban.yaml"
    path.write_text(yaml.safe_dump(config))
    size = log.stat().st_size
    clock = FakeClock(now)
    # Lifting expired bans forgets the bans skipped while catching up (engine.expire):
    # when it runs during the stream changes what is counted after; here it never does.
    chores.EXPIRY_INTERVAL = 1e9

    async def scenario() -> float:
        agent = Agent(path, clock=clock)
        task = asyncio.create_task(agent.run())
        await agent.ready.wait()
        started = time.process_time()
        # Its own connection: the agent's shows a transaction before it is committed.
        db = sqlite3.connect(state / DRY_RUN_STATE_FILE)
        while True:
            found = db.execute(
                "SELECT position FROM positions WHERE jail = ? AND source = ?",
                (jail, f"files:{log}"),
            ).fetchone()
            if found is not None and max(m["off"] for m in json.loads(found[0])["files"]) >= size:
                break
            await asyncio.sleep(0.005)
        db.close()
        spent = time.process_time() - started
        agent.stop()
        await task
        return spent

    return asyncio.run(scenario())


def state_rows(state: Path, tables: dict[str, str] = TABLES) -> dict[str, list[list[object]]]:
    """Every table's rows (``tables``: a name and its query each), sorted."""
    db = sqlite3.connect(state / DRY_RUN_STATE_FILE)
    try:
        return {
            table: sorted(
                [list(r) for r in (all_rows(db) if query == DETECTOR_ROWS else db.execute(query))],
                key=repr,
            )
            for table, query in tables.items()
        }
    finally:
        db.close()


def state_digest(rows: dict[str, list[list[object]]], log: Path) -> str:
    """The rows' hash, wherever the log was (sources are named by its path)."""
    text = json.dumps(rows, sort_keys=True).replace(json.dumps(str(log))[1:-1], "LOG")
    return hashlib.sha256(text.encode()).hexdigest()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("corpus", choices=sorted(CORPORA))
    parser.add_argument("--lines", type=int, default=300_000)
    parser.add_argument("--repeat", type=int, default=1)
    parser.add_argument("--work", type=Path, default=Path("/var/tmp/journalban-bench/decide"))
    parser.add_argument("--profile", type=Path)
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, stream=open("/dev/null", "w"))  # noqa: SIM115
    # The collector's thresholds as `journalban run` sets them (cli.run): Python's own
    # made ten full collections, a fifth of sshd-flood's CPU, which the agent never makes.
    _, older, oldest = gc.get_threshold()
    gc.set_threshold(GC_YOUNG_THRESHOLD, max(older, GC_MIDDLE_THRESHOLD), oldest)
    log = cached_log(args.corpus, args.lines, args.work)
    base = log.parent
    for n in range(args.repeat):
        work = base / f"run-{time.monotonic_ns()}"
        work.mkdir()
        if args.profile is not None and n == 0:
            prof = cProfile.Profile()
            cpu = prof.runcall(run_agent, args.corpus, log, work)
            prof.dump_stats(args.profile)
        else:
            cpu = run_agent(args.corpus, log, work)
        rows = state_rows(work / "state")
        old = state_digest(state_rows(work / "state", FORMAT_0), log)[:16]
        reasons = collections.Counter(str(r[5]) for r in rows["bans"])
        print(f"{args.corpus} {args.lines}: CPU {cpu:.2f} s, bans {dict(reasons)}, "
              f"counters {rows['counters']}, state {state_digest(rows, log)[:16]}"
              f" (as format 0: {old})", flush=True)  # fmt: skip


if __name__ == "__main__":
    main()
