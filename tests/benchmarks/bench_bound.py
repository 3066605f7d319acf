"""The lowest wall any Python agent could reach, per corpus and source, against issue 19's floors.

    .venv/bin/python tests/benchmarks/bench_bound.py [--corpora sshd,...] [--only file,journal]
        [--repeat 3] [--fail2ban run|skip] [--fail2ban-wall CORPUS:SOURCE=SECONDS ...]
        [--no-agent] [--signal-us 1.3] [--json OUT]

Runs as root (the corpora and peers of bench_agent_corpora.py, unchanged). Per
corpus and source it measures:

- the floors' budget: the C reader's time with the jail's matches
  (``floor_c``, the fastest of ``--repeat`` by its loop's wall or its
  process's CPU: the tightest budget) and fail2ban-server's wall, run as
  bench_agent_corpora runs it (once; ``--fail2ban skip`` with ``--fail2ban-wall``
  reuses a figure); the walls they allow: C / 0.8 and fail2ban / 30;
- the least work any agent must do, each part alone, CPU seconds, median of
  ``--repeat``: (a) reading (file: the bytes read; the split into lines beside
  it; journal: systemd-python's ``_next`` + ``_get("MESSAGE")`` with the jail's
  matches), (b) matching (the jail's compiled filter as ``journalban regex``
  builds it, over the lines held in memory: the cheaper of two ways, both
  giving the same failures), (c) deciding at its barest (one dict increment
  per failure, one record appended per address reaching maxretry);
- the bound: (a+b+c)/2 (every part splits across processes: see
  docs/benchmarks.md) and, per floor, the verdict (bound_verdict.py).

Also the agent's own failures and bans (one ``journalban run`` on the default
configuration, as bench_agent_corpora runs it, without the bus: the same
decisions) and what a ``Banned`` signal per ban would add (``--signal-us``,
measured elsewhere: docs/benchmarks.md).
"""

from __future__ import annotations

import argparse
import contextlib
import ipaddress
import json
import resource
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # tests/, for support.*
sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_agent import MAXRETRY, code_version, load_average, machine
from bench_agent_corpora import (
    Jail,
    add_jail_matches,
    build_min_reader,
    fail2ban,
    floor_c,
    jail_for,
    journalban_file,
    journalban_journal,
    last_matching_cursor,
    raw_entries,
)
from bench_bytecode import compile_package
from bench_watch import warm
from bound_verdict import Cell, cell_text, given_walls, tables
from corpora import CORPORA, add_corpus_arguments
from corpus_files import CorpusFiles, ensure_files

BATCH_BYTES = 1 << 20  # file lines matched in texts of about this size (as the agent reads)
BATCH_ENTRIES = 4096  # journal messages per batch


def cpu_median(fn: Callable[[], Any], repeat: int) -> tuple[float, list[float], Any]:
    """``fn``'s CPU seconds (this process), median of ``repeat`` runs, all runs, last result."""
    times: list[float] = []
    result = None
    for _ in range(repeat):
        t0 = time.process_time()
        result = fn()
        times.append(time.process_time() - t0)
    return statistics.median(times), times, result


def read_bytes(path: Path) -> bytes:
    with path.open("rb", buffering=0) as f:
        return f.read()


def read_messages(files: CorpusFiles, jail: Jail, field: str = "") -> tuple[int, float]:
    """(a) from the journal: the two calls per entry with the jail's matches, nothing else;
    the entries and the loop's CPU seconds (opening the files is left out, as the C
    reader leaves it out of its time). ``field``: a third call per entry, for it, or
    "__REALTIME" for the entry header's time (not in the bound)."""
    from systemd import journal

    reader = journal.Reader(path=str(files.journal))
    add_jail_matches(reader, jail)
    reader.seek_head()
    entries = 0
    next_entry, get = reader._next, reader._get
    t0 = time.process_time()
    if field == "__REALTIME":  # the entry header's time: no data object looked up
        realtime = reader._get_realtime
        while next_entry():
            entries += 1
            try:  # noqa: SIM105 (as below)
                get("MESSAGE")
            except KeyError:
                pass
            realtime()
    elif field:
        while next_entry():
            entries += 1
            try:
                get("MESSAGE")
                get(field)
            except KeyError:
                pass
    else:
        entries = raw_entries(reader)
    seconds = time.process_time() - t0
    reader.close()
    return entries, seconds


def held_messages(files: CorpusFiles, jail: Jail) -> list[bytes]:
    """The jail's messages as ``_get`` gives them, in memory (not timed)."""
    from systemd import journal

    reader = journal.Reader(path=str(files.journal))
    add_jail_matches(reader, jail)
    reader.seek_head()
    out: list[bytes] = []
    while reader._next():
        try:
            value = reader._get("MESSAGE")
        except KeyError:
            value = b""
        out.append(value if isinstance(value, bytes) else str(value).encode())
    reader.close()
    return out


