"""Where the agent's wall time goes beside its CPU: a per-process timeline of one run.

    .venv/bin/python tests/benchmarks/timeline_agent.py CORPUS file|journal [--runs N]
        [--bin 10] [--lanes]

Runs ``bench_agent_corpora``'s own runner (``journalban_file`` or
``journalban_journal``: the same clock, started and stopped as the benchmark
does: for a file from the end of the corpus's copy; the agent serving its D-Bus
API on a private bus, as the benchmark's does, unless ``--no-bus``; a timed
run, no memory samples unless ``--memory-samples``) under
``perf sched record`` (system-wide scheduler events on the monotonic clock, with kernel call chains), then tells for every process and
thread of the agent's tree (the agent, its commit thread, the reader child and
the helper it forks, and the bus's dbus-daemon, which routes the agent's signals on
the same cores) how its time between the benchmark's start and stop was
spent: running, runnable but without a core, or asleep and on what (a full
pipe or socket it writes to, input it waits for, a lock or the GIL, a child).
Two figures sum it up: the cores left idle (2 x wall - every process's CPU on
the machine) and the tail (from the last reader's end to the benchmark's stop).

``--lanes`` prints one row per time bin (``--bin`` ms): what each task did in
it (R running, w runnable without a core, p blocked writing a full pipe or
socket, i waiting for input, l a lock/the GIL, . anything else asleep).

Needs root and ``perf`` (linux-perf); a measuring tool, not a test.
"""

from __future__ import annotations

import argparse
import collections
import contextlib
import os
import re
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # tests/, for support.*
sys.path.insert(0, str(Path(__file__).resolve().parent))

import bench_agent
import bench_agent_corpora as corpora_bench
from bench_agent import logged_at
from corpus_files import ensure_files

from support.bus import PrivateBus

DATA = Path("/var/tmp/journalban-bench/corpora")
# The kernel function a sleeping task's call chain passes through, first found wins.
WHY = (
    ("pipe_write", "p"),
    ("unix_stream_sendmsg", "p"),
    ("sock_alloc_send_pskb", "p"),
    ("pipe_read", "i"),
    ("unix_stream_read_generic", "i"),
    ("ep_poll", "i"),
    ("do_epoll_wait", "i"),
    ("do_select", "i"),
    ("do_sys_poll", "i"),
    ("inotify_read", "i"),
    ("futex_wait", "l"),
    ("do_wait", "c"),
    ("hrtimer_nanosleep", "t"),
)
NAMES = {"R": "running", "w": "runnable, no core", "p": "blocked writing (pipe/socket full)",
         "i": "waiting for input", "l": "lock / GIL (futex)", "c": "waiting for a child",
         "t": "sleep", ".": "other sleep", "D": "disk / uninterruptible"}  # fmt: skip
SWITCH = re.compile(
    r"prev_comm=(.*?) prev_pid=(\d+) prev_prio=\d+ prev_state=(\S+) ==> "
    r"next_comm=(.*?) next_pid=(\d+)"
)
FORK = re.compile(r"comm=.*? pid=(\d+) child_comm=(.*?) child_pid=(\d+)")
UNKNOWN: collections.Counter[str] = collections.Counter()  # call chains of "other sleep"
HEAD = re.compile(r"^\s*(.+?)\s+(\d+)/(\d+)\s+\[(\d+)\]\s+([\d.]+):\s+(\S+):\s*(.*)$")


@dataclass
class Task:
    tid: int
    comm: str
    parent: int
    state: str = "?"  # R, w or a sleep reason
    since: float = 0.0
    spans: list[tuple[float, float, str]] = field(default_factory=list)
    exited: float | None = None
    blocked: list[tuple[float, float, str]] = field(default_factory=list)  # D: where

    def enter(self, at: float, state: str) -> None:
        if self.state != "?":
            state_now, _, why = self.state.partition("|")
            self.spans.append((self.since, at, state_now))
            if why:
                self.blocked.append((self.since, at, why))
        self.state, self.since = state, at


def sleep_reason(chain: list[str], state: str) -> str:
    if state.startswith("D"):
        return "D|" + " < ".join(f.split()[-1] for f in chain[2:7])
    for fn, why in WHY:
        if any(fn in frame for frame in chain):
            return why
    UNKNOWN[" < ".join(f.split()[-1] for f in chain[2:6])] += 1
    return "."


