"""The agent on its default configuration against fail2ban-server and sd-journal's own floor,
on every corpus of corpora.py, from a file and from the journal, in one run.

    .venv/bin/python tests/benchmarks/bench_agent_corpora.py [--corpora sshd,...]
        [--lines 300000] [--repeat 3] [--only file,journal] [--no-fail2ban] [--json OUT]

Runs as root (fail2ban-server only inside ``unshare -n``). Per corpus
(corpus_files.py: the corpus re-dated to the day before, as a file and as
journal files with each program's lines in its own unit):

- **file**: ``journalban run --dry-run`` with the corpus's jail on the file
  (``source: files``), then fail2ban-server (pyinotify) on it; both start on
  an empty file and the corpus is appended in one copy; both clocks start
  once the copy has ended (``Run.copy``: no tool is told of the corpus before).
- **journal**: the minimal readers first: ``sdjournal_min`` (C:
  ``sd_journal_next`` + ``sd_journal_get_data("MESSAGE")`` with the jail's
  matches, nothing else) and the same two calls through systemd-python's
  low-level ``_next``/``_get``; then ``journalban run --dry-run`` on the journal
  directory, then fail2ban-server (``backend = systemd[journalpath=DIR]``,
  journalmatch: journalban's match groups, ``Jail.fail2ban_match``).

journalban runs its **default configuration**: the packaged jail with the
detectors it turns on (sshd: slow, subnet, account, attack_mode), recidive on;
only the source, the dry-run backend and the three counting values both tools
share are set (maxretry 5, findtime 2d, bantime 2d: every failure of the day
counts in both). Its D-Bus API serves, as an installed agent's does (its bans as
``Banned``/``BannedMany`` signals), on a private bus (``--no-bus``: without it, the rule
before 2026-12-06, which spared journalban that work). fail2ban-server:
Debian's jail for the filter, mode normal, an action that runs nothing. Wall time, CPU and memory are measured as in
bench_agent.py (whose runners this uses); the memory table (``memory_table``)
puts each tool's highest Pss, Pss_Anon, VmHWM and RssAnon side by side and
judges "less memory" on Pss_Anon (docs/benchmarks.md says why).
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # tests/, for support.*
sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_agent import (
    BANTIME,
    FINDTIME,
    MAXRETRY,
    Run,
    code_version,
    fail2ban_timed,
    file_offset,
    journalban_run,
    load_average,
    machine,
    median_run,
)
from bench_bytecode import compile_package
from bench_watch import append, warm
from corpora import CORPORA, add_corpus_arguments
from corpus_files import CorpusFiles, ensure_files, postfix_uid
from fail2ban_peer import FAIL2BAN_SERVER, Fail2banPeer

from support.agent import write_config
from support.bus import PrivateBus

if TYPE_CHECKING:
    from journalban.sources.base import Source
    from journalban.sources.journalwire import Request

HERE = Path(__file__).resolve().parent
FLOOR_F2B = 30.0
FLOOR_JOURNAL = 0.8


@dataclass(frozen=True)
class Jail:
    """The jail reading a corpus: its name and its journal matches (groups ORed)."""

    name: str
    matches: tuple[tuple[str, ...], ...]

    @property
    def fail2ban_match(self) -> str:
        """The same matches in fail2ban's ``journalmatch``: a group's fields apart by spaces
        (all must hold), the groups apart by ``+`` (any), each field in the order the
        agent's reader adds it (``match_argv``; fail2ban adds them in the order given)."""
        return " ".join(match_argv(self))


def jail_for(corpus: str) -> Jail:
    spec = CORPORA[corpus]
    if spec.filter == "dovecot":
        return Jail("dovecot", (("_SYSTEMD_UNIT=dovecot.service", "_UID=0"),))
    if spec.filter == "postfix":
        uid = postfix_uid()
        return Jail(
            "postfix",
            (
                ("_SYSTEMD_UNIT=postfix@-.service", f"_UID={uid}"),
                ("_SYSTEMD_UNIT=postfix.service", f"_UID={uid}"),
            ),
        )
    return Jail(
        "sshd",
        (("_SYSTEMD_UNIT=ssh.service", "_UID=0"), ("_SYSTEMD_UNIT=sshd.service", "_UID=0")),
    )


