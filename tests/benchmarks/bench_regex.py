"""Matching speed on every corpus: `journalban regex` against fail2ban-regex and sshguard's parser.

    .venv/bin/python tests/benchmarks/bench_regex.py [--lines N] [--runs R] [--corpus NAME ...]
                                                     [--data DIR] [--no-write]

Writes each corpus of corpora.py once (cached in DIR by name, size and
seed), then per corpus runs, R times in turn, `journalban regex FILE FILTER`,
`fail2ban-regex FILE FILTER.conf` (Debian's filter of the same daemon, each
tool in its filter's default mode) and, on the sshd corpora, `sshg-parser <
FILE`: the same file in the same run, so a busy machine slows all of them
alike. Each run is measured by /usr/bin/time -v (wall clock, user + system
CPU, peak RSS of its processes together); the tables show medians. The counts are checked: journalban's
matched lines must be the lines the generator marked as failures, and
fail2ban-regex's are compared with them (differences explained per corpus).
The section "## Matching (journalban regex)" of docs/benchmarks.md is
rewritten with the figures, the commit and the machine's load.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from bench_bytecode import compile_package
from corpora import CORPORA, write_corpus
from proctree import descendants

REPO = Path(__file__).resolve().parents[2]
DOC = REPO / "docs" / "benchmarks.md"
SECTION = "## Matching (journalban regex)"
# scripts/setup --test unpacks sshguard's package here; an installed sshguard also does.
SSHG_PARSERS = (
    "/var/cache/journalban-tests/sshguard/usr/libexec/sshguard/sshg-parser",
    "/usr/libexec/sshguard/sshg-parser",
)


def sshg_parser() -> str:
    """The peer C parser: the benchmark refuses to run without it rather than drop it."""
    for path in SSHG_PARSERS:
        if os.access(path, os.X_OK):
            return path
    raise SystemExit(
        "sshg-parser not found: run scripts/setup --test (it unpacks sshguard's package)"
    )


FLOOR = 20.0
# Why fail2ban-regex's matched count differs from the generator's on a corpus.
F2B_NOTES = {
    "sshd": "fail2ban counts `Failed publickey for invalid user` as no failure "
    "(its `Failed <F-NOFAIL>publickey</F-NOFAIL>` regex; journalban counts an invalid "
    "user's key as a guess) except where its multi-line tracking ties it to a later failure",
    "authlog-mixed": "as on sshd: `Failed publickey for invalid user` lines",
}

# Where the time goes, measured while the matching was made faster (issue 19). Kept
# with the script so that a new run of it keeps the explanation beside the figures.
NOTES = """\
How `journalban regex FILE FILTER` counts: the file is read in 1 MiB chunks, never split
into lines. Each chunk is searched for each of the filter mode's literals (a 5-character
needle by str.find; where hits come densely, a regex of the literal and the rest of its
line, whose matches give the line ends without a Python loop per hit). Each line found is
matched in place by one regex: the settled date format's head fused with the failregexes
its literals allow. A matched line costs a dictionary look-up for its host text (a new
one is checked by inet_pton, not ipaddress) and a set look-up for the hour of its date. A
file of 32 MiB or more is counted by one process per usable CPU (at most 8), each on a
part cut at line starts, after the first MiB is read in the process; the counts are
those of one pass (tests/unit/test_regex_jobs.py). The CPU column is the sum of the
processes' time: it shows the single-core speed; the wall clock is what the user waits.
Peak RSS is /usr/bin/time's: the largest single process; journalban's two processes
each hold about that much, so together about twice the figure shown.

Where the time went, per corpus of 1M lines (CPU seconds of the counting in one process,
on this machine under load 6-10 from the other engineers, so only the proportions are
firm). Before (code of 46aaf3a): sshd 1.23 (literal scan 0.33, 254k candidate lines
0.91), sshd-near-miss 1.25 (0.40; 355k lines 0.85), sshd-flood 4.06 (0.68; 887k lines
3.38), authlog-mixed 0.86 (0.30; 155k lines 0.57), dovecot 0.87 (0.42, 8 needles; 109k
lines 0.45), postfix 0.70 (0.25; 74k lines 0.45). On sshd-flood, of the 3.38 s: the fused
regex 1.9 s (the head alone 0.5 s; sshd's first failregex 2 us a line, most of it a
lookahead tried before each character of the user name), the Python after a match 1.7 s,
of which about 1 s validated 200k distinct host texts with ipaddress (8 us for IPv4, 25 us
for IPv6). Changes, each with identical results on every corpus, the conformance corpus
and the adversarial suites: host texts checked by inet_pton (a differential test against
ipaddress); sshd's regexes 0 and 2 exclude text from the user name by one lookahead over
the rest of the line (the tail cannot hold it: same lines, a third of the cost); dense
literal hits collected by a regex; the head's hour check and the ident check inlined.
After (one process): sshd 0.94, sshd-near-miss 1.02, sshd-flood 2.74 (scan 0.51; 887k
lines 2.24), authlog-mixed 0.64, dovecot 0.81 (scan 0.45: eight needles, eight passes
over the text; 109k lines 0.36), postfix 0.54 (the failregexes cost about 5 us a line:
the greylisting lookahead of regex 0 tries three words at each character up to the ';').
What is left is Python's regex engine and str.find doing their work once per candidate
line and once per needle: on one core, dovecot's eight passes and sshd-flood's 520k
matched lines stay above a twentieth of fail2ban-regex's time; the parts counted at once
on two cores bring the wall clock under it.