def text_batches(data: bytes) -> list[tuple[str, int]]:
    """The file's text cut at line ends into pieces of about ``BATCH_BYTES`` (not timed)."""
    text = data.decode("utf-8", "replace").rstrip("\n")
    out: list[tuple[str, int]] = []
    start = 0
    while start < len(text):
        cut = text.find("\n", start + BATCH_BYTES)
        end = len(text) if cut < 0 else cut
        piece = text[start:end]
        out.append((piece, piece.count("\n") + 1))
        start = end + 1
    return out


def new_matcher(filter_name: str) -> Any:
    """The jail's compiled filter as ``journalban regex`` builds it (its default mode)."""
    from journalban.cli.regex import resolve_filter
    from journalban.matching.engine import CompiledFilter, LineMatcher

    return LineMatcher(CompiledFilter(resolve_filter(filter_name), None), time.time)


def match_file(matcher: Any, batches: list[tuple[str, int]]) -> list[str]:
    """(b) from a file: ``hits`` over the joined texts; each failure's address text."""
    from journalban.events import FAILURE, JoinedLines, LineBatch

    out: list[str] = []
    for text, count in batches:
        hits = matcher.hits(LineBatch("bound", JoinedLines(text, count), "0"))
        out.extend(h[1] for h in hits if h[4] == FAILURE)
    return out


def match_messages_batched(matcher: Any, messages: list[str]) -> list[str]:
    """(b) from the journal, one way: ``hits`` on batches (the literal prefilter in C first,
    the filter's one alternation on the candidates)."""
    from journalban.events import FAILURE, LineBatch

    out: list[str] = []
    zeros = [0.0] * BATCH_ENTRIES
    for i in range(0, len(messages), BATCH_ENTRIES):
        lines = messages[i : i + BATCH_ENTRIES]
        batch = LineBatch("bound", lines, "0", zeros[: len(lines)], prefixed=False)
        out.extend(h[1] for h in matcher.hits(batch) if h[4] == FAILURE)
    return out


def match_messages_each(matcher: Any, messages: list[str]) -> list[str]:
    """(b) from the journal, the other way: the filter's alternation on every message, as
    the agent's reader child does (``message_hit``)."""
    from journalban.events import FAILURE

    match, hit_of = matcher.message_hit()
    out: list[str] = []
    append = out.append
    for message in messages:
        m = match(message)
        if m is not None and (hit := hit_of(m, message, 0.0)) is not None and hit[4] == FAILURE:
            append(hit[1])
    return out


def decode(raw: list[bytes]) -> list[str]:
    return [value.decode("utf-8", "replace") for value in raw]


def parse_addresses(hosts: list[str]) -> int:
    """Each distinct address text parsed once (what normalising the count's key costs)."""
    parsed = {}
    for host in set(hosts):
        with contextlib.suppress(ValueError):
            parsed[host] = ipaddress.ip_address(host)
    return len(parsed)


def decide(hosts: list[str], maxretry: int = MAXRETRY) -> list[str]:
    """(c) deciding at its barest: a count per address, a record at the count."""
    counts: dict[str, int] = {}
    get = counts.get
    banned: list[str] = []
    append = banned.append
    for host in hosts:
        n = get(host, 0) + 1
        counts[host] = n
        if n == maxretry:
            append(host)
    return banned


def timed(cell: Cell, part: str, fn: Callable[[], Any], repeat: int) -> Any:
    median, runs, result = cpu_median(fn, repeat)
    cell.parts[part] = median
    cell.runs[part] = runs
    return result


def measure_file(files: CorpusFiles, filter_name: str, repeat: int) -> Cell:
    cell = Cell(files.name, "file", files.lines)
    warm([files.log])
    data = timed(cell, "a", lambda: read_bytes(files.log), repeat)
    cell.extra["a, split into lines"] = cpu_median(
        lambda: read_bytes(files.log).split(b"\n"), repeat
    )[0]
    batches = text_batches(data)
    matcher = new_matcher(filter_name)
    match_file(matcher, batches)  # (regexes compiled, date format settled: not timed)
    deciding(cell, timed(cell, "b", lambda: match_file(matcher, batches), repeat), repeat)
    return cell


def deciding(cell: Cell, hosts: list[str], repeat: int) -> None:
    """(c) over the failures ``hosts`` (matching's), and beside it what it leaves out:
    each distinct address parsed."""
    cell.failures = len(hosts)
    cell.bans = len(timed(cell, "c", lambda: decide(hosts), repeat))
    cell.extra["c, each distinct address parsed"] = cpu_median(
        lambda: parse_addresses(hosts), repeat
    )[0]