@dataclass
class Floor:
    """One minimal reader's pass over the jail's entries."""

    reader: str
    entries: int
    seconds: float
    load: str

    @property
    def rate(self) -> float:
        return self.entries / self.seconds


def build_min_reader(out: Path) -> Path:
    binary = out / "sdjournal_min"
    subprocess.run(
        ["cc", "-O2", "-o", str(binary), str(HERE / "sdjournal_min.c"), "-lsystemd"], check=True
    )
    return binary


class _MatchRecorder:
    """Stands for a reader: the matches ``sdreader.add_groups`` adds, as the C reader's argv."""

    def __init__(self) -> None:
        self.argv: list[str] = []

    def add_disjunction(self) -> None:
        self.argv.append("+")

    def add_match(self, match: str) -> None:
        self.argv.append(match)


def add_jail_matches(reader: object, jail: Jail) -> None:
    """The jail's matches added to ``reader`` as the agent's reader adds them: the same
    groups, each field in the order ``sdreader.add_groups`` gives (sd-journal's cost per
    entry depends on that order), so the floors read as the agent reads."""
    from journalban.sources.sdreader import Reader, add_groups

    groups = [dict(match.split("=", 1) for match in group) for group in jail.matches]
    add_groups(cast(Reader, reader), groups)


def match_argv(jail: Jail) -> list[str]:
    recorder = _MatchRecorder()
    add_jail_matches(recorder, jail)
    return recorder.argv


def floor_c(binary: Path, files: CorpusFiles, jail: Jail) -> Floor:
    out = subprocess.run(
        [str(binary), str(files.journal), *match_argv(jail)],
        capture_output=True, text=True, check=True, timeout=600,
    ).stdout.split()  # fmt: skip
    return Floor("sdjournal_min (C)", int(out[0]), float(out[3]), load_average())


def raw_entries(reader: Any) -> int:
    """``_next()`` and ``_get("MESSAGE")`` from where ``reader`` stands to its end, as the
    minimal C reader does; the entries read. The Python floor here, and the raw read of
    profile_journal_reader.py, journalfile_cg.py and bench_bound.py."""
    next_entry, get = reader._next, reader._get
    entries = 0
    while next_entry():
        entries += 1
        try:  # noqa: SIM105 (suppress() would cost more than the call measured)
            get("MESSAGE")
        except KeyError:
            pass
    return entries


def floor_python(files: CorpusFiles, jail: Jail) -> Floor:
    """The same two calls per entry through systemd-python's low-level methods."""
    from systemd import journal

    reader = journal.Reader(path=str(files.journal))
    add_jail_matches(reader, jail)
    reader.seek_head()
    start = time.perf_counter()
    entries = raw_entries(reader)
    seconds = time.perf_counter() - start
    reader.close()
    return Floor("systemd-python _next/_get", entries, seconds, load_average())


def jail_source(work: Path, jail: Jail, kind: str, log: Path | None = None,
                journal_dir: Path | None = None) -> Source:  # fmt: skip
    """The source the agent builds for the corpus's jail on its default configuration:
    ``kind`` "file" (on ``log``) or "journal" (on ``journal_dir``)."""
    from journalban.agent.build import build_jails, build_sources, check_jail_actions
    from journalban.clock import SystemClock
    from journalban.config.loader import load_config
    from journalban.matching.library import FilterLibrary, filters_dir_for

    cfg_path = write_config(
        work / "reader.yaml", work / "reader-state", journal_dir=journal_dir,
        firewall={"backend": "dry-run"}, jails=jails_config(jail, kind, log),
    )  # fmt: skip
    library = FilterLibrary(filters_dir_for(cfg_path))
    config = load_config(cfg_path, check_filter=library.check, check_actions=check_jail_actions)
    clock = SystemClock()
    parts = build_jails(config, library, clock, [], {})
    (source,) = build_sources(parts[jail.name], config, clock, {})
    return source