Third round, sshd-flood (issue 19: 19.95x at 60cbac3). A py-spy profile of one process
on it (2.9 s of CPU): the fused regex 46%, the literal scan 20% (the dense needles'
finditer 11%, the absent needles' str.find passes 6%), host validation 7%, the rest the
Python around each of the 887k candidate lines. Per needle mask, the regex cost most on
the 202k `Received disconnect ... :11: Bye Bye [preauth]` lines: 1.9 us each, more than
a matched failure, because regex 8 learns only after the address and port that the
reason is not 3 or 14, and then tries every other reading of the address (IPv6 repeat
counts, the host-name alternative). Changed (064aafb), results identical on every corpus
(counts, and tests/unit/test_benchmark_corpora.py line by line), the adversarial and
conformance suites: regexes 8 and 8b say first, by a lookahead over the rest of the line,
which reason the tail must hold (0.26 us a line; tests/unit/test_sshd_disconnect_regex.py
checks the same matches and captures as without it on generated lines); the counting loop
calls the fused regex's bound match, reads groups by subscript, unpacks the date's groups
once per text and walks (end, mask) pairs. CPU of one process per corpus of 1M lines,
before (c6ce799) -> after (064aafb), A/B in the same minutes at load 5-7: sshd 1.11 ->
1.00 s, sshd-near-miss 1.20 -> 1.06, sshd-flood 2.74-2.95 -> 2.51-2.60, authlog-mixed
0.85 -> 0.79, dovecot 1.05 -> 1.03, postfix 0.77 -> 0.72. Tried and not kept: a host
memo of 256k or 1M texts instead of 64k (no faster on sshd-flood, peak RSS 31 -> 47 MB);
scan needles picked for rare last characters (as many passes got slower as faster).
Then (97329e8, `matching/denselines.py`): where most lines of a text hold a
literal (the share the scan measured last, >= 1/2, measured again every 16th text), every
line is matched by the fused regex of all the mode's regexes through map(), without the
literal scan and the Python around each candidate: the same counts (a regex a mask's
fused regex leaves out cannot match a line lacking its literals; a line without a literal
matches the head alone; a line whose head does not match goes to the general path only
when it holds a literal; tests/unit/test_dense_lines.py compares both ways on every
corpus and on crafted lines). Only sshd-flood (89% of its lines hold a literal) takes it;
at 25-35% (sshd, sshd-near-miss) it was slower (1.09 -> 1.41 s on sshd), so they keep the
scan. `journalban regex` on sshd-flood, both processes, A/B in the same minutes at load
3.5-3.8: CPU 2.9-3.2 -> 2.15-2.2 s (c6ce799 -> this), peak RSS 32 MB either way; at
60cbac3's quiet-machine proportions (1.54 s wall for 2.87 s of CPU) that is about 1.15 s,
26-27x fail2ban-regex's 30.7 s. What is left there is the regex engine's own work (the
head 0.47 us, regex 0 0.7 us a line) and about 0.5 us of Python per matched line.
"""


@dataclass
class Run:
    """One command's figures: wall-clock and CPU (user + system) seconds, peak RSS KiB, stdout."""

    wall: float
    cpu: float
    rss: int
    out: str = ""


@dataclass
class Tool:
    name: str
    argv: list[str]
    stdin: Path | None = None
    runs: list[Run] = field(default_factory=list)

    def median(self, attr: str) -> float:
        return float(statistics.median(getattr(r, attr) for r in self.runs))


def _tree_rss_kib(pid: int) -> int:
    """The resident set of ``pid``'s descendants (not ``pid``: /usr/bin/time), summed."""
    total = 0
    for kid in descendants(pid):
        try:
            with open(f"/proc/{kid}/status") as f:
                found = re.search(r"VmRSS:\s+(\d+)", f.read())
        except OSError:
            continue
        total += int(found[1]) if found else 0
    return total


def measure(argv: list[str], stdin: Path | None = None) -> Run:
    """The figures of one run of a command (stdout kept when small, else counted).

    Peak memory: the larger of GNU time's maximum resident set (that of the largest
    single process of the command) and the peak of the command's processes' resident
    sets summed, sampled every 5 ms. ``journalban regex`` reads a large file with a
    second process, whose memory the first figure alone left out; a single process's
    peak is the first figure, which a sample could miss."""
    with tempfile.NamedTemporaryFile("r") as report, tempfile.TemporaryFile("w+b") as out:
        with open(stdin or os.devnull, "rb") as inp:
            timed = subprocess.Popen(
                ["/usr/bin/time", "-v", "-o", report.name, *argv], stdin=inp, stdout=out
            )
            summed = 0
            while timed.poll() is None:
                summed = max(summed, _tree_rss_kib(timed.pid))
                time.sleep(0.005)
            if timed.returncode:
                raise subprocess.CalledProcessError(timed.returncode, argv)
        text = Path(report.name).read_text()
        out.seek(0)
        data = out.read()
    wall = re.search(r"Elapsed \(wall clock\) time.*: (?:(\d+):)?(\d+):([\d.]+)", text)
    user = re.search(r"User time \(seconds\): ([\d.]+)", text)
    system = re.search(r"System time \(seconds\): ([\d.]+)", text)
    rss = re.search(r"Maximum resident set size \(kbytes\): (\d+)", text)
    assert wall is not None
    assert user is not None
    assert system is not None
    assert rss is not None
    seconds = int(wall[1] or 0) * 3600 + int(wall[2]) * 60 + float(wall[3])
    newlines = data.count(b"\n")
    shown = data.decode("utf-8", "replace") if len(data) < 1 << 16 else f"{newlines}\n"
    return Run(seconds, float(user[1]) + float(system[1]), max(int(rss[1]), summed), shown)


def ensure_corpus(data: Path, name: str, lines: int) -> tuple[Path, int]:
    """The corpus file in ``data`` (written when missing) and its marked failures."""
    spec = CORPORA[name]
    path = data / f"{name}-{lines}-{spec.seed}.log"
    meta = path.with_suffix(".json")
    if path.exists() and meta.exists():
        return path, int(json.loads(meta.read_text())["failures"])
    data.mkdir(parents=True, exist_ok=True)
    written = write_corpus(name, path, lines)
    meta.write_text(json.dumps({"failures": written.failures, "sha256": written.sha256}))
    return path, written.failures


def journalban_count(out: str) -> int:
    found = re.search(r"^Lines: \d+ lines, \d+ ignored, (\d+) matched", out, re.M)
    assert found is not None, out
    return int(found[1])


def fail2ban_counts(out: str) -> tuple[int, int]:
    """fail2ban-regex's matched and ignored lines."""
    found = re.search(r"^Lines: \d+ lines, (\d+) ignored, (\d+) matched", out, re.M)
    assert found is not None, out
    return int(found[2]), int(found[1])


def sshg_attacks(out: str) -> int:
    """sshg-parser prints one line per attack it recognises."""
    return int(out.strip()) if out.strip().isdigit() else len(out.splitlines())


def machine() -> str:
    cpu = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                if line.startswith("model name")), platform.machine())  # fmt: skip
    mem = int(Path("/proc/meminfo").read_text().split()[1]) // 1024 // 1024
    return f"{cpu}, {os.cpu_count()} cores, {mem} GiB, {platform.platform()}, Python {platform.python_version()}"


