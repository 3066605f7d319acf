"""The running agent side by side with fail2ban-server, on one 1M-line sshd corpus.

    .venv/bin/python tests/benchmarks/bench_agent.py [--lines 1000000] [--data DIR]
        [--probes 200] [--only file,journal,latency] [--no-fail2ban] [--repeat 3] [--json OUT]

Runs as root (fail2ban-server only inside ``unshare -n``). In one run:

1. ``journalban run --dry-run`` with a jail on a file, and fail2ban-server
   (pyinotify backend) on the same file. Both start on an empty file and the
   corpus is then appended in one copy, so both read every line from the
   start of the file (neither reads back by findtime).
2. ``journalban run --dry-run`` with the sshd jail on journal files
   (``journal.directory``), and fail2ban-server with
   ``backend = systemd[journalpath=DIR]``. The corpus is there when they
   start; both read it back by findtime, which covers all of it. The clock
   starts when each logs that it is ready.
3. Latency, journalban only: with the agent idle, single failures (maxretry
   1) written through systemd-journal-remote with pauses; from the moment the
   entry is visible to a reader of the directory until the ban is committed
   to the state database, and until the agent logs it.

Both jails count every failure (findtime 2d over a corpus of one day,
maxretry 5, bantime 2d). journalban is done when the position it committed
is the end of the corpus, looked at each time it publishes a commit to its
state database (an inotify watch of the WAL; bench_watch.CommitWatch);
fail2ban when its CPU time stops growing (its finish is the first sample at
which its CPU time reached its final value, sampled every 10 ms;
bench_watch.cpu_standstill). A file run
appends the corpus with a kernel copy (bench_watch.append); the corpus is read
into the page cache before either tool starts (bench_watch.warm). CPU seconds are
the user+system time from /proc/PID/stat between those moments of the process
and of its children (journalban reads and matches in child processes).

Memory is taken in runs of its own (``--memory-runs``, one per tool and source),
never in a timed one: a sample reads smaps_rollup of every process of the tree
(and holds its mmap lock), work of the benchmark on the tools' cores. In a
memory run, every 20 ms for both tools: peak RSS is VmHWM, summed over the
process and its children (each child's own peak: the sum bounds the peak of
the whole, counting the pages they share once per process); peak RssAnon, Pss
and Pss_Anon are the highest sums over the tree of the samples (Pss from
/proc/PID/smaps_rollup: a page shared by n processes counts 1/n in each).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Mapping
from contextlib import ExitStack
from dataclasses import asdict, dataclass
from datetime import datetime
from pathlib import Path
from typing import Protocol

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # tests/, for support.*
sys.path.insert(0, str(Path(__file__).resolve().parent))

from agent_corpus import Corpus, ensure_corpus
from bench_bytecode import compile_package
from bench_watch import (
    MEMORY_POLL,
    CommitWatch,
    TreeCpu,
    append,
    cpu_standstill,
    wait_gone,
    warm,
)
from corpus_files import clean_up_when_stopped
from fail2ban_peer import FAIL2BAN_SERVER, Fail2banPeer
from proctree import descendants

from journalban.state.files import state_path
from support.agent import PER_ADDRESS_ONLY, AgentProcess, StateReader, last_cursor, write_config
from support.bus import PrivateBus
from support.journal import JournalWriter, sshd_fields

MAXRETRY, FINDTIME, BANTIME = 5, "2d", "2d"
# From a file, the seconds each tool is left after its ready line before the corpus is
# appended: its watch is in place and its start's tail (a thread's start, a bus
# connection) is done, then its CPU is read and its clock starts. The same for both.
SETTLE = 1.0
TICK = os.sysconf("SC_CLK_TCK")
BANNED = "SELECT 1 FROM bans WHERE network IN (?, ?)"


class CorpusLike(Protocol):
    """What the runs read of a corpus (agent_corpus.Corpus, corpus_files.CorpusFiles)."""

    @property
    def log(self) -> Path: ...
    @property
    def journal(self) -> Path: ...
    @property
    def lines(self) -> int: ...


@dataclass
class Run:
    """One agent reading the corpus once."""

    agent: str
    source: str
    lines: int
    wall: float
    cpu: float
    cpu_total: float
    peak_rss_mb: float
    peak_anon_mb: float
    failed: int
    banned: int
    load: str
    peak_pss_mb: float = 0.0  # Pss summed over the process tree, highest sample
    peak_pss_anon_mb: float = 0.0  # its anonymous part (Pss_Anon)
    readers_cpu: float = 0.0  # of ``cpu``: the reader children's (and their helpers')
    own_cpu: float = 0.0  # the benchmark process's own CPU inside the window (its copy, its looks)
    looks: int = 0  # its looks inside the window: position reads, or CPU samples
    # A memory run: memory sampled while it ran; its time is not a timed run's (the
    # samples are the benchmark's work on the same cores). A timed run samples none.
    memory: bool = False
    # From a file: the seconds of the kernel copy of the corpus before ``wall`` starts.
    # Neither tool is told of the corpus before the copy ends (it is one call, one inotify
    # event at its end), so ``wall`` runs from the corpus in place, as from the journal;
    # ``wall + copy`` is the wall of the rule before 2026-12-06 (the clock started before
    # the copy, for both tools).
    copy: float = 0.0

    @property
    def rate(self) -> float:
        return self.lines / self.wall


class ProcessWatch:
    """CPU time and memory of one process and its children (reader processes), from /proc."""

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self.peak_anon_kb = 0
        self.child_hwm_kb: dict[int, int] = {}  # each child's VmHWM, last seen
        # Proportional set size summed over the tree at each sample, highest seen: a page
        # shared by n processes counts 1/n in each (the interpreter and libraries mapped
        # by the agent and its children, a forked helper's copy-on-write pages count once).
        self.peak_pss_kb = 0
        self.peak_pss_anon_kb = 0

    def children(self) -> list[int]:
        """Every live descendant: reader children and the helpers they fork."""
        return descendants(self.pid)

    @staticmethod
    def _stat(pid: int) -> list[str]:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()

    def cpu(self, descendants_only: bool = False) -> float:
        """User+system time of the process and its live descendants, each with its reaped
        children's (a reader child reaps the helpers it forks); ``descendants_only``:
        theirs alone."""
        return self._seconds([*([] if descendants_only else [self.pid]), *self.children()])

    def _seconds(self, pids: list[int]) -> float:
        ticks = 0
        for pid in pids:
            try:
                fields = self._stat(pid)
            except FileNotFoundError:
                continue
            ticks += sum(int(fields[i]) for i in (11, 12, 13, 14))  # utime stime cutime cstime
        return ticks / TICK

    def tree_cpu(self, refresh: int = 10) -> TreeCpu:
        """``cpu`` for a sampler called every few ms (bench_watch.TreeCpu); close it after."""
        return TreeCpu(self.pid, self.children, refresh)

    @staticmethod
    def _status_kb(pid: int, name: str) -> int:
        try:
            with open(f"/proc/{pid}/status") as f:
                for line in f:
                    if line.startswith(name + ":"):
                        return int(line.split()[1])
        except FileNotFoundError:
            pass
        return 0

    def status_kb(self, name: str) -> int:
        """``name`` (VmHWM, RssAnon) of the process plus that of its children.

        For VmHWM, each child's peak as last seen: the sum bounds the peak of the whole.
        """
        total = self._status_kb(self.pid, name)
        for child in self.children():
            value = self._status_kb(child, name)
            if name == "VmHWM":
                self.child_hwm_kb[child] = max(value, self.child_hwm_kb.get(child, 0))
            else:
                total += value
        if name == "VmHWM":
            total += sum(self.child_hwm_kb.values())
        return total

    @staticmethod
    def _rollup_kb(pid: int) -> tuple[int, int]:
        """(Pss, Pss_Anon) of one process from /proc/PID/smaps_rollup; (0, 0) once it is gone."""
        pss = pss_anon = 0
        try:
            with open(f"/proc/{pid}/smaps_rollup") as f:
                for line in f:
                    if line.startswith("Pss:"):
                        pss = int(line.split()[1])
                    elif line.startswith("Pss_Anon:"):
                        pss_anon = int(line.split()[1])
        except (FileNotFoundError, ProcessLookupError):
            pass
        return pss, pss_anon

    def pss_kb(self) -> tuple[int, int]:
        """(Pss, Pss_Anon) summed over the process and its live descendants, now."""
        pss = pss_anon = 0
        for pid in [self.pid, *self.children()]:
            one, anon = self._rollup_kb(pid)
            pss += one
            pss_anon += anon
        return pss, pss_anon

    def sample(self) -> None:
        self.peak_anon_kb = max(self.peak_anon_kb, self.status_kb("RssAnon"))
        self.status_kb("VmHWM")
        pss, pss_anon = self.pss_kb()
        self.peak_pss_kb = max(self.peak_pss_kb, pss)
        self.peak_pss_anon_kb = max(self.peak_pss_anon_kb, pss_anon)


def load_average() -> str:
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


def wait_for(check: Callable[[], bool], timeout: float, what: str, every: float = 0.005) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise TimeoutError(what)
        time.sleep(every)


class AgentExited(RuntimeError):
    """The agent's process ended before the run did: the run has no result to wait for."""