def reader_request(files: CorpusFiles, jail: Jail, work: Path) -> Request:
    """The request the agent sends its journal reader for the jail (default configuration),
    with no split (one reader, one core)."""
    from journalban.sources.journal import JournalSource

    source = jail_source(work, jail, "journal", journal_dir=files.journal)
    assert isinstance(source, JournalSource)
    request = dataclasses.replace(source._request(), split_at=1 << 62)
    assert request.matcher is not None
    return request


def floor_reader(files: CorpusFiles, jail: Jail, work: Path) -> Floor:
    """journalban's own reader child code, in this process: the request the agent would
    send for the jail, read to the end by one Follower (no helper: one core) with the
    jail's finder (matching, sessions), nothing decided or committed."""
    from journalban.agent.journalreader import finder
    from journalban.sources.journalworker import Follower

    request = reader_request(files, jail, work)
    assert request.matcher is not None
    sink = os.open(os.devnull, os.O_RDWR)
    follower = Follower(request, sink, sink, finder(request.matcher))
    follower.seek_start()
    entries = 0
    start = time.perf_counter()
    while (frame := follower.read_batch()) is not None:
        entries += frame.read
    seconds = time.perf_counter() - start
    follower.reader.close()
    os.close(sink)
    return Floor("journalban reader alone", entries, seconds, load_average())


def last_matching_cursor(files: CorpusFiles, jail: Jail) -> str:
    """The cursor of the jail's last entry: where its reader ends."""
    from systemd import journal

    reader = journal.Reader(path=str(files.journal))
    add_jail_matches(reader, jail)
    reader.seek_tail()
    reader._previous()
    cursor: str = reader._get_cursor()
    reader.close()
    return cursor


def jails_config(jail: Jail, source: str, log: Path | None) -> dict[str, object]:
    own: dict[str, object] = {"maxretry": MAXRETRY, "findtime": FINDTIME, "bantime": BANTIME}
    if jail.name != "sshd":
        own["enabled"] = True
    if source == "file":
        own.update(source="files", files=[str(log)])
    jails: dict[str, object] = {jail.name: own}
    if jail.name != "sshd":
        jails["sshd"] = {"enabled": False}
    return jails


def journalban_file(
    work: Path, files: CorpusFiles, jail: Jail, memory: bool = False, *, bus: str | None = None
) -> Run:
    log = work / "log" / "corpus.log"
    log.parent.mkdir(parents=True)
    log.touch()
    size = files.log.stat().st_size
    return journalban_run(
        work, files, "file", jails_config(jail, "file", log), jail.name,
        lambda r: file_offset(r.position(jail.name), log) >= size,
        lambda: append(files.log, log), memory, bus=bus,
    )  # fmt: skip


def journalban_journal(
    work: Path, files: CorpusFiles, jail: Jail, end: str, memory: bool = False,
    *, bus: str | None = None,
) -> Run:  # fmt: skip
    return journalban_run(
        work, files, "journal", jails_config(jail, "journal", None), jail.name,
        lambda r: r.position(jail.name) == end, memory=memory, bus=bus,
    )  # fmt: skip


def fail2ban(work: Path, files: CorpusFiles, jail: Jail, source: str, memory: bool = False) -> Run:
    """fail2ban-server on the corpus, timed from its jail start until its CPU time stops."""
    log = work / "corpus.log"
    warm([files.log if source == "file" else files.journal])
    if source == "file":
        log.touch()
        peer = Fail2banPeer(work, logpath=log, maxretry=MAXRETRY, findtime=FINDTIME,
                            bantime=BANTIME, jail=jail.name)  # fmt: skip
    else:
        peer = Fail2banPeer(work, journal_dir=files.journal, maxretry=MAXRETRY, findtime=FINDTIME,
                            bantime=BANTIME, jail=jail.name, journalmatch=jail.fail2ban_match)  # fmt: skip
    return fail2ban_timed(peer, files, source, log, memory)