def commit() -> str:
    done = subprocess.run(["git", "-C", str(REPO), "rev-parse", "--short", "HEAD"],
                          capture_output=True, text=True, check=False)  # fmt: skip
    dirty = subprocess.run(["git", "-C", str(REPO), "status", "--porcelain", "journalban"],
                           capture_output=True, text=True, check=False).stdout.strip()  # fmt: skip
    return done.stdout.strip() + (" (with uncommitted changes to journalban/)" if dirty else "")


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


def bench(name: str, path: Path, runs: int) -> list[Tool]:
    spec = CORPORA[name]
    tools = [
        Tool("journalban", [sys.executable, "-m", "journalban", "regex", str(path), spec.filter])
    ]
    if shutil.which("fail2ban-regex") and Path(spec.fail2ban_filter).exists():
        tools.append(Tool("fail2ban-regex", ["fail2ban-regex", str(path), spec.fail2ban_filter]))
    if spec.sshd:
        tools.append(Tool("sshg-parser", [sshg_parser()], path))
    for _ in range(runs):
        for tool in tools:
            tool.runs.append(measure(tool.argv, tool.stdin))
            print(f"  {name} {tool.name}: {tool.runs[-1].wall:.2f} s", file=sys.stderr)
    return tools


def main() -> int:
    compile_package()  # byte code as an installed package has it (bench_bytecode)
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lines", type=int, default=1_000_000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--corpus", action="append", choices=sorted(CORPORA))
    parser.add_argument(
        "--data", type=Path, default=Path(tempfile.gettempdir()) / "journalban-corpora"
    )
    parser.add_argument("--no-write", action="store_true")
    args = parser.parse_args()
    names = args.corpus or list(CORPORA)
    files = {name: ensure_corpus(args.data, name, args.lines) for name in names}
    load_before = os.getloadavg()
    started = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    results = {name: bench(name, files[name][0], args.runs) for name in names}
    load_after = os.getloadavg()
    body = report(args, results, files, started, load_before, load_after)
    print(body)
    if not args.no_write:
        write_section(body)
    return 0