def still_running(agent: AgentProcess) -> bool:
    """True while the agent's process runs; raises ``AgentExited`` (with its log's tail)
    once it has ended, so that a run whose agent died fails at once instead of waiting
    for commits that will never come."""
    code = agent.proc.poll()
    if code is None:
        return True
    tail = "\n".join(agent.log.splitlines()[-20:])
    raise AgentExited(f"journalban exited with {code} during the run; its log ends:\n{tail}")


def logged_at(log: str, text: str) -> float:
    """Wall time of the first log line containing ``text`` ("2026-11-21 13:58:42,356 ...")."""
    for line in log.splitlines():
        if text in line:
            return datetime.strptime(line[:23], "%Y-%m-%d %H:%M:%S,%f").timestamp()
    raise ValueError(f"{text!r} not logged")


def file_offset(position: str | None, path: Path) -> int:
    if position is None:
        return -1
    marks = json.loads(position)["files"]
    return max((m["off"] for m in marks if m["path"] == str(path)), default=-1)


class Positions(Protocol):
    """Where an agent's jails stand (support.agent.StateReader, bench_watch.CommitWatch)."""

    def position(self, jail: str) -> str | None: ...


def journalban_run(
    work: Path, corpus: CorpusLike, source: str, jails: Mapping[str, object], jail: str,
    done: Callable[[Positions], bool], before: Callable[[], object] = lambda: None,
    memory: bool = False, *, bus: str | None = None,
) -> Run:  # fmt: skip
    """Start the agent, start the clock when it is ready (a file jail: once ``before`` has
    appended the corpus, its time in ``Run.copy``), stop it when ``done``: looked at
    each time the agent publishes a commit (bench_watch.CommitWatch). ``memory``:
    a memory run, the tree's memory sampled every ``MEMORY_POLL`` s meanwhile.
    ``bus``: the address of the bus its D-Bus API serves on, as an installed agent's
    does by default (its bans as ``Banned``/``BannedMany`` signals); None: ``--no-bus``."""
    state = work / "state"
    extra: dict[str, object] = {"firewall": {"backend": "dry-run"}, "jails": jails}
    if bus is not None:
        extra["bus"] = True
    journal_dir = corpus.journal if source == "journal" else None
    cfg = write_config(work / "journalban.yaml", state, journal_dir=journal_dir, **extra)
    warm([corpus.log if source == "file" else corpus.journal])
    agent = AgentProcess(cfg, bus_address=bus)
    watch = ProcessWatch(agent.proc.pid)
    reader = StateReader(state)
    tree: list[int] = []
    try:
        wait_for(
            lambda: still_running(agent) and "running:" in agent.log, 60, "journalban did not start"
        )
        own0 = time.process_time()  # journal: from the ready line seen (up to 5 ms after it)
        cpu0, readers0 = watch.cpu(), watch.cpu(descendants_only=True)
        started = logged_at(agent.log, "running:")
        with CommitWatch(state, state_path(state, dry_run=True)) as commits:
            copy = 0.0
            if source == "file":  # the clock starts once the corpus is in place (Run.copy)
                # The first look now, not in the window: it opens the watch's connection and
                # moves its inotify watch to the WAL, and closing the first watch sleeps
                # uninterruptibly in the kernel (fsnotify's grace period, 85-137 ms on this
                # machine) during which no commit of the agent's would be seen.
                done(commits)
                time.sleep(SETTLE)
                cpu0, readers0 = watch.cpu(), watch.cpu(descendants_only=True)
                copied = time.time()
                before()  # a file jail: the corpus is appended now
                started = time.time()
                own0 = time.process_time()
                copy = started - copied
            sampled = float("-inf")
            while not done(commits) and still_running(agent):
                if memory and time.monotonic() - sampled >= MEMORY_POLL:
                    watch.sample()
                    sampled = time.monotonic()
                commits.wait(MEMORY_POLL if memory else 1.0)
            finished = time.time()
            own = time.process_time() - own0
        cpu1, readers1 = watch.cpu(), watch.cpu(descendants_only=True)
        tree = [agent.proc.pid, *watch.children()]
        hwm = 0
        if memory:
            hwm = watch.status_kb("VmHWM")
            watch.sample()
        rows = reader._query(
            f"SELECT total_failed, total_banned FROM counters WHERE jail = '{jail}'"  # noqa: S608
        )
    finally:
        agent.stop()
        wait_gone(tree)  # nothing of it runs beside the next measurement
    failed, banned = (int(str(rows[0][0])), int(str(rows[0][1]))) if rows else (0, 0)
    return Run("journalban", source, corpus.lines, finished - started, cpu1 - cpu0, cpu1,
               hwm / 1024, watch.peak_anon_kb / 1024, failed, banned, load_average(),
               watch.peak_pss_kb / 1024, watch.peak_pss_anon_kb / 1024,
               readers1 - readers0, own, commits.looks, memory, copy)  # fmt: skip