def parse(
    script: str, root: int, bench: int, daemon: int | None = None
) -> tuple[dict[int, Task], list[tuple[float, float]]]:
    """Tasks of ``root``'s tree with their state spans (and the benchmark's own main
    thread, ``bench``, and the bus daemon, ``daemon``); and the machine's busy spans."""
    tasks: dict[int, Task] = {root: Task(root, "agent", 0), bench: Task(bench, "benchmark", 0)}
    if daemon is not None:
        tasks[daemon] = Task(daemon, "dbus-daemon", -1)
    busy: dict[int, float] = {}  # cpu -> since when a non-idle task runs on it
    busy_spans: list[tuple[float, float]] = []
    lines = script.splitlines()
    i = 0
    while i < len(lines):
        found = HEAD.match(lines[i])
        i += 1
        chain: list[str] = []
        while i < len(lines) and lines[i].startswith(("\t", " ")) and not HEAD.match(lines[i]):
            chain.append(lines[i].strip())
            i += 1
        if found is None:
            continue
        cpu, at, event, rest = int(found[4]), float(found[5]), found[6], found[7]
        if event == "sched:sched_process_fork":
            fork = FORK.search(rest)
            pid = int(found[3])
            parent = tasks.get(pid)  # the agent's tree, not the benchmark's own children
            if fork and (pid == root or (parent is not None and parent.parent != 0)):
                child = int(fork[3])
                tasks[child] = Task(child, fork[2], int(found[3]), "w", at)
        elif event == "sched:sched_process_exit":
            task = tasks.get(int(found[3]))
            if task is not None:
                task.exited = at
        elif event in ("sched:sched_waking", "sched:sched_wakeup", "sched:sched_wakeup_new"):
            woken = re.search(r" pid=(\d+)", rest)
            task = tasks.get(int(woken[1])) if woken else None
            if task is not None and task.state[0] not in ("R", "w"):
                task.enter(at, "w")
        elif event == "sched:sched_switch":
            sw = SWITCH.search(rest)
            if sw is None:
                continue
            prev, prev_state, nxt = int(sw[2]), sw[3], int(sw[5])
            if prev != 0 and cpu in busy:
                busy_spans.append((busy.pop(cpu), at))
            if nxt != 0:
                busy[cpu] = at
            task = tasks.get(prev)
            if task is not None:
                task.comm = sw[1]
                task.enter(
                    at, "w" if prev_state.startswith("R") else sleep_reason(chain, prev_state)
                )
            task = tasks.get(nxt)
            if task is not None:
                task.comm = sw[4]
                task.enter(at, "R")
    return tasks, busy_spans


def overlap(spans: list[tuple[float, float, str]], lo: float, hi: float) -> dict[str, float]:
    out: dict[str, float] = {}
    for a, b, s in spans:
        a, b = max(a, lo), min(b, hi)
        if b > a:
            out[s] = out.get(s, 0.0) + b - a
    return out


def role(task: Task, tasks: dict[int, Task], root: int) -> str:
    if task.tid == root:
        return "agent"
    if task.parent == 0:
        return "benchmark"  # its polls of the state and samples of memory
    if task.parent == -1:
        return "bus daemon"  # the agent's signals routed (no tool's tree holds it)
    parent = tasks.get(task.parent)
    if task.parent == root:
        return "agent thread" if task.comm.startswith(("asyncio", "journalban")) else "reader child"
    if parent is not None and role(parent, tasks, root) == "reader child":
        return "helper" if task.comm == parent.comm else "child thread"
    return "other"