def report(args: argparse.Namespace, results: dict[str, list[Tool]],
           files: dict[str, tuple[Path, int]], started: str,
           load_before: tuple[float, float, float],
           load_after: tuple[float, float, float]) -> str:  # fmt: skip
    lines = [
        SECTION, "",
        f"{args.lines:,} lines per corpus (tests/benchmarks/corpora.py), run by "
        f"tests/benchmarks/bench_regex.py: per corpus, each command {args.runs} times in turn on "
        "the same file, output to /dev/null; medians. Wall clock decides the floor; CPU is user + "
        "system time. Each tool reads the file with its own filter for the daemon in that "
        "filter's default mode (fail2ban: Debian 12's fail2ban 0.11.2 filter.d/*.conf).",
        "",
        f"Machine: {machine()}. Started {started}; code at commit {commit()}. Load average "
        f"(1/5/15 min) {'/'.join(f'{x:.2f}' for x in load_before)} before, "
        f"{'/'.join(f'{x:.2f}' for x in load_after)} after.", "",
        "| corpus | journalban s (CPU) | fail2ban-regex s (CPU) | ratio (wall) | sshg-parser s (CPU) "
        "| vs sshg-parser | peak RSS MiB jb / f2b / sshg | floors |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | --- |",
    ]  # fmt: skip
    checks: list[str] = []
    failed: list[str] = []
    for name, tools in results.items():
        by = {t.name: t for t in tools}
        jb, f2b, sshg = by["journalban"], by.get("fail2ban-regex"), by.get("sshg-parser")
        ratio = f2b.median("wall") / jb.median("wall") if f2b else None
        vs_sshg = sshg.median("wall") / jb.median("wall") if sshg else None
        met = []
        if ratio is not None:
            ok = ratio >= FLOOR and jb.median("rss") < f2b.median("rss")  # type: ignore[union-attr]
            met.append(f"{FLOOR:.0f}x and memory: {'met' if ok else 'NOT met'}")
            if not ok:
                failed.append(f"{name} ({ratio:.1f}x)")
        if vs_sshg is not None:
            met.append(f"faster than sshg-parser: {'met' if vs_sshg > 1 else 'NOT met'}")
            if vs_sshg <= 1:
                failed.append(f"{name} vs sshg-parser ({vs_sshg:.2f}x)")

        def cell(tool: Tool | None) -> str:
            if tool is None:
                return "-"
            walls = [r.wall for r in tool.runs]
            return f"{tool.median('wall'):.2f} ({min(walls):.2f}-{max(walls):.2f}; {tool.median('cpu'):.2f})"

        rss = " / ".join(f"{t.median('rss') / 1024:.0f}" if t else "-" for t in (jb, f2b, sshg))
        lines.append(
            f"| {name} | {cell(jb)} | {cell(f2b)} | {f'{ratio:.1f}x' if ratio else '-'} | {cell(sshg)} "
            f"| {f'{vs_sshg:.2f}x' if vs_sshg else '-'} | {rss} | {'; '.join(met)} |"
        )
        marked = files[name][1]
        counts = {journalban_count(r.out) for r in jb.runs}
        note = f"{name}: generator marked {marked:,} failures; journalban matched {', '.join(f'{c:,}' for c in counts)}"
        note += (
            " (the same lines: checked line by line by tests/unit/test_benchmark_corpora.py)"
            if counts == {marked}
            else " - MISMATCH"
        )
        if f2b is not None:
            matched, ignored = fail2ban_counts(f2b.runs[0].out)
            note += f"; fail2ban-regex matched {matched:,} (ignored {ignored:,})"
            if matched != marked:
                note += f": {marked - matched:+,} against the generator; {F2B_NOTES.get(name, 'not explained')}"
        if sshg is not None:
            note += f"; sshg-parser reported {sshg_attacks(sshg.runs[0].out):,} attacks (its own notion: every pre-auth probe and disconnect too)"
        checks.append(f"- {note}.")
    lines += ["", "Floors (20x fail2ban-regex's wall-clock speed with lower peak memory on every "
              "corpus; faster than sshg-parser on the sshd ones): "
              + ("all met in this run." if not failed else f"NOT met on {', '.join(failed)}."),
              "", "Counts:", *checks, "", *NOTES.splitlines()]  # fmt: skip
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    sys.exit(main())