@dataclass
class CorpusResult:
    corpus: str
    lines: int
    failures_marked: int
    jail_entries: int
    runs: list[Run]
    floors: list[Floor]


def bench_corpus(
    name: str, lines: int, data: Path, tmp: Path, binary: Path | None, parts: set[str],
    repeat: int, with_fail2ban: bool, memory_runs: int = 1, bus: str | None = None,
) -> CorpusResult:  # fmt: skip
    files = ensure_files(data / name / str(lines), name, lines)
    jail = jail_for(name)
    print(f"{name}: {files.lines:,} lines, {files.failures:,} failures marked, "
          f"file {files.log.stat().st_size / 2**20:.0f} MB, journal "
          f"{files.journal_bytes / 2**20:.0f} MB in {files.journal_files} files", flush=True)  # fmt: skip
    runs: list[Run] = []
    floors: list[Floor] = []
    entries = 0

    def step(label: str, fn: object) -> None:
        work = tmp / f"{name}-{label}"
        work.mkdir()
        run = fn(work)  # type: ignore[operator]
        runs.append(run)
        print(f"  {label}: {step_text(run)}", flush=True)

    if "file" in parts:
        for n in range(repeat):
            step(f"journalban-file-{n}", lambda w: journalban_file(w, files, jail, bus=bus))
        for n in range(memory_runs):
            step(f"journalban-file-memory-{n}",
                 lambda w: journalban_file(w, files, jail, True, bus=bus))  # fmt: skip
        if with_fail2ban:
            step("fail2ban-file", lambda w: fail2ban(w, files, jail, "file"))
            for n in range(memory_runs):
                step(f"fail2ban-file-memory-{n}", lambda w: fail2ban(w, files, jail, "file", True))
    if "journal" in parts:
        end = last_matching_cursor(files, jail)
        for n in range(repeat):
            warm([files.journal])  # as before each tool's run
            if binary is not None:
                floors.append(floor_c(binary, files, jail))
            floors.append(floor_python(files, jail))
            work = tmp / f"{name}-reader-{n}"
            work.mkdir()
            floors.append(floor_reader(files, jail, work))
            step(f"journalban-journal-{n}",
                 lambda w: journalban_journal(w, files, jail, end, bus=bus))  # fmt: skip
        for n in range(memory_runs):
            step(f"journalban-journal-memory-{n}",
                 lambda w: journalban_journal(w, files, jail, end, True, bus=bus))  # fmt: skip
        for f in floors:
            print(f"  {f.reader}: {f.entries:,} entries in {f.seconds:.3f} s, "
                  f"{f.rate:,.0f}/s, load {f.load}", flush=True)  # fmt: skip
        entries = floors[0].entries if floors else 0
        if with_fail2ban:
            step("fail2ban-journal", lambda w: fail2ban(w, files, jail, "journal"))
            for n in range(memory_runs):
                step(f"fail2ban-journal-memory-{n}",
                     lambda w: fail2ban(w, files, jail, "journal", True))  # fmt: skip
    return CorpusResult(name, files.lines, files.failures, entries, runs, floors)


def step_text(run: Run) -> str:
    """One run's figures: a timed run's time and CPU, a memory run's memory."""
    readers = f" (readers {run.readers_cpu:.2f} s)" if run.readers_cpu else ""
    counts = f"failed {run.failed:,}, banned {run.banned:,}, load {run.load}"
    if run.memory:
        return (f"memory run ({run.wall:.2f} s, not timed): VmHWM {run.peak_rss_mb:.0f} MB, "
                f"anon {run.peak_anon_mb:.0f} MB, Pss {run.peak_pss_mb:.0f} MB, "
                f"Pss_Anon {run.peak_pss_anon_mb:.0f} MB, {counts}")  # fmt: skip
    own = f", benchmark's own CPU {run.own_cpu * 1000:.1f} ms over {run.looks} looks"
    copy = f" (after the copy's {run.copy * 1000:.1f} ms)" if run.copy else ""
    return (f"{run.wall:.3f} s{copy}, {run.rate:,.0f} lines/s, CPU {run.cpu:.2f} s{readers}{own}, "
            f"{counts}")  # fmt: skip