def journalban_file(
    work: Path, corpus: Corpus, memory: bool = False, *, bus: str | None = None
) -> Run:
    log = work / "log" / "auth.log"
    log.parent.mkdir(parents=True)
    log.touch()
    jails = {
        "sshd": {"enabled": False},
        "ssh-file": {
            "filter": "sshd", "source": "files", "files": [str(log)],
            "maxretry": MAXRETRY, "findtime": FINDTIME, "bantime": BANTIME,
        },
    }  # fmt: skip
    size = corpus.log.stat().st_size
    return journalban_run(
        work, corpus, "file", jails, "ssh-file",
        lambda r: file_offset(r.position("ssh-file"), log) >= size,
        lambda: append(corpus.log, log), memory, bus=bus,
    )  # fmt: skip


def journalban_journal(
    work: Path, corpus: Corpus, memory: bool = False, *, bus: str | None = None
) -> Run:
    end = last_cursor(corpus.journal)
    jails = {
        "sshd": {
            "maxretry": MAXRETRY, "findtime": FINDTIME, "bantime": BANTIME, **PER_ADDRESS_ONLY,
        }
    }  # fmt: skip
    return journalban_run(
        work, corpus, "journal", jails, "sshd", lambda r: r.position("sshd") == end,
        memory=memory, bus=bus,
    )  # fmt: skip


