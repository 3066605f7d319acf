"""`journalban import-fail2ban [DIR]`: turn a fail2ban configuration into journalban's.

Reads DIR (default /etc/fail2ban) as fail2ban does and writes, under --out
(default /etc/journalban): jail.d/50-imported.yaml, filters.d/f2b-NAME.yaml
for filters that had to be converted, and journalban.yaml only if absent.
Stop fail2ban before importing its bans (--bans) and before starting
journalban, so that the two never ban at once.

Exit status: 0 everything converted, 3 some jails or filters were not,
2 bad input (no such directory, unreadable files, files in the way).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from journalban.errors import ConfigError, JournalbanError


def register(sub: Any) -> None:
    p = sub.add_parser(
        "import-fail2ban",
        help="convert a fail2ban configuration (jails, filters, bans) to journalban's",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("source", metavar="DIR", nargs="?", type=Path, default=Path("/etc/fail2ban"))
    p.add_argument("--out", type=Path, default=Path("/etc/journalban"), help="where to write")
    p.add_argument("--bans", action="store_true", help="import fail2ban's bans and ban history")
    p.add_argument(
        "--state", type=Path, default=None,
        help="journalban's state database for --bans (default: state_dir/state.sqlite)",
    )  # fmt: skip
    p.add_argument(
        "--command-actions", action="store_true",
        help="turn actions journalban has no equivalent for into command actions "
        "(their actionban as an argv, no shell; refused when it needs one)",
    )  # fmt: skip
    p.add_argument("--dry-run", action="store_true", help="write nothing, say what would be")
    p.add_argument("--force", action="store_true", help="replace files an earlier import wrote")
    p.add_argument("--json", action="store_true", help="print the report as one JSON object")
    p.set_defaults(func=run)


def _state_file(out: Path, given: Path | None) -> Path:
    if given is not None:
        return given
    from journalban.config.loader import load_config

    try:
        config = (
            load_config(out / "journalban.yaml") if (out / "journalban.yaml").exists() else None
        )
    except ConfigError:
        config = None
    return Path(config.state_dir if config else "/var/lib/journalban") / "state.sqlite"


def run(args: argparse.Namespace) -> int:
    from journalban.migrate import importer
    from journalban.migrate.report import as_json, as_text

    try:
        result = importer.plan_import(args.source, args.out, commands=args.command_actions)
        if args.bans:
            importer.read_bans(result)
    except ConfigError as exc:
        print(f"journalban import-fail2ban: {exc}", file=sys.stderr)
        return importer.EXIT_BAD_INPUT
    in_the_way = importer.existing_targets(result.files)
    if in_the_way and not args.force:
        names = ", ".join(str(p) for p in in_the_way)
        print(
            f"journalban import-fail2ban: {names} already exist; nothing written "
            "(--force replaces them)",
            file=sys.stderr,
        )
        return importer.EXIT_BAD_INPUT
    importer.check_files(result)
    try:
        importer.finish(
            result,
            force=args.force,
            dry_run=args.dry_run,
            state_file=_state_file(args.out, args.state) if args.bans else None,
        )
    except (OSError, JournalbanError) as exc:
        print(f"journalban import-fail2ban: {exc}", file=sys.stderr)
        return importer.EXIT_BAD_INPUT
    code = importer.EXIT_OK if result.complete else importer.EXIT_PARTIAL
    if args.json:
        json.dump(as_json(result, code), sys.stdout, indent=1)
        sys.stdout.write("\n")
    else:
        print(as_text(result, args.dry_run))
    return code
