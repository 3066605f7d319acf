"""Where journalban's memory goes on a file run: each process at rest and at the end.

    .venv/bin/python tests/benchmarks/bench_memory.py [--corpora sshd,...] [--lines 300000]
        [--tracemalloc FRAMES] [--out DIR]

As bench_agent_corpora.py's file runs (the default configuration, the corpus
appended in one copy to an empty file), one agent per corpus: per process (the
agent, its file reader child) Pss, Pss_Anon, RssAnon and VmHWM once the agent is
ready and idle ("rest": the interpreter, the imports, the built jails), then when
the whole corpus is committed ("end"), with the failures and bans counted, and the
agent's growth per ban. The agent runs through tracemalloc_agent.py, which writes
SQLite's own allocations at both moments to DIR/NAME.txt, and with ``--tracemalloc
FRAMES`` the biggest allocation sites too (tracemalloc about doubles the agent's
memory: its own figures then describe the traced run, not the plain one).
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # tests/, for support.*
sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_agent import ProcessWatch, file_offset, wait_for
from bench_agent_corpora import jail_for, jails_config
from bench_watch import append
from corpora import add_corpus_arguments
from corpus_files import ensure_files

from support.agent import VENV_BIN, AgentProcess, StateReader, write_config

HERE = Path(__file__).resolve().parent


def processes(watch: ProcessWatch, moment: str) -> dict[str, float]:
    """Print each process's figures; the agent's own RssAnon (MB) in the result."""
    own: dict[str, float] = {}
    for pid in [watch.pid, *watch.children()]:
        pss, pss_anon = watch._rollup_kb(pid)
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
        role = "agent" if pid == watch.pid else cmdline[-2].decode(errors="replace")
        anon = watch._status_kb(pid, "RssAnon") / 1024
        if pid == watch.pid:
            own["anon"] = anon
        print(f"  {moment:>4} {role:<28} Pss {pss / 1024:6.1f}  Pss_Anon {pss_anon / 1024:6.1f}  "
              f"RssAnon {anon:6.1f}  VmHWM {watch._status_kb(pid, 'VmHWM') / 1024:6.1f} MB",
              flush=True)  # fmt: skip
    return own


def dumped(out: Path, count: int, traced: bool) -> bool:
    if not out.exists():
        return False
    text = out.read_text()
    return text.count("===") >= count and (not traced or text.count("---") >= 2 * count)


def one(name: str, lines: int, data: Path, frames: int, out: Path) -> None:
    files = ensure_files(data / name / str(lines), name, lines)
    jail = jail_for(name)
    report = out / f"{name}.txt"
    report.unlink(missing_ok=True)
    with tempfile.TemporaryDirectory(prefix="bench-memory-") as tmp:
        work = Path(tmp)
        log = work / "log" / "corpus.log"
        log.parent.mkdir()
        log.touch()
        cfg = write_config(work / "journalban.yaml", work / "state",
                           firewall={"backend": "dry-run"}, jails=jails_config(jail, "file", log))  # fmt: skip
        wrapper = [str(VENV_BIN / "python"), str(HERE / "tracemalloc_agent.py"), str(report),
                   str(frames)]  # fmt: skip
        agent = AgentProcess(cfg, wrapper=wrapper)
        watch = ProcessWatch(agent.proc.pid)
        reader = StateReader(work / "state")
        try:
            wait_for(lambda: "running:" in agent.log, 60, "journalban did not start")
            time.sleep(1.5)  # the reader child is up and idle
            print(f"{name}: {files.lines:,} lines", flush=True)
            rest = processes(watch, "rest")
            os.kill(agent.proc.pid, signal.SIGUSR2)
            wait_for(lambda: dumped(report, 1, frames > 0), 120, "no dump", 0.1)
            append(files.log, log)
            size = files.log.stat().st_size
            while file_offset(reader.position(jail.name), log) < size:
                watch.sample()
                time.sleep(0.02)
            watch.sample()
            end = processes(watch, "end")
            os.kill(agent.proc.pid, signal.SIGUSR2)
            wait_for(lambda: dumped(report, 2, frames > 0), 300, "no dump", 0.1)
            rows = reader._query(
                f"SELECT total_failed, total_banned FROM counters WHERE jail = '{jail.name}'"  # noqa: S608
            )
        finally:
            agent.stop()
    failed, banned = (int(str(rows[0][0])), int(str(rows[0][1]))) if rows else (0, 0)
    growth = end["anon"] - rest["anon"]
    print(f"  failures {failed:,}, bans {banned:,}; the agent grew {growth:.1f} MB "
          f"({growth * 2**20 / max(banned, 1):,.0f} bytes a ban); highest sampled tree "
          f"Pss {watch.peak_pss_kb / 1024:.1f} MB, Pss_Anon {watch.peak_pss_anon_kb / 1024:.1f} MB; "
          f"{report}: {report.read_text().splitlines()[0]} ... ", flush=True)  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_corpus_arguments(parser, "sshd,sshd-near-miss,sshd-flood")
    parser.add_argument("--tracemalloc", type=int, default=0, metavar="FRAMES")
    parser.add_argument("--out", type=Path, default=Path(tempfile.gettempdir()) / "bench-memory")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    for name in args.corpora.split(","):
        one(name, args.lines, args.data, args.tracemalloc, args.out)


if __name__ == "__main__":
    main()