def fail2ban_run(work: Path, corpus: Corpus, source: str, memory: bool = False) -> Run:
    """fail2ban-server on the corpus, timed from its jail start until its CPU time stops."""
    log = work / "auth.log"
    warm([corpus.log if source == "file" else corpus.journal])
    if source == "file":
        log.touch()
        peer = Fail2banPeer(work, logpath=log, maxretry=MAXRETRY, findtime=FINDTIME,
                            bantime=BANTIME)  # fmt: skip
    else:
        peer = Fail2banPeer(work, journal_dir=corpus.journal, maxretry=MAXRETRY,
                            findtime=FINDTIME, bantime=BANTIME)  # fmt: skip
    return fail2ban_timed(peer, corpus, source, log, memory)


def fail2ban_timed(
    peer: Fail2banPeer, corpus: CorpusLike, source: str, log: Path, memory: bool
) -> Run:
    """Time a started fail2ban-server: from its jail start (journal) or from the corpus
    appended to ``log`` (file: the copy's time in ``Run.copy``) until its CPU time stops
    (``cpu_standstill``, memory sampled beside in a ``memory`` run); then stop it."""
    watch = ProcessWatch(peer.proc.pid)
    started_text = f"Jail '{peer.jail}' started"
    tree: list[int] = []
    try:
        wait_for(lambda: started_text in peer.log, 60, "fail2ban did not start", 0.01)
        copy = 0.0
        if source == "file":  # the clock starts once the corpus is in place (Run.copy)
            time.sleep(SETTLE)
            cpu0 = watch.cpu()
            copied = time.time()
            append(corpus.log, log)
            started = time.time()
            own0 = time.process_time()
            copy = started - copied
        else:
            own0 = time.process_time()  # from the ready line seen (up to 10 ms after it)
            cpu0 = watch.cpu()
            started = logged_at(peer.log, started_text)
        with watch.tree_cpu() as tree_cpu:
            end = cpu_standstill(tree_cpu, sample=watch.sample if memory else None)
        finished, cpu1 = end.finished, end.final
        hwm = watch.status_kb("VmHWM") if memory else 0
        tree = [peer.proc.pid, *watch.children()]
        status = peer.status()
    finally:
        peer.stop()
        wait_gone(tree)
    return Run("fail2ban-server", source, corpus.lines, finished - started, cpu1 - cpu0, cpu1,
               hwm / 1024, watch.peak_anon_kb / 1024, status.get("Total failed", -1),
               status.get("Total banned", -1), load_average(), watch.peak_pss_kb / 1024,
               watch.peak_pss_anon_kb / 1024, 0.0, end.own_at_finish - own0, end.samples,
               memory, copy)  # fmt: skip