def measure_journal(files: CorpusFiles, jail: Jail, filter_name: str, binary: Path,
                    repeat: int) -> Cell:  # fmt: skip
    warm([files.journal])
    cell = Cell(files.name, "journal", 0)
    c_runs: list[float] = []
    c_cpu: list[float] = []
    for _ in range(repeat):
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        c_runs.append(floor_c(binary, files, jail).seconds)
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        c_cpu.append(after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime)
    # The fastest run, by its loop's wall or its process's CPU, whichever is less: the
    # tightest budget (the wall of a run that waited for a core is the shared machine's).
    cell.c_seconds = min(*c_runs, *c_cpu)
    cell.runs["C reader"] = c_runs
    cell.runs["C reader, its process's CPU"] = c_cpu
    reads = [read_messages(files, jail) for _ in range(repeat)]
    cell.lines = reads[0][0]
    cell.runs["a"] = [seconds for _, seconds in reads]
    cell.parts["a"] = statistics.median(cell.runs["a"])
    raw = held_messages(files, jail)
    cell.extra["a, decoding the messages"] = cpu_median(lambda: decode(raw), repeat)[0]
    cell.extra["a, with each entry's _SOURCE_REALTIME_TIMESTAMP"] = statistics.median(
        read_messages(files, jail, "_SOURCE_REALTIME_TIMESTAMP")[1] for _ in range(repeat)
    )
    cell.extra["a, with each entry's header time"] = statistics.median(
        read_messages(files, jail, "__REALTIME")[1] for _ in range(repeat)
    )
    messages = decode(raw)
    matcher = new_matcher(filter_name)
    batched = match_messages_batched(matcher, messages)  # (compiled: not timed)
    each = match_messages_each(matcher, messages)
    if batched != each:
        sys.exit(f"{files.name}: the two ways of matching disagree "
                 f"({len(batched)} and {len(each)} failures)")  # fmt: skip
    b1, r1, _ = cpu_median(lambda: match_messages_batched(matcher, messages), repeat)
    b2, r2, _ = cpu_median(lambda: match_messages_each(matcher, messages), repeat)
    cell.extra["b, hits on batches"] = b1
    cell.extra["b, message_hit on each"] = b2
    cell.parts["b"], cell.runs["b"] = (b1, r1) if b1 <= b2 else (b2, r2)
    deciding(cell, batched, repeat)
    return cell


def agent_counts(cell: Cell, files: CorpusFiles, jail: Jail, work: Path) -> None:
    """The agent's own failures and bans (one run on the default configuration)."""
    work.mkdir()
    if cell.source == "file":
        run = journalban_file(work, files, jail)
    else:
        run = journalban_journal(work, files, jail, last_matching_cursor(files, jail))
    cell.agent_failed, cell.agent_banned = run.failed, run.banned
    cell.agent_cpu, cell.agent_wall = run.cpu, run.wall


def main() -> None:
    compile_package()
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_corpus_arguments(parser)
    parser.add_argument("--only", default="file,journal")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--fail2ban", choices=("run", "skip"), default="run")
    parser.add_argument("--fail2ban-wall", action="append", default=[],
                        help="CORPUS:SOURCE=SECONDS: fail2ban-server's wall, given")  # fmt: skip
    parser.add_argument("--no-agent", action="store_true", help="skip the agent's own counts")
    # 1.3 µs: the signal packed to wire bytes (bus/bannedwire.py, bench_banned_signal.py);
    # 6 µs before it, through Message.new_signal and bus.send (runs 1-4 of the bound).
    parser.add_argument("--signal-us", type=float, default=1.3,
                        help="CPU µs of a Banned signal (docs/benchmarks.md)")  # fmt: skip
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    given = given_walls(args.fail2ban_wall)
    print(machine(), "| load before:", load_average(), "| code:", code_version(), flush=True)
    cells: list[Cell] = []
    with contextlib.ExitStack() as stack:
        tmp = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="bench-bound-")))
        binary = build_min_reader(tmp)
        for name in args.corpora.split(","):
            files = ensure_files(args.data / name / str(args.lines), name, args.lines)
            jail = jail_for(name)
            print(f"{name}:", flush=True)
            for source in args.only.split(","):
                if source == "file":
                    cell = measure_file(files, CORPORA[name].filter, args.repeat)
                else:
                    cell = measure_journal(files, jail, CORPORA[name].filter, binary, args.repeat)
                if not args.no_agent:
                    agent_counts(cell, files, jail, tmp / f"{name}-{source}-agent")
                if (name, source) in given:
                    cell.fail2ban_wall, cell.fail2ban_given = given[(name, source)], True
                elif args.fail2ban == "run":
                    work = tmp / f"{name}-{source}-fail2ban"
                    work.mkdir()
                    cell.fail2ban_wall = fail2ban(work, files, jail, source).wall
                cell.load = load_average()
                cells.append(cell)
                print("\n".join(cell_text(cell, args.signal_us)), flush=True)
    print("load after:", load_average())
    print("\n".join(tables(cells, args.signal_us)))
    if args.json:
        args.json.write_text(json.dumps([asdict(c) for c in cells], indent=1))


if __name__ == "__main__":
    main()
