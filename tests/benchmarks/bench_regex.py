"""Matching speed: `journalban regex` against fail2ban-regex and sshguard's parser.

    .venv/bin/python tests/benchmarks/bench_regex.py [--lines N] [--no-write]

Generates the sshd corpus (gen_sshd_corpus.py) once, runs the three on the
same file in one run (wall-clock and peak RSS through /usr/bin/time -v, output
to /dev/null), prints a table and writes it into docs/benchmarks.md under
"## Matching (journalban regex)". Floor: 20x fail2ban-regex's speed, with
lower peak memory.
"""

from __future__ import annotations

import argparse
import os
import platform
import re
import shutil
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


def measure(argv: list[str], stdin: Path | None = None) -> tuple[float, int]:
    """Wall-clock seconds and peak RSS (KiB) of one command."""
    with tempfile.NamedTemporaryFile("r") as report:
        with open(stdin or os.devnull, "rb") as inp, open(os.devnull, "wb") as out:
            subprocess.run(["/usr/bin/time", "-v", "-o", report.name, *argv],
                           stdin=inp, stdout=out, check=True)  # fmt: skip
        text = Path(report.name).read_text()
    wall = re.search(r"Elapsed \(wall clock\) time.*: (?:(\d+):)?(\d+):([\d.]+)", text)
    rss = re.search(r"Maximum resident set size \(kbytes\): (\d+)", text)
    assert wall is not None
    assert rss is not None
    seconds = int(wall[1] or 0) * 3600 + int(wall[2]) * 60 + float(wall[3])
    return seconds, int(rss[1])


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
        text = text[:start] + body + (text[nxt + 1 :] if nxt >= 0 else "")
    DOC.parent.mkdir(exist_ok=True)
    DOC.write_text(text)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lines", type=int, default=1_000_000)
    parser.add_argument("--no-write", action="store_true")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        corpus = Path(tmp) / "auth.log"
        subprocess.run([sys.executable, str(Path(__file__).with_name("gen_sshd_corpus.py")),
                        str(corpus), "--lines", str(args.lines)], check=True)  # fmt: skip
        rows: list[tuple[str, float, int]] = []
        jb = [sys.executable, "-m", "journalban", "regex", str(corpus), "sshd"]
        rows.append(("journalban regex FILE sshd", *measure(jb)))
        if shutil.which("fail2ban-regex") and Path(F2B_FILTER).exists():
            f2b = ["fail2ban-regex", str(corpus), F2B_FILTER]
            rows.append(("fail2ban-regex FILE sshd.conf", *measure(f2b)))
        if os.access(SSHG_PARSER, os.X_OK):
            rows.append(("sshg-parser < FILE", *measure([SSHG_PARSER], stdin=corpus)))
    lines = [
        SECTION, "",
        f"{args.lines:,} lines of a generated sshd auth.log (tests/benchmarks/gen_sshd_corpus.py: "
        "about 15% failures, 46k addresses incl. IPv6, logins, sessions, disconnects, CRON, sudo), "
        "run by tests/benchmarks/bench_regex.py; output to /dev/null.", "",
        f"Machine: {machine()}. Date: {time.strftime('%Y-%m-%d')}. The machine was shared with "
        "other jobs, so absolute times vary; the three run back to back in one run.", "",
        "| command | wall-clock s | lines/s | peak RSS MiB | vs fail2ban-regex |",
        "| --- | ---: | ---: | ---: | ---: |",
    ]  # fmt: skip
    f2b_time = next((t for name, t, _ in rows if name.startswith("fail2ban")), None)
    for name, seconds, rss in rows:
        ratio = f"{f2b_time / seconds:.1f}x" if f2b_time else "-"
        lines.append(
            f"| `{name}` | {seconds:.2f} | {args.lines / seconds:,.0f} | {rss / 1024:.0f} | {ratio} |"
        )
    body = "\n".join(lines) + "\n"
    print(body)
    if not args.no_write:
        write_section(body)
    return 0


if __name__ == "__main__":
    sys.exit(main())
