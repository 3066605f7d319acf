"""Matching speed: `journalban regex` against fail2ban-regex and sshguard's parser.

    .venv/bin/python tests/benchmarks/bench_regex.py [--lines N] [--runs R] [--no-write]

Generates the sshd corpus (gen_sshd_corpus.py) once, runs the three on the
same file R times in turn (round robin, so a busy machine slows all three
alike; wall-clock, CPU time and peak RSS through /usr/bin/time -v, output to
/dev/null), prints a table of medians and writes it into docs/benchmarks.md
under "## Matching (journalban regex)". Floor: 20x fail2ban-regex's speed,
with lower peak memory.
"""

from __future__ import annotations

import argparse
import os
import platform
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
DOC = REPO / "docs" / "benchmarks.md"
SECTION = "## Matching (journalban regex)"
F2B_FILTER = "/etc/fail2ban/filter.d/sshd.conf"
SSHG_PARSER = "/usr/libexec/sshguard/sshg-parser"


class Run:
    """One command's figures: wall-clock and CPU (user + system) seconds, peak RSS KiB."""

    def __init__(self, wall: float, cpu: float, rss: int) -> None:
        self.wall, self.cpu, self.rss = wall, cpu, rss


def measure(argv: list[str], stdin: Path | None = None) -> Run:
    """The figures of one run of a command."""
    with tempfile.NamedTemporaryFile("r") as report:
        with open(stdin or os.devnull, "rb") as inp, open(os.devnull, "wb") as out:
            subprocess.run(["/usr/bin/time", "-v", "-o", report.name, *argv],
                           stdin=inp, stdout=out, check=True)  # fmt: skip
        text = Path(report.name).read_text()
    wall = re.search(r"Elapsed \(wall clock\) time.*: (?:(\d+):)?(\d+):([\d.]+)", text)
    user = re.search(r"User time \(seconds\): ([\d.]+)", text)
    system = re.search(r"System time \(seconds\): ([\d.]+)", text)
    rss = re.search(r"Maximum resident set size \(kbytes\): (\d+)", text)
    assert wall is not None
    assert user is not None
    assert system is not None
    assert rss is not None
    seconds = int(wall[1] or 0) * 3600 + int(wall[2]) * 60 + float(wall[3])
    return Run(seconds, float(user[1]) + float(system[1]), int(rss[1]))


HOW = """\
How: the file is read in 1 MiB chunks and never split into lines. Each chunk is
searched with `str.find` for a 5-character needle of each literal the mode's
regexes cannot match without (9 passes in sshd's normal mode; about 27% of the lines
hold one). Each such line is matched in place, on the chunk, by one regex: the
settled date format's head (date, syslog prefix) fused with only the failregexes
the line's needles allow, compiled with optional and repeated groups rewritten
as alternatives (same meaning, less work in Python's regex engine). Matched lines
cost a dictionary look-up for the address and the hour of their date; no object is
made for a line.

Where the time goes (callgrind instruction counts on this corpus, per 1M lines,
turned into seconds at this machine's rate): the 9 needle passes and listing the
lines found about 0.3 s; the fused regex on about 270k lines about 0.45 s (1.5 us
for a matched line: the head about 0.5 us, sshd's first failregex about 1 us, most of
it in `<USER>`'s backtracking and `<HOST>`'s alternatives); the Python around
each candidate line about 0.17 s; reading, decoding and counting newlines about
0.1 s; start-up (interpreter, imports, loading and compiling the filter) about
0.08 s. What is left is Python's regex engine and `str.find` doing their work once
per candidate line and once per needle; going further needs matching in C. The
margin over the floor is small: on this shared machine, runs on the same day gave
19.5x to 23.5x (journalban 1.30-1.64 s, fail2ban-regex 26.7-31.9 s), so a run on a
busy machine can land just under 20x.
"""


def machine() -> str:
    cpu = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                if line.startswith("model name")), platform.machine())  # fmt: skip
    mem = int(Path("/proc/meminfo").read_text().split()[1]) // 1024 // 1024
    return f"{cpu}, {os.cpu_count()} cores, {mem} GiB, {platform.platform()}, Python {platform.python_version()}"