def report(tasks: dict[int, Task], busy: list[tuple[float, float]], root: int,
           start: float, stop: float, bin_ms: float, lanes: bool) -> None:  # fmt: skip
    wall = stop - start
    machine_cpu = sum(max(0.0, min(b, stop) - max(a, start)) for a, b in busy)
    live = [t for t in tasks.values() if overlap(t.spans, start, stop).get("R", 0) > 0]
    tree_cpu = sum(
        overlap(t.spans, start, stop).get("R", 0) for t in live if t.parent > 0 or t.tid == root
    )
    daemon_cpu = sum(overlap(t.spans, start, stop).get("R", 0) for t in live if t.parent == -1)
    print(f"wall {wall * 1e3:.0f} ms; tree CPU {tree_cpu * 1e3:.0f} ms, machine CPU "
          f"{machine_cpu * 1e3:.0f} ms (others {1e3 * (machine_cpu - tree_cpu):.0f}, the bus "
          f"daemon {1e3 * daemon_cpu:.0f} of them); "
          f"cores idle {1e3 * (2 * wall - machine_cpu):.0f} core-ms")  # fmt: skip
    readers_end = 0.0
    for task in sorted(live, key=lambda t: t.tid):
        name = role(task, tasks, root)
        shares = overlap(task.spans, start, stop)
        ran = [a for a, b, s in task.spans if s == "R" and b > start and a < stop]
        last = max((min(b, stop) for a, b, s in task.spans if s == "R" and b > start), default=0)
        if name in ("reader child", "helper"):
            readers_end = max(readers_end, last)
        if name == "benchmark":
            first = "-"  # (it runs throughout)
        first = f"{1e3 * (min(ran) - start):+.0f}" if ran else "-"
        parts = ", ".join(f"{NAMES[s]} {1e3 * v:.0f}" for s, v in sorted(shares.items(),
                          key=lambda kv: -kv[1]) if v >= 0.0005)  # fmt: skip
        print(f"  {name:13} {task.comm[:15]:15} [{task.tid}] first run {first} ms, last "
              f"{1e3 * (last - start):.0f} ms: {parts} (ms)")  # fmt: skip
    tree_end = max(
        (min(b, stop) for t in live if t.parent > 0 or t.tid == root
         for a, b, s in t.spans if s == "R" and a < stop),
        default=start,
    )  # fmt: skip
    bench = [t for t in live if t.parent == 0 and t.tid != root]
    bench_cpu = sum(overlap(t.spans, start, stop).get("R", 0) for t in bench)
    print(f"  the tree last ran at {1e3 * (tree_end - start):.0f} ms: the benchmark saw the end "
          f"{1e3 * (stop - tree_end):.0f} ms later; its own CPU in the run {1e3 * bench_cpu:.0f} ms")  # fmt: skip
    agent = tasks[root]
    if readers_end:
        tail = overlap(agent.spans, readers_end, stop)
        print(f"  tail: last reader ran until {1e3 * (readers_end - start):.0f} ms, stop at "
              f"{1e3 * wall:.0f} ms ({1e3 * (stop - readers_end):.0f} ms); agent in it: "
              + ", ".join(f"{NAMES[s]} {1e3 * v:.0f}" for s, v in tail.items() if v >= 0.0005))  # fmt: skip
    if UNKNOWN:
        print(
            "  other sleeps, most seen:", "; ".join(f"{k} x{n}" for k, n in UNKNOWN.most_common(4))
        )
    for task in sorted(live, key=lambda t: t.tid):
        where: dict[str, float] = {}
        long = []
        for a, b, why in task.blocked:
            a, b = max(a, start), min(b, stop)
            if b > a:
                where[why] = where.get(why, 0.0) + b - a
                if b - a > 0.002:
                    long.append(f"{1e3 * (a - start):.0f}+{1e3 * (b - a):.0f}")
        for why, secs in sorted(where.items(), key=lambda kv: -kv[1])[:3]:
            print(
                f"  {role(task, tasks, root)} [{task.tid}] uninterruptible {1e3 * secs:.0f} ms in {why}"
            )
        if long:
            print(f"    blocked over 2 ms at (ms from start + length): {', '.join(long)}")
    if lanes:
        order = sorted(live, key=lambda t: t.tid)
        print("  ms    " + " ".join(f"{role(t, tasks, root)[:8]:>8}" for t in order))
        step = bin_ms / 1e3
        at = start
        while at < stop:
            cells = []
            for t in order:
                shares = overlap(t.spans, at, at + step)
                cells.append("".join(s * round(8 * v / step) for s, v in sorted(
                    shares.items(), key=lambda kv: "Rwpilc.tD".find(kv[0])))[:8].ljust(8))  # fmt: skip
            print(f"  {1e3 * (at - start):5.0f} " + " ".join(cells))
            at += step