@dataclass
class Latency:
    probes: int
    visible_to_commit_ms: list[float]
    visible_to_log_ms: list[float]
    load: str


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(p * len(ordered)) - 1))]


def latency(work: Path, probes: int) -> Latency:
    """Idle agent, maxretry 1: entry visible to a reader -> ban committed / logged."""
    from systemd import journal

    jdir = work / "journal"
    state = work / "state"
    cfg = write_config(work / "journalban.yaml", state, journal_dir=jdir,
                       firewall={"backend": "dry-run"},
                       jails={"sshd": {"maxretry": 1, "findtime": "10m", "bantime": "10m"}})  # fmt: skip
    commit_ms: list[float] = []
    visible_wall: dict[str, float] = {}
    with JournalWriter(jdir) as writer:
        writer.write([sshd_fields("Server listening on 0.0.0.0 port 22.")])
        writer.wait_visible(1)
        agent = AgentProcess(cfg)
        follower = journal.Reader(path=str(jdir))
        follower.seek_tail()
        follower.get_previous()
        try:
            wait_for(lambda: "running:" in agent.log, 60, "journalban did not start")
            db_path = state_path(state, dry_run=True)  # the dry-run backend keeps its own
            wait_for(db_path.exists, 10, "no state database")
            db = sqlite3.connect(f"file:{db_path}?mode=ro", uri=True)
            time.sleep(0.5)
            for i in range(probes):
                addr = f"203.0.{113 + i // 200}.{1 + i % 200}"
                writer.write([sshd_fields(f"Failed password for root from {addr} port {i} ssh2")])
                visible = banned = 0.0
                deadline = time.perf_counter() + 10
                while not banned:
                    if time.perf_counter() > deadline:
                        raise TimeoutError(f"no ban of {addr}:\n{agent.log[-2000:]}")
                    now = time.perf_counter()
                    if not visible:
                        follower.process()
                        if follower._next():
                            visible = now
                            visible_wall[addr] = time.time()
                    elif db.execute(BANNED, (addr, f"{addr}/32")).fetchone():
                        banned = now
                    time.sleep(0.0002)
                commit_ms.append((banned - visible) * 1000)
                time.sleep(0.05)  # idle again
            db.close()
            wait_for(lambda: f"Ban {addr} in jail" in agent.log, 10, "last ban not logged")
        finally:
            follower.close()
            agent.stop()
    log_ms = [
        (logged_at(agent.log, f"Ban {a} in jail") - t) * 1000 for a, t in visible_wall.items()
    ]
    return Latency(probes, commit_ms, log_ms, load_average())


