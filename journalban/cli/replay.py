"""`journalban replay`: what the jails would have decided on past lines.

Before turning a detector on, an admin asks "what would it have banned last
week?": replay runs the whole jail logic over a log file, journal files or
the system journal by the lines' own time, from empty state, with no state
database and no firewall, and prints the decisions.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections import Counter
from datetime import datetime
from pathlib import Path
from typing import Any

from journalban.cli.regex import iso_time
from journalban.cli.regexargs import check_log
from journalban.config.durations import parse_duration
from journalban.config.loader import load_config
from journalban.errors import JournalbanError
from journalban.events import Ban
from journalban.matching.library import FilterLibrary, filters_dir_for

EXIT_BAD_INPUT = 2
TOP = 10


def register(sub: Any) -> None:
    p = sub.add_parser(
        "replay",
        help="run the jails (every detector) over past lines and print what they would have banned",
    )
    p.add_argument("source", metavar="SOURCE", help="a log file, a journal directory, or 'journal'")
    p.add_argument(
        "--config",
        type=Path,
        help="main configuration file (default /etc/journalban/journalban.yaml)",
    )
    p.add_argument(
        "--jail", action="append", help="only this jail (repeatable; default: every enabled jail)"
    )
    p.add_argument("--since", help="only lines from this time on (ISO 8601, or a duration ago: 7d)")
    p.add_argument("--until", help="only lines before this time (ISO 8601, or a duration ago)")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.set_defaults(func=run)


def parse_time(text: str, now: float) -> float:
    """An ISO 8601 time (local when it names no offset) or a duration before ``now``.

    Raises:
        ValueError: neither.
    """
    try:
        return datetime.fromisoformat(text).timestamp()
    except ValueError:
        pass
    try:
        ago = parse_duration(text)
    except ValueError:
        raise ValueError(
            f"not a time: {text!r} (ISO 8601 such as 2026-12-01T08:00, or a duration ago such as 7d)"
        ) from None
    return now - (ago or 0.0)


def run(args: argparse.Namespace) -> int:
    """Exit 0 with the decisions, 2 on bad input (named on stderr)."""
    from journalban.cli.replayrun import file_batches, journal_batches, replay

    try:
        now = time.time()
        since = None if args.since is None else parse_time(args.since, now)
        until = None if args.until is None else parse_time(args.until, now)
        check_log(args.source)
        config = load_config(
            args.config, check_filter=FilterLibrary(filters_dir_for(args.config)).check
        )
        enabled = [j.name for j in config.enabled_jails]
        jails = args.jail or enabled
        for name in jails:
            if name not in config.jails:
                raise ValueError(f"no jail {name!r} in the configuration")
        if args.jail:
            config = _enabled(config, jails)
        path = Path(args.source)
        if args.source == "journal":
            batches = journal_batches(None)
        elif path.is_dir():
            batches = journal_batches(path)
        elif path.is_file():
            batches = file_batches(path)
        else:
            raise ValueError(f"{args.source}: not a file, a journal directory or 'journal'")
        library = FilterLibrary(filters_dir_for(args.config))
        result = replay(config, jails, batches, since=since, until=until, library=library)
    except (JournalbanError, ValueError, OSError) as exc:
        message = str(exc)
        if args.json:
            json.dump({"error": "bad input", "message": message}, sys.stderr)
            sys.stderr.write("\n")
        else:
            print(f"journalban replay: {message}", file=sys.stderr)
        return EXIT_BAD_INPUT
    if args.json:
        # dumps: the C encoder (dump to a stream encodes in Python, 100k bans in seconds)
        sys.stdout.write(json.dumps(as_json(result)) + "\n")
    else:
        print_summary(result)
    return 0


def _enabled(config: Any, jails: list[str]) -> Any:
    """The configuration with exactly ``jails`` enabled (a disabled one may be replayed)."""
    import dataclasses

    changed = {
        name: dataclasses.replace(cfg, enabled=name in jails) for name, cfg in config.jails.items()
    }
    return dataclasses.replace(config, jails=changed)


def ban_json(ban: Ban) -> dict[str, Any]:
    return {
        "jail": ban.jail,
        "address": ban.address,
        "reason": ban.reason,
        "at": iso_time(ban.banned_at),
        "until": iso_time(ban.expires_at),
    }


def as_json(result: Any) -> dict[str, Any]:
    return {
        "lines": result.lines,
        "failures": result.failures,
        "bans": [ban_json(b) for b in result.bans],
        "accounts_under_attack": [
            {"jail": j, "account": a, "since": iso_time(s), "until": iso_time(u)}
            for j, a, s, u in result.accounts
        ],
    }


def print_summary(result: Any) -> None:
    out = sys.stdout
    out.write(f"Lines: {result.lines}, failures: {result.failures}, bans: {len(result.bans)}\n")
    by_reason = Counter((b.jail, b.reason) for b in result.bans)
    if by_reason:
        out.write("\nBans by jail and reason:\n")
        for (jail, reason), n in sorted(by_reason.items()):
            out.write(f"  {jail:<16} {reason:<12} {n}\n")
    accounts = Counter((j, a) for j, a, _, _ in result.accounts)
    if accounts:
        out.write("\nAccounts under attack (times):\n")
        for (jail, account), n in accounts.most_common(TOP):
            out.write(f"  {jail:<16} {account!r:<24} {n}\n")
    prefixes = Counter((b.jail, b.address) for b in result.bans if b.reason == "subnet")
    if prefixes:
        out.write("\nPrefixes banned (times):\n")
        for (jail, prefix), n in prefixes.most_common(TOP):
            out.write(f"  {jail:<16} {prefix:<24} {n}\n")
