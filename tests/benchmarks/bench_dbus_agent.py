"""The real agent answering D-Bus while 1M journal entries stream in.

    .venv/bin/python tests/benchmarks/bench_dbus_agent.py [--lines 1000000]
        [--data /var/tmp/jb-bench-dbus] [--idle-rounds 3] [--pause 0.5] [--json OUT]

Runs as root. A private system bus with polkitd (tests/support/bus.py), and
``journalban run --dry-run`` on it with the sshd jail on a journal directory
(maxretry 5, findtime 3d, bantime 3d: every failure of the corpus counts).
The corpus is gen_sshd_corpus's 1M lines, re-dated to the last day, as
journal export records (agent_corpus.py's fields), written once to a cached
file. A second systemd-journal-remote then writes that file into the
directory as fast as it can while the agent follows it.

From this process (a separate client, dbus-fast, one connection as root,
every call authorised by polkitd), rounds of 100 concurrent calls are fired
before the stream (idle) and for as long as it lasts (load), ``--pause``
seconds apart. Per 10 calls: 2 GetStatus, 1 ListBans(""), 2 QueryBan,
Properties.Get of the sshd jail's TotalFailed and CurrentlyBanned,
Properties.GetAll of the jail, and one Ban followed by its Unban (the pair
is sequential; the other 90 calls are in flight together). Every call must
be answered without error within the D-Bus default timeout (25 s).

Reports p50/p99/max per round and overall, per method, and progress: how
much of the export file journal-remote had read (from /proc/PID/fdinfo) and
how many failures the agent had counted (TotalFailed, against its final
value once the stream is fully read). Then, at the end (dbus_stages.py):

- ``floors``: per phase (idle, load, after) the worst per-method p99 of the
  reads (GetStatus, QueryBan, Get/GetAll of the jail, the page of 100) against
  50 ms, Ban's and Unban's p99 against 150 ms, calls answered, MET or NOT MET;
- ``stages``: where each class of call spent its time, p50/p99 per stage, from
  the agent's own timestamps (it runs with ``JOURNALBAN_CALL_TRACE``,
  journalban/agent/calltrace.py): to the agent, polkit, caller uid, waiting
  for the decisions task, commit, announcing, back to the client;
- the agent's pauses per phase (collections, its loop late to a 10 ms timer
  and how much of that was its own CPU, its commits) and the CPU seconds of
  the agent and of its reader children from the stream's start to the end.

The trace is kept in ``--data``/calls.jsonl, the agent's log in agent.log.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import ipaddress
import json
import os
import platform
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from dbus_fast import Message, MessageType, Variant
from dbus_fast.aio import MessageBus

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # tests/, for support.*
sys.path.insert(0, str(Path(__file__).resolve().parent))

from agent_corpus import SPAN, dated_lines, journal_fields
from bench_dbus import DEST, call
from dbus_stages import floors, pauses_by_phase, read_traces, report, stages

from journalban.events import Ban
from journalban.state.files import state_path
from journalban.state.store import BatchCommit, StateStore
from support.agent import AgentProcess, write_config
from support.bus import PrivateBus
from support.journal import JOURNAL_REMOTE, JournalWriter, export_record, sshd_fields

MANAGER = ("/org/jailban", "org.jailban.Manager1")
JAIL_PATH = "/org/jailban/jail/sshd"
PROPS = "org.freedesktop.DBus.Properties"
CONCURRENT = 100
CALL_TIMEOUT = 25.0
FIRST_SEQ = 1000  # after the JournalWriter's first entry: sd-journal orders one boot by it


# --pages: a page of 100 bans (GetBans) in place of every ban at once (ListBans).
PAGES = False
# --settle: seconds between the agent's start and the idle rounds.
SETTLE = 0.0
# This client's own collections over 20 ms: (seconds since the stream began, generation, ms).
CLIENT_GC: list[tuple[float, int, float]] = []


def read_call(i: int) -> tuple[str, Message]:
    """The i-th read of a group of 8: (label, message)."""
    listing = (
        ("GetBans page", call(*MANAGER, "GetBans", "suu", ["", 0, 100]))
        if PAGES
        else ("ListBans", call(*MANAGER, "ListBans", "s", [""]))
    )
    calls: list[tuple[str, Message]] = [
        ("GetStatus", call(*MANAGER, "GetStatus")),
        ("GetStatus", call(*MANAGER, "GetStatus")),
        listing,
        ("QueryBan", call(*MANAGER, "QueryBan", "s", ["198.51.100.7"])),
        ("QueryBan", call(*MANAGER, "QueryBan", "s", ["2001:db8::/32"])),
        ("Get TotalFailed", call(JAIL_PATH, PROPS, "Get", "ss", ["org.jailban.Jail1", "TotalFailed"])),
        ("Get CurrentlyBanned", call(JAIL_PATH, PROPS, "Get", "ss", ["org.jailban.Jail1", "CurrentlyBanned"])),
        ("GetAll jail", call(JAIL_PATH, PROPS, "GetAll", "s", ["org.jailban.Jail1"])),
    ]  # fmt: skip
    return calls[i % len(calls)]


@dataclass
class Timing:
    label: str
    seconds: float
    error: str = ""
    value: Any = None
    serial: int = 0  # the call's serial on the client's connection, to find the agent's trace
    sent: float = 0.0  # time.monotonic() when the call was sent (the agent's clock too)


async def timed(bus: MessageBus, label: str, msg: Message) -> Timing:
    sent = time.monotonic()
    start = time.perf_counter()
    try:
        reply = await asyncio.wait_for(bus.call(msg), CALL_TIMEOUT)
    except TimeoutError:
        return Timing(label, time.perf_counter() - start, "timeout", serial=msg.serial, sent=sent)
    elapsed = time.perf_counter() - start
    if reply is None or reply.message_type == MessageType.ERROR:
        name = reply.error_name if reply is not None else "no reply"
        return Timing(label, elapsed, f"{name}: {reply.body if reply else ''}",
                      serial=msg.serial, sent=sent)  # fmt: skip
    value = reply.body[0] if reply.body else None
    value = value.value if isinstance(value, Variant) else value
    return Timing(label, elapsed, value=value, serial=msg.serial, sent=sent)


async def ban_unban(bus: MessageBus, address: str) -> list[Timing]:
    empty: dict[str, Variant] = {}
    ban = call(*MANAGER, "Ban", "ssta{sv}", ["sshd", address, 3_600_000_000, empty])
    first = await timed(bus, "Ban", ban)
    second = await timed(bus, "Unban", call(*MANAGER, "Unban", "ss", [address, "sshd"]))
    return [first, second]


async def one_round(bus: MessageBus, number: int) -> list[Timing]:
    """100 calls: 90 reads in flight together, and 5 Ban-then-Unban pairs."""
    # What the earlier rounds left (their timings, kept to the end) is put out of this
    # client's collections: a full one walked it all, and held a whole round's replies
    # 150-380 ms at about 22 s into the stream in every run, which the traces took for
    # a delay between the agent's socket and the client.
    gc.freeze()
    reads = [timed(bus, *read_call(i)) for i in range(CONCURRENT - 10)]
    pairs = [ban_unban(bus, f"198.18.{number % 250}.{k + 1}") for k in range(5)]
    singles = asyncio.gather(*reads)
    doubles = asyncio.gather(*pairs)
    out: list[Timing] = list(await singles)
    for pair in await doubles:
        out.extend(pair)
    return out


@dataclass
class Round:
    phase: str
    started: float  # seconds since the stream began (negative: idle, before it)
    feed_fraction: float  # of the export file read by journal-remote when the round began
    total_failed: int  # the largest TotalFailed a Get in the round returned
    banned: int  # the largest CurrentlyBanned
    p50_ms: float
    p99_ms: float
    max_ms: float
    errors: list[str] = field(default_factory=list)


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q * len(ordered)) - 1))]


def feed_fraction(feeder: subprocess.Popen[bytes], size: int) -> float:
    """How much of its input file journal-remote has read, from its file position."""
    path = feeder.args[-1]  # type: ignore[index]
    if feeder.poll() is not None:
        return 1.0
    fd_dir = Path(f"/proc/{feeder.pid}/fd")
    try:
        for fd in fd_dir.iterdir():
            if os.readlink(fd) == str(path):
                info = (Path(f"/proc/{feeder.pid}/fdinfo") / fd.name).read_text()
                pos = int(info.split("pos:")[1].split()[0])
                return pos / size
    except (OSError, IndexError, ValueError):
        pass
    return 0.0


def summarise(phase: str, started: float, fraction: float, timings: list[Timing]) -> Round:
    ms = [t.seconds * 1000 for t in timings]
    failed = [t.value for t in timings if t.label == "Get TotalFailed" and t.value is not None]
    banned = [t.value for t in timings if t.label == "Get CurrentlyBanned" and t.value is not None]
    return Round(
        phase, started, fraction, max(failed, default=0), max(banned, default=0),
        percentile(ms, 0.5), percentile(ms, 0.99), max(ms),
        [f"{t.label}: {t.error}" for t in timings if t.error],
    )  # fmt: skip


async def run_rounds(
    address: str,
    idle_rounds: int,
    pause: float,
    start_feed: Callable[[], subprocess.Popen[bytes]],
    export_size: int,
    on_idle: Callable[[str], None] = lambda _: None,
) -> tuple[list[Round], dict[str, list[Timing]], float, str]:
    """Idle rounds, rounds for as long as the feed runs, rounds once the agent caught up.

    Returns the rounds, the timings of each phase, the feed's wall time and
    the client's unique bus name.
    """
    bus = await MessageBus(bus_address=address).connect()
    client = bus.unique_name or ""
    began = time.monotonic()
    collecting = [0.0]

    def client_gc(phase: str, info: dict[str, int]) -> None:
        # A collection here delays every reply it meets: the client's own pause, not the agent's.
        if phase == "start":
            collecting[0] = time.monotonic()
        elif (pause := time.monotonic() - collecting[0]) > 0.02:
            CLIENT_GC.append((collecting[0] - began, info["generation"], pause * 1000))

    gc.callbacks.append(client_gc)
    idle: list[Timing] = []
    load: list[Timing] = []
    settled: list[Timing] = []
    rounds: list[Round] = []
    try:
        await asyncio.sleep(SETTLE)  # the agent's start-up work (restore records) done
        on_idle("idle start")
        for n in range(idle_rounds):
            timings = await one_round(bus, n)
            idle += timings
            rounds.append(summarise("idle", -1.0, 0.0, timings))
            await asyncio.sleep(pause)
        on_idle("idle end")
        feeder = start_feed()
        began = time.monotonic()
        n = idle_rounds
        while feeder.poll() is None:
            at = time.monotonic() - began
            fraction = feed_fraction(feeder, export_size)
            timings = await one_round(bus, n)
            load += timings
            rounds.append(summarise("load", at, fraction, timings))
            print(_round_line(rounds[-1]), flush=True)
            n += 1
            await asyncio.sleep(pause)
        feed_wall = time.monotonic() - began
        await _wait_for_settled(bus)
        for _ in range(idle_rounds):
            # The stream is over: what is left is the cost of the bans it made.
            timings = await one_round(bus, n)
            settled += timings
            rounds.append(summarise("after", time.monotonic() - began, 1.0, timings))
            print(_round_line(rounds[-1]), flush=True)
            n += 1
            await asyncio.sleep(pause)
        final = await timed(bus, "Get TotalFailed", read_call(5)[1])
        rounds.append(summarise("final", time.monotonic() - began, 1.0, [final]))
    finally:
        gc.callbacks.remove(client_gc)
        bus.disconnect()
    return rounds, {"idle": idle, "load": load, "after": settled}, feed_wall, client


async def _wait_for_settled(bus: MessageBus, quiet: float = 3.0, limit: float = 600.0) -> None:
    """Until the agent's TotalFailed stands still for ``quiet`` seconds."""
    last, since, deadline = -1, time.monotonic(), time.monotonic() + limit
    while time.monotonic() < deadline:
        value = (await timed(bus, "Get TotalFailed", read_call(5)[1])).value
        if value != last:
            last, since = value, time.monotonic()
        elif time.monotonic() - since >= quiet:
            return
        await asyncio.sleep(0.5)