def machine() -> str:
    model = next(
        (line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
         if line.startswith("model name")), "unknown CPU",
    )  # fmt: skip
    return f"{platform.node()}: {model}, {os.cpu_count()} cores, Linux {platform.release()}"


def code_version() -> str:
    """The commit measured, and whether the work tree differs from it."""
    root = Path(__file__).resolve().parents[2]
    git = ["git", "-C", str(root)]
    head = subprocess.run([*git, "rev-parse", "--short", "HEAD"], capture_output=True, text=True)
    dirty = subprocess.run([*git, "status", "--porcelain", "journalban"], capture_output=True,
                           text=True).stdout.strip()  # fmt: skip
    return head.stdout.strip() + (" (journalban/ modified in the work tree)" if dirty else "")


def median_run(runs: list[Run]) -> Run | None:
    """The timed run of median throughput (the machine is shared: single runs are noisy);
    memory runs are left out. Of an even number, the slower of the two middle runs: of
    two, the slower (the upper middle was the faster, a best of two set against the
    peer's single run)."""
    timed = sorted((r for r in runs if not r.memory), key=lambda r: r.rate)
    return timed[(len(timed) - 1) // 2] if timed else None


def report(runs: list[Run], lat: Latency | None) -> None:
    print("| agent | run | source | lines | wall | lines/s | CPU s | lines per CPU s "
          "| peak RSS (VmHWM) | peak RssAnon | peak Pss / Pss_Anon | failed | banned "
          "| load |")  # fmt: skip
    print("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|")
    for r in runs:
        kind = "memory" if r.memory else "timed"
        print(f"| {r.agent} | {kind} | {r.source} | {r.lines:,} | {r.wall:.2f} s | {r.rate:,.0f} "
              f"| {r.cpu:.2f} (total {r.cpu_total:.2f}) | {r.lines / r.cpu:,.0f} "
              f"| {r.peak_rss_mb:.0f} MB | {r.peak_anon_mb:.0f} MB "
              f"| {r.peak_pss_mb:.0f} / {r.peak_pss_anon_mb:.0f} MB | {r.failed:,} | {r.banned:,} "
              f"| {r.load} |")  # fmt: skip
    for source, floor in (("file", 20), ("journal", 25)):
        ours = median_run([r for r in runs if r.source == source and r.agent == "journalban"])
        peer = median_run([r for r in runs if r.source == source and r.agent != "journalban"])
        if ours and peer:
            ratio = ours.rate / peer.rate
            cpu_ratio = (ours.lines / ours.cpu) / (peer.lines / peer.cpu)
            print(f"{source} (median runs): {ratio:.1f}x fail2ban-server's lines/s (floor {floor}x: "
                  f"{'holds' if ratio >= floor else 'MISSED'}), {cpu_ratio:.1f}x per CPU second")  # fmt: skip
    if lat is not None:
        c, g = lat.visible_to_commit_ms, lat.visible_to_log_ms
        print(f"latency over {lat.probes} probes (load {lat.load}): visible -> committed "
              f"p50 {statistics.median(c):.1f} ms, p99 {percentile(c, 0.99):.1f} ms, "
              f"max {max(c):.1f} ms; visible -> logged p50 {statistics.median(g):.1f} ms, "
              f"p99 {percentile(g, 0.99):.1f} ms, max {max(g):.1f} ms (log stamps are whole ms)")  # fmt: skip


def main() -> None:
    clean_up_when_stopped()  # killed: the agents stopped, the temporary directory removed
    compile_package()  # byte code as an installed package has it (bench_bytecode)
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lines", type=int, default=1_000_000)
    parser.add_argument("--data", type=Path, default=Path("/var/tmp/journalban-bench/agent"))
    parser.add_argument("--probes", type=int, default=200)
    parser.add_argument("--only", default="file,journal,latency")
    parser.add_argument("--no-fail2ban", action="store_true")
    parser.add_argument("--repeat", type=int, default=3, help="runs of journalban per source")
    parser.add_argument("--memory-runs", type=int, default=1,
                        help="memory runs of each tool per source (timed runs sample no memory)")  # fmt: skip
    parser.add_argument("--json", type=Path)
    parser.add_argument("--no-bus", action="store_true",
                        help="journalban without its D-Bus API (the rule before 2026-12-06)")  # fmt: skip
    args = parser.parse_args()
    parts = set(args.only.split(","))
    if not args.no_fail2ban and not os.path.exists(FAIL2BAN_SERVER):
        sys.exit("fail2ban-server is missing: apt-get install fail2ban (see shared RECIPES: Peers)")
    print(machine(), "| load before:", load_average(), "| code:", code_version(),
          "| journalban's D-Bus API:", "off" if args.no_bus else "on", flush=True)  # fmt: skip
    corpus = ensure_corpus(args.data / str(args.lines), args.lines)
    print(f"corpus: {corpus.lines:,} lines, file {corpus.log.stat().st_size / 2**20:.0f} MB, "
          f"journal {corpus.journal_bytes / 2**20:.0f} MB in {corpus.journal_files} files", flush=True)  # fmt: skip
    runs: list[Run] = []
    lat = None
    with tempfile.TemporaryDirectory(prefix="bench-agent-") as tmp, ExitStack() as stack:
        # journalban serves its D-Bus API as installed (Banned/BannedMany signals), on a
        # private bus whose dbus-daemon is in neither tool's process tree.
        bus = None if args.no_bus else stack.enter_context(PrivateBus(polkit=False)).address
        steps: list[tuple[str, Callable[[Path], Run]]] = []
        for source in ("file", "journal"):
            if source not in parts:
                continue
            ours = journalban_file if source == "file" else journalban_journal
            for n in range(args.repeat):
                steps.append((f"journalban-{source}-{n}",
                              lambda w, f=ours: f(w, corpus, bus=bus)))  # type: ignore[misc]  # fmt: skip
            for n in range(args.memory_runs):
                steps.append((f"journalban-{source}-memory-{n}",
                              lambda w, f=ours: f(w, corpus, True, bus=bus)))  # type: ignore[misc]  # fmt: skip
            if not args.no_fail2ban:
                steps.append((f"fail2ban-{source}",
                              lambda w, s=source: fail2ban_run(w, corpus, s)))  # type: ignore[misc]  # fmt: skip
                for n in range(args.memory_runs):
                    steps.append((f"fail2ban-{source}-memory-{n}",
                                  lambda w, s=source: fail2ban_run(w, corpus, s, True)))  # type: ignore[misc]  # fmt: skip
        for name, step in steps:
            work = Path(tmp) / name
            work.mkdir()
            runs.append(step(work))
            print(name, asdict(runs[-1]), flush=True)
        if "latency" in parts:
            work = Path(tmp) / "latency"
            work.mkdir()
            lat = latency(work, args.probes)
    report(runs, lat)
    if args.json:
        args.json.write_text(json.dumps({"machine": machine(), "runs": [asdict(r) for r in runs],
                                         "latency": asdict(lat) if lat else None}, indent=1))  # fmt: skip


if __name__ == "__main__":
    main()
