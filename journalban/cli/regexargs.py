"""What `journalban regex` makes of its LOG and FILTER arguments, with errors that say what to do.

LOG may be one whole log line, so a typo in a file name used to be read as a
line that matched nothing; a log line has spaces, a file name (almost) never:
a word without spaces that names nothing is "no such file". FILTER may be a
failregex, which has a <HOST> (or <ADDR>) tag: a word without one is a filter
name, and an unknown one lists those available.
"""

from __future__ import annotations

import re
from pathlib import Path

from journalban.config.hints import similar
from journalban.matching.library import FilterLibrary

SYSTEM_JOURNAL_DIRS = (Path("/run/log/journal"), Path("/var/log/journal"))
LOG_FORMS = "LOG is a log file, a directory of journal files, 'journal', or one whole log line"


def has_journal_files(directory: Path) -> bool:
    """Whether ``directory`` (or a machine-id directory in it) holds journal files."""
    for pattern in ("*.journal", "*.journal~"):
        if any(directory.glob(pattern)) or any(directory.glob(f"*/{pattern}")):
            return True
    return False


def check_log(log: str, journal_dirs: tuple[Path, ...] = SYSTEM_JOURNAL_DIRS) -> None:
    """Raises ValueError when LOG names input that is not there."""
    if log == "journal":
        if not any(d.is_dir() and has_journal_files(d) for d in journal_dirs):
            where = " or ".join(str(d) for d in journal_dirs)
            raise ValueError(f"no journal files were found in {where}")
        return
    path = Path(log)
    try:
        if path.is_dir():
            if not has_journal_files(path):
                raise ValueError(f"no journal files were found in {path}")
            return
        if path.exists():
            return
    except OSError:  # a line longer than a file name may be
        return
    if log.strip() and not any(c.isspace() for c in log.strip()):
        raise ValueError(f"no such file: {log} ({LOG_FORMS})")


def check_filter_name(spec: str, library: FilterLibrary) -> None:
    """Raises ValueError when FILTER is a word that names no filter (not a failregex)."""
    if "/" in spec and not any(c.isspace() for c in spec) and "<" not in spec:
        raise ValueError(f"no such filter file: {spec}")
    if not re.fullmatch(r"[A-Za-z0-9_.@-]+", spec):
        return  # a failregex: compiling it says what is wrong with it
    if spec.endswith((".yaml", ".yml")):
        raise ValueError(f"no such filter file: {spec}")
    names = library.names()
    if spec in names:
        return
    close = similar(spec, names)
    hint = f" (did you mean {close}?)" if close else ""
    raise ValueError(f"no filter {spec}{hint}; available: {', '.join(names)}")
