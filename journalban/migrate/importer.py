"""One import: read the fail2ban directory, plan the files, write them, check the result."""

from __future__ import annotations

import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from journalban.errors import ConfigError
from journalban.matching.library import FilterLibrary
from journalban.migrate.bans import BanImport, read_fail2ban_bans, write_bans
from journalban.migrate.inifile import IniReader
from journalban.migrate.jailconv import ImportPlan, JailConverter
from journalban.migrate.layout import Written, plan_files, write_files
from journalban.migrate.stock import packaged_sums

EXIT_OK = 0
EXIT_BAD_INPUT = 2
EXIT_PARTIAL = 3


@dataclass
class ImportResult:
    source: Path
    out: Path
    plan: ImportPlan
    files: dict[Path, str]
    written: Written | None = None
    check_errors: list[str] = field(default_factory=list)
    check_warnings: list[str] = field(default_factory=list)
    bans: BanImport | None = None
    dbfile: Path | None = None

    @property
    def complete(self) -> bool:
        used = {j.filter_file for j in self.plan.jails if j.enabled and j.filter_file}
        return (
            all(
                j.status in ("shipped", "converted", "built-in")
                for j in self.plan.jails
                if j.enabled
            )
            and all(self.plan.filters[k].complete for k in used)
            and not self.check_errors
        )


def existing_targets(files: dict[Path, str]) -> list[Path]:
    """Files the import would replace (journalban.yaml is never replaced, so not listed)."""
    return [p for p in files if p.exists() and p.name != "journalban.yaml"]


def plan_import(
    source: Path, out: Path, sums: dict[str, str] | None = None, *, commands: bool = False
) -> ImportResult:
    """Raises: ConfigError when ``source`` is not a readable fail2ban directory."""
    if not source.is_dir():
        raise ConfigError("not a directory", str(source))
    converter = JailConverter(source, packaged_sums() if sums is None else sums, commands=commands)
    plan = converter.convert_all()
    return ImportResult(source, out, plan, plan_files(plan, source, out))


def fail2ban_dbfile(source: Path) -> Path | None:
    try:
        ini = IniReader(source).read("fail2ban")
    except ConfigError:
        return None
    for section in ("Definition", "DEFAULT"):
        try:
            value = ini.get(section, "dbfile").strip()
        except ConfigError:
            continue
        return None if value.lower() in ("", ":memory:", "none") else Path(value)
    return None


def read_bans(result: ImportResult, now: float | None = None) -> None:
    """Raises: ConfigError when fail2ban's database is missing or unreadable."""
    db = fail2ban_dbfile(result.source)
    if db is None:
        raise ConfigError("fail2ban.conf names no dbfile", str(result.source / "fail2ban.conf"))
    if not db.is_file():
        raise ConfigError("fail2ban's database does not exist", str(db))
    names = {j.name: j.new_name for j in result.plan.jails}
    result.dbfile = db
    result.bans = read_fail2ban_bans(db, names, time.time() if now is None else now)


def check_files(result: ImportResult) -> None:
    """check-config over the planned files, in a scratch copy when they were not written."""
    from journalban.cli.checkconfig import check

    with tempfile.TemporaryDirectory(prefix="journalban-import-") as tmp:
        root = Path(tmp)
        for path, text in result.files.items():
            target = root / path.relative_to(result.out)
            if path.name == "journalban.yaml" and path.exists():
                text = path.read_text(encoding="utf-8")
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(text, encoding="utf-8")
        main = root / "journalban.yaml"
        found = check(main, FilterLibrary(root / "filters.d"))
        errors, warnings = found.errors, found.warnings
    scratch = str(root)
    result.check_errors = [str(e).replace(scratch, str(result.out)) for e in errors]
    result.check_warnings = [str(w).replace(scratch, str(result.out)) for w in warnings]


def finish(result: ImportResult, *, force: bool, dry_run: bool, state_file: Path | None) -> None:
    """Write the files (and bans) unless ``dry_run``."""
    result.written = write_files(result.files, force=force, dry_run=dry_run)
    if result.bans is not None and state_file is not None and not dry_run:
        write_bans(state_file, result.bans)