def run_once(
    name: str, source: str, bin_ms: float, lanes: bool, sample: bool, bus: PrivateBus | None
) -> None:
    files = ensure_files(DATA / name / "300000", name, 300000)
    jail = corpora_bench.jail_for(name)
    end = corpora_bench.last_matching_cursor(files, jail) if source == "journal" else None
    seen: dict[str, object] = {}
    original = getattr(bench_agent, "AgentProcess")  # noqa: B009 (replaced for the run)
    original_append = getattr(corpora_bench, "append")  # noqa: B009

    class Watched(original):  # type: ignore[misc,valid-type]
        def __init__(self, *args: object, **kwargs: object) -> None:
            super().__init__(*args, **kwargs)
            seen["agent"] = self

    def append(corpus_log: Path, log: Path) -> None:
        original_append(corpus_log, log)
        seen["append"] = time.time()  # the benchmark's clock starts once the copy is done

    with tempfile.TemporaryDirectory(prefix="timeline-") as tmp:
        data = Path(tmp) / "sched.data"
        perf = subprocess.Popen(
            ["perf", "sched", "record", "-k", "CLOCK_MONOTONIC", "-g", "-o", str(data)],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        time.sleep(0.5)  # perf's events are on
        setattr(bench_agent, "AgentProcess", Watched)  # noqa: B010 (its runner starts it)
        setattr(corpora_bench, "append", append)  # noqa: B010
        try:
            work = Path(tmp) / "work"
            work.mkdir()
            address = None if bus is None else bus.address
            if source == "journal":
                run = corpora_bench.journalban_journal(
                    work, files, jail, str(end), sample, bus=address
                )
            else:
                run = corpora_bench.journalban_file(work, files, jail, sample, bus=address)
        finally:
            setattr(bench_agent, "AgentProcess", original)  # noqa: B010
            setattr(corpora_bench, "append", original_append)  # noqa: B010
            time.sleep(0.2)
            perf.send_signal(signal.SIGINT)
            perf.wait()
        offset = time.time() - time.monotonic()
        agent = seen["agent"]
        started = seen["append"] if source == "file" else logged_at(agent.log, "running:")  # type: ignore[attr-defined]
        assert isinstance(started, float)
        start = started - offset
        stop = start + run.wall
        script = subprocess.run(
            ["perf", "script", "-i", str(data), "-F", "comm,pid,tid,cpu,time,event,trace,ip,sym"],
            capture_output=True, text=True, check=True,
        ).stdout  # fmt: skip
    print(f"{name} {source}: wall {run.wall:.3f} s, CPU {run.cpu:.2f} s (readers "
          f"{run.readers_cpu:.2f}), failed {run.failed:,}, banned {run.banned:,}, load {run.load}")  # fmt: skip
    daemon = None if bus is None else bus.daemon_pid
    tasks, busy = parse(script, agent.proc.pid, os.getpid(), daemon)  # type: ignore[attr-defined]
    report(tasks, busy, agent.proc.pid, start, stop, bin_ms, lanes)  # type: ignore[attr-defined]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("corpus")
    parser.add_argument("source", choices=("file", "journal"))
    parser.add_argument("--runs", type=int, default=1)
    parser.add_argument("--bin", type=float, default=10.0, help="ms per row of --lanes")
    parser.add_argument("--lanes", action="store_true")
    parser.add_argument(
        "--memory-samples", action="store_true",
        help="a memory run: the benchmark samples the tree's memory meanwhile (to see what "
        "the samples cost; the benchmark's timed runs take none)",
    )  # fmt: skip
    parser.add_argument("--no-bus", action="store_true",
                        help="the agent without its D-Bus API (the benchmark's --no-bus)")  # fmt: skip
    args = parser.parse_args()
    if os.geteuid() != 0:
        sys.exit("needs root (perf sched record, the agent's nftables-free dry run as root)")
    with contextlib.ExitStack() as stack:
        bus = None if args.no_bus else stack.enter_context(PrivateBus(polkit=False))
        for _ in range(args.runs):
            run_once(args.corpus, args.source, args.bin, args.lanes, args.memory_samples, bus)


if __name__ == "__main__":
    main()