def summary(results: Sequence[CorpusResult]) -> list[str]:
    out = ["| corpus | source | journalban lines/s (median) | fail2ban lines/s | ratio "
           "| ratio, the copy in | per CPU s | journalban VmHWM / anon | fail2ban VmHWM / anon "
           "| failures j / f2b | bans j / f2b |",
           "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]  # fmt: skip
    floors = ["| corpus | jail entries | sdjournal_min (C) entries/s | systemd-python entries/s "
              "| journalban's reader alone entries/s | journalban entries/s (median) | vs C "
              "| vs Python | reader alone vs C |",
              "|---|---:|---:|---:|---:|---:|---:|---:|---:|"]  # fmt: skip
    for res in results:
        for source in ("file", "journal"):
            ours = median_run(
                [r for r in res.runs if r.source == source and r.agent == "journalban"]
            )
            peer = median_run(
                [r for r in res.runs if r.source == source and r.agent != "journalban"]
            )
            if ours is None:
                continue
            ratio = f"{ours.rate / peer.rate:.1f}x" if peer else "-"
            # (Run.copy: the rule before 2026-12-06 started both clocks before the copy)
            copy_in = (f"{(peer.wall + peer.copy) / (ours.wall + ours.copy):.1f}x"
                       if peer and source == "file" else "-")  # fmt: skip
            per_cpu = (f"{(ours.lines / ours.cpu) / (peer.lines / peer.cpu):.1f}x"
                       if peer else "-")  # fmt: skip
            peer_rate = f"{peer.rate:,.0f}" if peer else "-"
            ours_mem = peaks(res.runs, source, True)
            peer_mem = peaks(res.runs, source, False)
            peer_failed = f"{peer.failed:,}" if peer else "-"
            peer_banned = f"{peer.banned:,}" if peer else "-"
            out.append(
                f"| {res.corpus} | {source} | {ours.rate:,.0f} | {peer_rate} | {ratio} | {copy_in} "
                f"| {per_cpu} "
                f"| {mem_text(ours_mem, 2)} | {mem_text(peer_mem, 2)} "
                f"| {ours.failed:,} / {peer_failed} | {ours.banned:,} / {peer_banned} |"
            )
            if source == "journal" and res.floors:
                ours_rate = res.jail_entries / ours.wall
                c = [f.rate for f in res.floors if f.reader.startswith("sdjournal")]
                py = [f.rate for f in res.floors if f.reader.startswith("systemd-python")]
                alone = [f.rate for f in res.floors if f.reader.startswith("journalban")]
                c_med = statistics.median(c) if c else 0.0
                py_med = statistics.median(py) if py else 0.0
                alone_med = statistics.median(alone) if alone else 0.0
                floors.append(
                    f"| {res.corpus} | {res.jail_entries:,} | {c_med:,.0f} | {py_med:,.0f} "
                    f"| {alone_med:,.0f} | {ours_rate:,.0f} | {ours_rate / c_med:.0%} "
                    f"| {ours_rate / py_med:.0%} | {alone_med / c_med:.0%} |"
                    if c_med and py_med else f"| {res.corpus} | - | - | - | - | - | - | - | - |"
                )  # fmt: skip
    return [*out, "", *floors, "", *memory_table(results)]


MEMORY = ("peak_pss_mb", "peak_pss_anon_mb", "peak_rss_mb", "peak_anon_mb")


def peaks(runs: Sequence[Run], source: str, ours: bool) -> list[float] | None:
    """The highest of each ``MEMORY`` figure over one tool's memory runs of a source."""
    mine = [r for r in runs if r.memory and r.source == source
            and (r.agent == "journalban") == ours]  # fmt: skip
    return [max(getattr(r, k) for r in mine) for k in MEMORY] if mine else None


def mem_text(figures: list[float] | None, at: int) -> str:
    return f"{figures[at]:.0f} / {figures[at + 1]:.0f} MB" if figures else "-"


def memory_table(results: Sequence[CorpusResult]) -> list[str]:
    """Each tool's highest figures over its memory runs of a corpus, side by side.

    Memory comes from runs of its own (``Run.memory``), each tool sampled the
    same way, never from the timed runs (whose figures are time and CPU).
    "Less memory" is judged on Pss_Anon: the anonymous part of the proportional set
    size summed over the process tree (a page shared by n processes counts 1/n in
    each), the memory the kernel cannot take back (no swap). Pss adds the
    file-backed pages (libraries, the journal files sd-journal maps: clean page
    cache); VmHWM (each process's own peak, summed: shared pages count once per
    process) and RssAnon are shown beside them.
    """
    out = ["| corpus | source | journalban Pss / Pss_Anon | fail2ban Pss / Pss_Anon "
           "| journalban VmHWM (sum) / RssAnon | fail2ban VmHWM / RssAnon "
           "| less memory (Pss_Anon) |", "|---|---|---:|---:|---:|---:|---|"]  # fmt: skip
    for res in results:
        for source in ("file", "journal"):
            o = peaks(res.runs, source, True)
            p = peaks(res.runs, source, False)
            if o is None:
                continue
            verdict = "-" if p is None else (
                f"yes ({o[1] / p[1]:.2f}x)" if o[1] < p[1] else f"NO ({o[1] / p[1]:.2f}x)"
            )  # fmt: skip
            out.append(f"| {res.corpus} | {source} | {mem_text(o, 0)} | {mem_text(p, 0)} "
                       f"| {mem_text(o, 2)} | {mem_text(p, 2)} | {verdict} |")  # fmt: skip
    return out


def main() -> None:
    compile_package()  # byte code as an installed package has it (bench_bytecode)
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_corpus_arguments(parser)
    parser.add_argument("--only", default="file,journal")
    parser.add_argument("--repeat", type=int, default=3)  # (odd: a median run)
    parser.add_argument("--no-fail2ban", action="store_true")
    parser.add_argument("--no-bus", action="store_true",
                        help="journalban without its D-Bus API (the rule before 2026-12-06)")  # fmt: skip
    parser.add_argument("--memory-runs", type=int, default=1,
                        help="memory runs of each tool per source (timed runs sample no memory)")  # fmt: skip
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    with_fail2ban = not args.no_fail2ban
    if with_fail2ban and not os.path.exists(FAIL2BAN_SERVER):
        sys.exit("fail2ban-server is missing: apt-get install fail2ban (see shared RECIPES: Peers)")
    print(machine(), "| load before:", load_average(), "| code:", code_version(),
          "| journalban's D-Bus API:", "off" if args.no_bus else "on", flush=True)  # fmt: skip
    results: list[CorpusResult] = []
    with contextlib.ExitStack() as stack:
        tmp = stack.enter_context(tempfile.TemporaryDirectory(prefix="bench-corpora-"))
        # journalban serves its D-Bus API, as installed (``bus: true`` by default), on a
        # private bus: the dbus-daemon is in neither tool's process tree.
        bus = None if args.no_bus else stack.enter_context(PrivateBus(polkit=False)).address
        binary = build_min_reader(Path(tmp))
        for name in args.corpora.split(","):
            results.append(bench_corpus(name, args.lines, args.data, Path(tmp), binary,
                                        set(args.only.split(",")), args.repeat, with_fail2ban,
                                        args.memory_runs, bus))  # fmt: skip
    print("load after:", load_average())
    print("\n".join(summary(results)))
    if args.json:
        args.json.write_text(json.dumps([asdict(r) for r in results], indent=1))


if __name__ == "__main__":
    main()
