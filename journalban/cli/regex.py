"""`journalban regex LOG FILTER`: try a filter on a log before enabling a jail.

LOG is a log file, a directory of journal files, ``journal`` (the system
journal, through the filter's journal matches) or else one log line. FILTER is
a filter file, a shipped filter's name or else one failregex (with <HOST>).
Every input line is counted once: lines = ignored + matched + missed.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, TextIO

from journalban.cli.regexargs import check_filter_name, check_log
from journalban.cli.regexinput import (
    CHUNK_BYTES,
    Batch,
    read_file,
    read_file_text,
    read_journal,
)
from journalban.cli.regexjobs import add_counts, count_parts, first_part, jobs_for
from journalban.errors import ConfigError
from journalban.matching.counting import count_text
from journalban.matching.denselines import Density
from journalban.matching.engine import IGNORED, MATCHED, CompiledFilter, LineMatcher
from journalban.matching.filterdef import FilterDef, RegexDef, load_filter_file
from journalban.matching.library import FilterLibrary
from journalban.matching.tags import compile_failregex

JOURNAL_DATES = "journal entry time"


def register(sub: Any) -> None:
    """Add the ``regex`` subcommand."""
    p = sub.add_parser(
        "regex",
        help="test a filter against a log file, journal files or one line",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("log", metavar="LOG", help="log file, journal directory, 'journal', or a line")
    p.add_argument("filter", metavar="FILTER", help="filter file, filter name, or a failregex")
    p.add_argument("--mode", help="the filter's mode (default: its first)")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.add_argument("--print-all-matched", action="store_true", help="print every matched line")
    p.add_argument("--print-all-missed", action="store_true", help="print every missed line")
    p.add_argument("--print-all-ignored", action="store_true", help="print every ignored line")
    p.set_defaults(func=run)


def resolve_filter(spec: str, library: FilterLibrary | None = None) -> FilterDef:
    """A filter file, else a filter by name, else a literal failregex.

    Raises:
        ConfigError: a bad filter file, or a regex without <HOST> that does not compile.
    """
    if _is_file(Path(spec)):
        return load_filter_file(Path(spec))
    library = library or FilterLibrary()
    try:
        check_filter_name(spec, library)
    except ValueError as exc:
        raise ConfigError(str(exc)) from None
    try:
        return library.load(spec)
    except KeyError:
        pass
    regex = compile_failregex(spec, "<command line>")
    return FilterDef(
        name="<command line>",
        file="<command line>",
        failregex=(RegexDef(spec, regex, frozenset({"normal"})),),
    )


@dataclass
class Tally:
    """What `journalban regex` found, ready to print or dump as JSON."""

    lines: int = 0
    matched: int = 0
    ignored: int = 0
    regex_hits: dict[int, int] = field(default_factory=dict)
    matches: list[dict[str, Any]] = field(default_factory=list)
    missed_lines: list[tuple[int, str, str]] = field(default_factory=list)
    ignored_lines: list[tuple[int, str]] = field(default_factory=list)

    @property
    def missed(self) -> int:
        return self.lines - self.matched - self.ignored


def iso_time(when: float | None) -> str | None:
    """Local time in ISO 8601 with its UTC offset."""
    if when is None:
        return None
    return datetime.fromtimestamp(when).astimezone().isoformat()


def scan(
    matcher: LineMatcher,
    batches: Any,
    *,
    keep_matches: bool,
    keep_missed: bool,
    keep_ignored: bool,
    keep_text: bool = False,
) -> Tally:
    """Run every batch through the matcher; only candidate lines cost more than a count."""
    tally = Tally()
    hits = tally.regex_hits
    for lines, times in batches:
        lines_: list[str] = lines
        base = tally.lines
        prefixed = not times
        seen: dict[int, str] = {}
        for o in matcher.match_lines(lines_, prefixed, times):
            if o.kind == MATCHED:
                tally.matched += 1
                hits[o.regex] = hits.get(o.regex, 0) + 1
                if keep_matches:
                    tally.matches.append(
                        {
                            "line": base + o.index + 1,
                            "host": str(o.address),
                            "user": o.user,
                            "time": iso_time(o.time),
                            "regex": o.regex,
                        }
                    )
                    if keep_text:
                        tally.matches[-1]["text"] = lines_[o.index]
                if keep_missed:
                    seen[o.index] = ""
            elif o.kind == IGNORED:
                tally.ignored += 1
                if keep_ignored:
                    tally.ignored_lines.append((base + o.index + 1, lines_[o.index]))
                if keep_missed:
                    seen[o.index] = ""
            elif keep_missed and o.reason:
                seen[o.index] = o.reason
        if keep_missed:
            for i, line in enumerate(lines_):
                reason = seen.get(i)
                if reason is None or reason:
                    tally.missed_lines.append((base + i + 1, line, reason or ""))
        tally.lines += len(lines_)
    return tally


def count_file(matcher: LineMatcher, path: Path, jobs: int | None = None) -> Tally:
    """The summary's counts for a log file, without an object per line.

    ``jobs``: processes counting parts of the file at once (default: one per
    CPU for a big file, see regexjobs); the counts are the same.
    """
    jobs = jobs_for(path.stat().st_size) if jobs is None else jobs
    counts = None
    if jobs > 1:
        # The first MiB here first: the children start with the date format settled.
        head = first_part(path, CHUNK_BYTES)
        counts = _count_range(matcher, path, 0, head)
        add_counts(counts, count_parts(matcher, path, jobs, _count_range, head))
        if len(matcher.dates.hits) > 1:
            # Several date formats: which one reads a line depends on the lines before.
            matcher.dates.forget()
            matcher.heads.forget()
            counts = None
    if counts is None:
        counts = _count_range(matcher, path, 0, None)
    return Tally(counts["lines"], counts["matched"], counts["ignored"], counts["regex_hits"])


def _count_range(matcher: LineMatcher, path: Path, start: int, stop: int | None) -> dict[str, Any]:
    """The counts of one part of a file; "dates": the date format hits it added."""
    before = dict(matcher.dates.hits)
    lines = matched = ignored = 0
    regex_hits: dict[int, int] = {}
    density = Density()
    for text in read_file_text(path, start, stop):
        density.lines = text.count("\n") + 1
        m, i = count_text(matcher, text, regex_hits, density)
        matched += m
        ignored += i
        lines += density.lines
    dates = {
        k: n - before.get(k, 0) for k, n in matcher.dates.hits.items() if n != before.get(k, 0)
    }
    return {"lines": lines, "matched": matched, "ignored": ignored,
            "regex_hits": regex_hits, "dates": dates}  # fmt: skip


def _is_file(path: Path) -> bool:
    # A line or a regex longer than a file name can be is not a file (ENAMETOOLONG).
    try:
        return path.is_file()
    except OSError:
        return False


def _is_dir(path: Path) -> bool:
    try:
        return path.is_dir()
    except OSError:
        return False


def _batches(log: str) -> tuple[str, Any]:
    """A description of LOG and its batches (journal inputs need the filter: see run)."""
    path = Path(log)
    if _is_file(path):
        return f"log file {path}", read_file(path)
    one: list[Batch] = [([log], [])]
    return "one line", iter(one)


def run(args: argparse.Namespace) -> int:
    """Exit 0 when the run completed (whatever matched), 1 on bad input."""
    try:
        fdef = resolve_filter(args.filter)
        compiled = CompiledFilter(fdef, args.mode)
    except (ConfigError, ValueError) as exc:
        return _fail(args, str(exc))
    try:
        check_log(args.log)
    except ValueError as exc:
        return _fail(args, str(exc))
    path = Path(args.log)
    journal_input = args.log == "journal" or _is_dir(path)
    if args.log == "journal":
        source, batches = "the system journal", read_journal(None, fdef.journal_match)
    elif journal_input:
        source, batches = f"journal files in {path}", read_journal(path, fdef.journal_match)
    else:
        source, batches = _batches(args.log)
    matcher = LineMatcher(compiled, time.time)
    keep_lines = (
        args.json or args.print_all_matched or args.print_all_missed or args.print_all_ignored
    )
    try:
        if not keep_lines and not journal_input and _is_file(path):
            tally = count_file(matcher, path)
        else:
            tally = scan(
                matcher,
                batches,
                keep_matches=args.json or args.print_all_matched,
                keep_missed=args.print_all_missed,
                keep_ignored=args.print_all_ignored,
                keep_text=args.print_all_matched,
            )
    except OSError as exc:
        return _fail(args, f"cannot read {args.log}: {exc}")
    dates = (
        {JOURNAL_DATES: tally.lines} if journal_input and tally.lines else dict(matcher.dates.hits)
    )
    if args.json:
        json.dump(_as_json(tally, compiled, dates, args), sys.stdout)
        sys.stdout.write("\n")
        return 0
    _print_human(sys.stdout, tally, compiled, dates, source, args)
    return 0


def _fail(args: argparse.Namespace, message: str) -> int:
    """Bad input: a line on stderr (one JSON object with --json); exit 1."""
    if args.json:
        json.dump({"error": "bad input", "message": message}, sys.stderr)
        sys.stderr.write("\n")
    else:
        print(f"journalban regex: {message}", file=sys.stderr)
    return 1


def _patterns(compiled: CompiledFilter) -> list[tuple[int, str]]:
    return [(number, compiled.fdef.failregex[number].pattern) for number, _ in compiled.regexes]


def _as_json(
    tally: Tally, compiled: CompiledFilter, dates: dict[str, int], args: argparse.Namespace
) -> dict[str, Any]:
    """Everything the text shows; the --print-all-* lines too when asked for."""
    active = {number for number, _ in compiled.regexes}
    out: dict[str, Any] = {
        "filter": compiled.fdef.name,
        "mode": compiled.mode,
        "lines": tally.lines,
        "matched": tally.matched,
        "ignored": tally.ignored,
        "missed": tally.missed,
        "matches": tally.matches,
        "regexes": [
            {
                "number": number,
                "pattern": r.pattern,
                "modes": sorted(r.modes),
                "active": number in active,
                "hits": tally.regex_hits.get(number, 0),
            }
            for number, r in enumerate(compiled.fdef.failregex)
        ],
        "dates": [{"format": name, "hits": n} for name, n in dates.items()],
    }
    if args.print_all_missed:
        out["missed_lines"] = [
            {"line": n, "text": text, "reason": reason} for n, text, reason in tally.missed_lines
        ]
    if args.print_all_ignored:
        out["ignored_lines"] = [{"line": n, "text": text} for n, text in tally.ignored_lines]
    return out


def _print_human(
    out: TextIO,
    tally: Tally,
    compiled: CompiledFilter,
    dates: dict[str, int],
    source: str,
    args: argparse.Namespace,
) -> None:
    fdef = compiled.fdef
    out.write(f"Filter: {fdef.name} ({fdef.file}), mode {compiled.mode}\n")
    out.write(f"Input:  {source}\n\n")
    out.write(f"Failregex: {tally.matched} matched\n")
    for number, pattern in _patterns(compiled):
        out.write(f"  {number:2d}) [{tally.regex_hits.get(number, 0)}] {pattern}\n")
    out.write(f"Ignoreregex: {tally.ignored} ignored\n")
    for ignore in fdef.ignoreregex:
        out.write(f"      {ignore.pattern}\n")
    if fdef.sessions is not None:
        # Lines are matched one by one here; a session's lines only together.
        out.write(
            "Sessions: this filter also counts failures that name no address, through "
            "their session; `journalban replay` shows those\n"
        )
    out.write("Date formats:\n")
    for name, n in sorted(dates.items(), key=lambda item: -item[1]):
        out.write(f"      [{n}] {name}\n")
    if not dates:
        out.write("      none found\n")
    out.write(
        f"\nLines: {tally.lines} lines, {tally.ignored} ignored, "
        f"{tally.matched} matched, {tally.missed} missed\n"
    )
    if args.print_all_matched:
        out.write(f"\nMatched lines ({tally.matched}):\n")
        for match in tally.matches:
            out.write(f"{match['line']}: {match['text']}\n")
    if args.print_all_ignored:
        out.write(f"\nIgnored lines ({tally.ignored}):\n")
        for number, line in tally.ignored_lines:
            out.write(f"{number}: {line}\n")
    elif tally.ignored:
        out.write(f"\n{tally.ignored} ignored lines: see them with --print-all-ignored\n")
    if args.print_all_missed:
        out.write(f"\nMissed lines ({tally.missed}):\n")
        for number, line, reason in tally.missed_lines:
            out.write(f"{number}: {line}" + (f"  ({reason})\n" if reason else "\n"))
    elif tally.missed:
        out.write(f"{tally.missed} missed lines: see them with --print-all-missed\n")