def _round_line(r: Round) -> str:
    return (
        f"{r.phase:5} t={r.started:6.1f}s feed {r.feed_fraction:6.1%} "
        f"TotalFailed {r.total_failed:>7} bans {r.banned:>6} p50 {r.p50_ms:7.1f} p99 {r.p99_ms:7.1f} "
        f"max {r.max_ms:7.1f} ms errors {len(r.errors)}"
    )


def ensure_export(data: Path, lines: int) -> tuple[Path, float]:
    """The corpus as one export file (cached while it is recent); (path, corpus start)."""
    meta_path = data / "export.json"
    path = data / "corpus.export"
    if meta_path.exists() and path.exists():
        meta = json.loads(meta_path.read_text())
        if meta["lines"] == lines and time.time() - meta["ends_at"] < 6 * 3600:
            return path, meta["ends_at"] - SPAN
    data.mkdir(parents=True, exist_ok=True)
    ends_at = time.time() - 60
    with path.open("wb") as out:
        buf = bytearray()
        for seq, (when, line) in enumerate(dated_lines(lines, ends_at), FIRST_SEQ):
            fields = journal_fields(line, when)
            usec = int(fields.pop("__REALTIME_TIMESTAMP"))
            buf += export_record(fields, usec, seq)
            if len(buf) > 1 << 20:
                out.write(buf)
                buf.clear()
        out.write(buf)
    meta_path.write_text(json.dumps({"lines": lines, "ends_at": ends_at}))
    return path, ends_at - SPAN


