"""`journalban check-config [PATH]`: validate the configuration, name file and line.

Without PATH it checks the installed set: the packaged default, then
/etc/journalban/journalban.yaml, then its jail.d/*.yaml. Errors exit 1;
warnings (exit 0) point at settings that let a local user get addresses banned.
"""

from __future__ import annotations

import argparse
import fnmatch
import json
import sys
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from journalban.agent.build import check_jail_actions
from journalban.cli.idlejails import idle_jail_warnings
from journalban.config.loader import (
    MAIN_FILE,
    PACKAGED_NAME,
    config_files,
    load_config,
    packaged_default_text,
)
from journalban.config.schema import Config, JailConfig, JournalGroup
from journalban.config.yamlsource import KeyPath, Marks, deep_merge, load_yaml, load_yaml_text
from journalban.enforce.checks import enforcement_warnings
from journalban.errors import ConfigError, all_errors
from journalban.matching.library import FilterLibrary, filters_dir_for

# Files syslog writes: any local user can add lines to them with logger(1).
SYSLOG_FED = (
    "/var/log/auth.log*",
    "/var/log/syslog*",
    "/var/log/messages*",
    "/var/log/secure*",
    "/var/log/mail.log*",
    "/var/log/mail.err*",
    "/var/log/mail.warn*",
    "/var/log/maillog*",
    "/var/log/daemon.log*",
    "/var/log/user.log*",
    "/var/log/kern.log*",
)


@dataclass(frozen=True)
class Finding:
    """One error or warning, with where it is."""

    message: str
    file: str | None = None
    line: int | None = None

    def __str__(self) -> str:
        if self.file is None:
            return self.message
        where = self.file if self.line is None else f"{self.file}:{self.line}"
        return f"{where}: {self.message}"


def register(sub: Any) -> None:
    """Add the ``check-config`` subcommand."""
    p = sub.add_parser(
        "check-config",
        help="validate the configuration (errors and warnings with file:line)",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument(
        "path", metavar="PATH", nargs="?", type=Path,
        help=f"the main file to check (default {MAIN_FILE}); jail.d/ and filters.d/ beside it too",
    )  # fmt: skip
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.set_defaults(func=run)


def merged_marks(main: Path | None) -> Marks:
    """Where each merged value came from (the loader validated the same merge)."""
    data, marks = load_yaml_text(packaged_default_text(), PACKAGED_NAME)
    merged: dict[str, Any] = data if isinstance(data, dict) else {}
    for path in config_files(main):
        more, more_marks = load_yaml(path)
        if isinstance(more, dict):
            deep_merge(merged, more, marks, more_marks)
    return marks


def _is_syslog_fed(pattern: str) -> bool:
    return any(
        fnmatch.fnmatch(pattern, fed) or fnmatch.fnmatch(fed.rstrip("*"), pattern)
        for fed in SYSLOG_FED
    )


def _jail_groups(jail: JailConfig, library: FilterLibrary) -> tuple[tuple[JournalGroup, ...], bool]:
    """The journal groups a jail reads through, and whether they are the jail's own."""
    if jail.journal_match is not None:
        return jail.journal_match, True
    try:
        return library.load(jail.filter).journal_match, False
    except (KeyError, ConfigError):
        return (), False


def find_warnings(config: Config, marks: Marks, library: FilterLibrary) -> list[Finding]:
    """Settings that are valid but trust what a local user can write."""
    out: list[Finding] = []

    def warn(path: KeyPath, message: str) -> None:
        file, line = marks.locate(path)
        out.append(Finding(message, file, line))

    if config.journal.directory is not None:
        warn(
            ("journal", "directory"),
            f"journal.directory {config.journal.directory}: entries there are trusted as "
            "written, and whoever writes those files (systemd-journal-remote, a copied journal) "
            "chooses their _UID and _SYSTEMD_UNIT fields",
        )
    for jail in config.enabled_jails:
        base: KeyPath = ("jails", jail.name)
        if jail.source == "journal":
            groups, own = _jail_groups(jail, library)
            where: KeyPath = (*base, "journal_match") if own else (*base, "filter")
            origin = "its journal_match" if own else f"filter {jail.filter!r}"
            if not groups:
                warn(
                    where,
                    f"jail {jail.name}: {origin} has no journal matches, so it reads every "
                    "entry, including those any local user sends with logger(1)",
                )
            for group in groups:
                if not any(field == "_UID" for field, _ in group):
                    conds = ", ".join(f"{f}={v}" for f, v in group)
                    warn(
                        where,
                        f"jail {jail.name}: journal match [{conds}] of {origin} pins no _UID: "
                        "a local user's process can write such entries (logger -t, or a shell "
                        "inside the unit) and get any address banned",
                    )
        else:
            for i, pattern in enumerate(jail.files):
                if _is_syslog_fed(pattern):
                    warn(
                        (*base, "files", i),
                        f"jail {jail.name}: {pattern} is written by syslog, and any local user "
                        "can add lines to it with logger(1) to get an address banned; prefer "
                        "source: journal",
                    )
    return out


def find_idle_jails(config: Config, marks: Marks, library: FilterLibrary) -> list[Finding]:
    """Enabled jails that can never match on this host, where they are configured."""
    return [
        Finding(message, *marks.locate(path))
        for path, message in idle_jail_warnings(config, library)
    ]


@dataclass(frozen=True)
class Outcome:
    """What ``check`` found: errors, warnings, the files read and the jails that will run."""

    errors: list[Finding]
    warnings: list[Finding]
    files: list[str]
    jails: list[str]


def check(main: Path | None, library: FilterLibrary | None = None) -> Outcome:
    """Every error of the configuration at ``main`` (one pass), or its warnings.

    Filters are looked up in ``filters.d/`` beside ``main`` first.
    """
    library = library or FilterLibrary(filters_dir_for(main))
    try:
        config = load_config(main, check_filter=library.check, check_actions=check_jail_actions)
    except ConfigError as exc:
        errors = [Finding(e.message, e.file, e.line) for e in all_errors(exc)]
        return Outcome(errors, [], [], [])
    marks = merged_marks(main)
    warnings = find_warnings(config, marks, library) + find_idle_jails(config, marks, library)
    warnings += [Finding(m, *marks.locate(p)) for p, m in enforcement_warnings(config)]
    jails = [j.name for j in config.enabled_jails]
    return Outcome([], warnings, list(config.files), jails)


def run(args: argparse.Namespace) -> int:
    """Exit 1 when the configuration has an error, else 0 (warnings included)."""
    found = check(args.path)
    if args.json:
        json.dump(
            {
                "ok": not found.errors,
                "files": found.files,
                "jails": found.jails,
                "errors": [asdict(e) for e in found.errors],
                "warnings": [asdict(w) for w in found.warnings],
            },
            sys.stdout,
        )
        sys.stdout.write("\n")
        return 1 if found.errors else 0
    for e in found.errors:
        print(f"error: {e}", file=sys.stderr)
    for w in found.warnings:
        print(f"warning: {w}", file=sys.stderr)
    if found.errors:
        n = len(found.errors)
        print(f"{n} error{'s' if n > 1 else ''}: the configuration is not valid", file=sys.stderr)
        return 1
    print(f"configuration OK ({', '.join(found.files)})")
    running = ", ".join(found.jails) if found.jails else "none (enable one under jails:)"
    print(f"jails that will run: {running}")
    return 0
