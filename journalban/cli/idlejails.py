"""Jails that can never match on this host: check-config's warnings about idle jails.

A jail is valid but idle when its journal match names a user this host does
not have (``_UID=@postfix`` without a postfix user), when it reads the journal
on a host without one, or when none of its files exist.
"""

from __future__ import annotations

import glob
from collections.abc import Callable
from pathlib import Path

from journalban.agent.build import journal_available
from journalban.cli.regexargs import has_journal_files
from journalban.config.schema import Config, JailConfig, JournalGroup
from journalban.config.yamlsource import KeyPath
from journalban.errors import ConfigError
from journalban.matching.library import FilterLibrary

# (where in the configuration, message)
Warning_ = tuple[KeyPath, str]


def _groups(jail: JailConfig, library: FilterLibrary) -> tuple[tuple[JournalGroup, ...], bool]:
    if jail.journal_match is not None:
        return jail.journal_match, True
    try:
        return library.load(jail.filter).journal_match, False
    except (KeyError, ConfigError):
        return (), False


def idle_jail_warnings(
    config: Config, library: FilterLibrary, exists: Callable[[str], list[str]] = glob.glob
) -> list[Warning_]:
    """Where and why each enabled jail cannot match anything here."""
    out: list[Warning_] = []
    has_journal = journal_available(config)
    directory = config.journal.directory
    if has_journal and directory is not None and not has_journal_files(Path(directory)):
        message = f"journal.directory {directory} holds no journal files (yet)"
        out.append((("journal", "directory"), f"{message}: the journal jails read nothing"))
    for jail in config.enabled_jails:
        base: KeyPath = ("jails", jail.name)
        if jail.name in config.enforcement.report_jails:
            continue  # its failures come from a policy service's reports, not from a log
        if jail.source == "files":
            missing = [p for p in jail.files if not exists(p)]
            if missing and len(missing) == len(jail.files):
                listed = ", ".join(missing)
                message = f"none of its files exist ({listed}): it reads nothing until one appears"
                out.append(((*base, "files"), f"jail {jail.name}: {message}"))
            else:
                for i, pattern in enumerate(jail.files):
                    if pattern in missing:
                        message = f"jail {jail.name}: {pattern} does not exist (yet)"
                        out.append(((*base, "files", i), message))
            continue
        if not has_journal:
            message = "reads the journal, but this host has none: it stays idle (use source: files)"
            out.append((base, f"jail {jail.name} {message}"))
            continue
        groups, own = _groups(jail, library)
        # Their own match, or where the jail is switched on (the filter's is not in the config).
        where: KeyPath = (*base, "journal_match") if own else (*base, "enabled")
        unknown = sorted({v[1:] for g in groups for f, v in g if f == "_UID" and v.startswith("@")})
        users = ", ".join(unknown)
        if unknown and all(any(f == "_UID" and v.startswith("@") for f, v in g) for g in groups):
            origin = "its journal match" if own else f"the journal match of filter {jail.filter}"
            message = f"{origin} needs the user {users}, which this host does not have"
            out.append((where, f"jail {jail.name} can never match here: {message}"))
        elif unknown:
            message = f"the user {users} of its journal match does not exist here"
            out.append((where, f"jail {jail.name}: {message}: that group never matches"))
    return out