def write_section(body: str) -> None:
    text = DOC.read_text() if DOC.exists() else "# Benchmarks\n"
    start = text.find(SECTION)
    if start < 0:
        text = text.rstrip("\n") + "\n\n" + body
    else:
        nxt = text.find("\n## ", start + len(SECTION))
        text = text[:start] + body + ("\n" + text[nxt + 1 :] if nxt >= 0 else "")
    DOC.parent.mkdir(exist_ok=True)
    DOC.write_text(text)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lines", type=int, default=1_000_000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--no-write", action="store_true")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        corpus = Path(tmp) / "auth.log"
        subprocess.run([sys.executable, str(Path(__file__).with_name("gen_sshd_corpus.py")),
                        str(corpus), "--lines", str(args.lines)], check=True)  # fmt: skip
        commands: list[tuple[str, list[str], Path | None]] = [
            ("journalban regex FILE sshd",
             [sys.executable, "-m", "journalban", "regex", str(corpus), "sshd"], None),
        ]  # fmt: skip
        if shutil.which("fail2ban-regex") and Path(F2B_FILTER).exists():
            f2b = ["fail2ban-regex", str(corpus), F2B_FILTER]
            commands.append(("fail2ban-regex FILE sshd.conf", f2b, None))
        if os.access(SSHG_PARSER, os.X_OK):
            commands.append(("sshg-parser < FILE", [SSHG_PARSER], corpus))
        runs: dict[str, list[Run]] = {name: [] for name, _, _ in commands}
        for _ in range(args.runs):
            for name, argv, stdin in commands:
                runs[name].append(measure(argv, stdin))
    lines = [
        SECTION, "",
        f"{args.lines:,} lines of a generated sshd auth.log (tests/benchmarks/gen_sshd_corpus.py: "
        "about 15% failures, 46k addresses incl. IPv6, logins, sessions, disconnects, CRON, sudo), "
        f"run by tests/benchmarks/bench_regex.py; output to /dev/null. Each command ran {args.runs} "
        "times, the three in turn; the table shows medians (wall-clock range in brackets). CPU is "
        "user + system time: the machine is shared, so wall-clock time includes waiting for a core.",
        "",
        f"Machine: {machine()}. Date: {time.strftime('%Y-%m-%d')}.", "",
        "| command | wall-clock s | CPU s | lines/s (wall) | peak RSS MiB | vs fail2ban-regex (wall) "
        "| vs fail2ban-regex (CPU) |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]  # fmt: skip
    medians = {
        name: Run(*(statistics.median(getattr(r, k) for r in rs) for k in ("wall", "cpu", "rss")))
        for name, rs in runs.items()
    }
    base = next((run for name, run in medians.items() if name.startswith("fail2ban")), None)
    for name, run in medians.items():
        walls = [r.wall for r in runs[name]]
        spread = f" ({min(walls):.2f}-{max(walls):.2f})" if len(walls) > 1 else ""
        lines.append(
            f"| `{name}` | {run.wall:.2f}{spread} | {run.cpu:.2f} | {args.lines / run.wall:,.0f} "
            f"| {run.rss / 1024:.0f} | {f'{base.wall / run.wall:.1f}x' if base else '-'} "
            f"| {f'{base.cpu / run.cpu:.1f}x' if base else '-'} |"
        )
    jb = medians["journalban regex FILE sshd"]
    if base is not None:
        met = base.wall / jb.wall >= 20 and jb.rss < base.rss
        lines += ["", f"Floor (20x fail2ban-regex's wall-clock speed, lower peak memory): "
                  f"{'met' if met else 'NOT met'} in this run."]  # fmt: skip
    lines += ["", *HOW.splitlines()]
    body = "\n".join(lines) + "\n"
    print(body)
    if not args.no_write:
        write_section(body)
    return 0


if __name__ == "__main__":
    sys.exit(main())