def seed_bans(state: Path, count: int) -> None:
    """``count`` active bans of the sshd jail in the dry-run state, as a busy host keeps."""
    state.mkdir(parents=True, exist_ok=True)
    now = time.time()
    bans = [
        Ban("sshd", ipaddress.ip_network(f"45.{i >> 16}.{(i >> 8) & 255}.{i & 255}/32"),
            now - 60, now + 3 * 86400, reason="failures", failures=5, source="journal")
        for i in range(1, count + 1)
    ]  # fmt: skip
    store = StateStore(state_path(state, dry_run=True))
    try:
        store.commit([BatchCommit(jail="sshd", bans=bans, banned_delta=count)])
    finally:
        store.close()


def describe(rounds: list[Round], phases: dict[str, list[Timing]]) -> dict[str, Any]:
    def stats(timings: list[Timing]) -> dict[str, Any]:
        ms = [t.seconds * 1000 for t in timings]
        return {
            "calls": len(ms),
            "errors": sum(1 for t in timings if t.error),
            "p50_ms": round(percentile(ms, 0.5), 1),
            "p99_ms": round(percentile(ms, 0.99), 1),
            "max_ms": round(max(ms), 1),
        }

    def by_method(timings: list[Timing]) -> dict[str, Any]:
        labels = sorted({t.label for t in timings})
        return {k: stats([t for t in timings if t.label == k]) for k in labels}

    return {
        **{phase: stats(timings) for phase, timings in phases.items()},
        **{f"{phase}_by_method": by_method(t) for phase, t in phases.items() if t},
        "final_total_failed": rounds[-1].total_failed,
    }


def cpu_seconds(pid: int) -> dict[str, float]:
    """CPU seconds (user + system) of ``pid`` and of its live children (the reader processes)."""
    tick = os.sysconf("SC_CLK_TCK")

    def of(stat: str) -> float:
        fields = stat.rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / tick  # utime, stime

    out = {"agent": of(Path(f"/proc/{pid}/stat").read_text()), "readers": 0.0}
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            stat = (proc / "stat").read_text()
        except OSError:
            continue
        if int(stat.rsplit(")", 1)[1].split()[1]) == pid:  # ppid
            out["readers"] += of(stat)
    return out


def _reaped_cpu() -> float:
    """CPU seconds of this process's children reaped so far."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _cpu_model() -> str:
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return platform.machine()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--lines", type=int, default=1_000_000)
    parser.add_argument("--data", type=Path, default=Path("/var/tmp/jb-bench-dbus"))
    parser.add_argument("--idle-rounds", type=int, default=3)
    parser.add_argument("--pause", type=float, default=0.5)
    parser.add_argument("--json", type=Path)
    parser.add_argument(
        "--seed-bans", type=int, default=0, help="active bans in the state before the agent starts"
    )
    parser.add_argument(
        "--pages", action="store_true", help="read a page of 100 bans (GetBans) instead of ListBans"
    )
    parser.add_argument(
        "--settle",
        type=float,
        default=0.0,
        help="seconds to wait after the agent's start before the idle rounds (after it restored"
        " --seed-bans, it writes one record per ban, a slice at a time, for a few seconds)",
    )
    parser.add_argument(
        "--profile",
        type=Path,
        help="py-spy record the agent during the stream, into this SVG (.txt: collapsed stacks)",
    )
    args = parser.parse_args()
    global PAGES, SETTLE
    PAGES = args.pages
    SETTLE = args.settle
    t0 = time.monotonic()
    export, corpus_start = ensure_export(args.data, args.lines)
    size = export.stat().st_size
    print(
        f"export file {export} ({export.stat().st_size >> 20} MiB) in {time.monotonic() - t0:.0f}s"
    )
    tmp = Path(tempfile.mkdtemp(prefix="jb-bench-dbus-"))
    jdir, state = tmp / "journal", tmp / "state"
    jail = {"maxretry": 5, "findtime": "3d", "bantime": "3d"}
    cfg = write_config(tmp / "journalban.yaml", state, journal_dir=jdir, bus=True,
                       firewall={"backend": "dry-run"}, jails={"sshd": jail})  # fmt: skip
    feeders: list[subprocess.Popen[bytes]] = []
    trace_path = tmp / "calls.jsonl"
    os.environ["JOURNALBAN_CALL_TRACE"] = str(trace_path)  # the agent's stages of each call

    profilers: list[subprocess.Popen[bytes]] = []

    cpu: dict[str, dict[str, float]] = {}

    def on_idle(mark: str) -> None:
        cpu[mark] = cpu_seconds(agent.proc.pid)

    def start_feed() -> subprocess.Popen[bytes]:
        cpu["stream start"] = cpu_seconds(agent.proc.pid)
        cpu["stream start"]["journal-remote"] = _reaped_cpu()
        argv = [JOURNAL_REMOTE, "-o", str(jdir / "stream.journal"), str(export)]
        feeders.append(subprocess.Popen(argv, stderr=subprocess.DEVNULL))
        if args.profile is not None:
            spy = [
                str(Path(sys.executable).parent / "py-spy"),
                "record",
                "-o",
                str(args.profile),
                "--pid",
                str(agent.proc.pid),
                "--duration",
                "60",
                "--rate",
                "50",
                # profile.txt: collapsed stacks (one line per stack), for reading as text
                *(["--format", "raw"] if args.profile.suffix == ".txt" else []),
            ]
            profilers.append(subprocess.Popen(spy, stdout=subprocess.DEVNULL))
        return feeders[-1]

    try:
        with PrivateBus() as bus, JournalWriter(jdir) as writer:
            # Before the corpus in both clocks, and within findtime.
            first = sshd_fields("Server listening on :: port 22.")
            first["__REALTIME_TIMESTAMP"] = int((corpus_start - 60) * 1e6)
            writer.write([first])
            writer.wait_visible(1)
            if args.seed_bans:
                seed_bans(state, args.seed_bans)
            agent = AgentProcess(cfg, bus_address=bus.address)
            try:
                agent.wait_for_log("running:", timeout=600)
                if not bus.wait_for_name(DEST, timeout=20):
                    raise RuntimeError(f"the agent did not take {DEST}:\n{agent.log}")
                rounds, phases, feed_wall, client = asyncio.run(
                    run_rounds(bus.address, args.idle_rounds, args.pause, start_feed, size, on_idle)
                )
                cpu["end"] = cpu_seconds(agent.proc.pid)
                # the feeder is the one child reaped meanwhile: the load generator's own CPU
                cpu["end"]["journal-remote"] = _reaped_cpu()
            finally:
                for profiler in profilers:
                    profiler.wait(120)
                for feeder in feeders:
                    if feeder.poll() is None:
                        feeder.kill()
                    feeder.wait()
                agent.stop()
                shutil.copy(agent.log_path, args.data / "agent.log")
                shutil.copy(bus.log_path, args.data / "bus.log")
        traces, pauses = read_traces(trace_path, client)
        if trace_path.exists():
            shutil.copy(trace_path, args.data / "calls.jsonl")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    summary = describe(rounds, phases)
    summary["floors"] = floors(phases)
    summary["stages"] = stages(phases, traces)
    summary["pauses"] = pauses_by_phase(phases, pauses)
    final = summary["final_total_failed"] or 1
    summary.update(
        date=datetime.now().strftime("%Y-%m-%d"),
        machine=f"{_cpu_model()}, {os.cpu_count()} cores, "
        f"{platform.platform()}, Python {platform.python_version()}",
        loadavg=Path("/proc/loadavg").read_text().split()[:3],
        lines=args.lines,
        seed_bans=args.seed_bans,
        settle_s=args.settle,
        pages=args.pages,
        feed_wall_s=round(feed_wall, 1),
        # CPU seconds from the stream's start to the end of the after rounds
        cpu_s={k: round(cpu["end"][k] - cpu["stream start"][k], 2) for k in cpu["end"]},
        # the agent's CPU per call while idle (rounds and the pauses between them): the cost
        # of a call that a shared machine's load does not distort as it does wall time
        idle_agent_cpu_ms_per_call=round(
            (cpu["idle end"]["agent"] - cpu["idle start"]["agent"])
            * 1000
            / max(1, len(phases["idle"])),
            3,
        ),
        client_gc=[[round(t, 2), g, round(ms, 1)] for t, g, ms in CLIENT_GC],
        rounds=[asdict(r) for r in rounds],
    )
    for r in rounds:
        if r.phase in ("load", "after"):
            print(f"{_round_line(r)}  agent at {r.total_failed / final:6.1%} of failures")
    print(json.dumps({k: v for k, v in summary.items() if k != "rounds"}, indent=1))
    print("\n".join(report(summary["floors"], summary["stages"], summary["pauses"])))
    print(f"CPU seconds from the stream's start to the end: {summary['cpu_s']}, feed "
          f"{summary['feed_wall_s']} s, load average {' '.join(summary['loadavg'])}")  # fmt: skip
    print(f"agent CPU per call idle: {summary['idle_agent_cpu_ms_per_call']} ms")
    print("the client's own collections over 20 ms (s since the stream began, generation, ms):",
          [(round(t, 1), g, round(ms, 1)) for t, g, ms in CLIENT_GC])  # fmt: skip
    if args.json:
        args.json.write_text(json.dumps(summary, indent=1))


if __name__ == "__main__":
    main()
