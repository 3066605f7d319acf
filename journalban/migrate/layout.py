"""The files an import writes, laid out like /etc/journalban.

``jail.d/50-imported.yaml`` (the jails and the firewall backend),
``filters.d/f2b-NAME.yaml`` (converted filters: the ``f2b-`` prefix never
shadows a shipped filter) and ``journalban.yaml`` only when there is none.
Existing files are kept unless ``force``; nothing is written on a dry run.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from journalban.migrate.filterconv import ConvertedFilter
from journalban.migrate.jailconv import ImportPlan

HEADER = "# Written by `journalban import-fail2ban` from {src}. Check with: journalban check-config {main}\n"
MAIN_TEXT = (
    "# journalban's main configuration (see docs/configuration.md).\n"
    "# The imported jails are in jail.d/50-imported.yaml, converted filters in filters.d/.\n"
)


@dataclass
class Written:
    files: dict[Path, str] = field(default_factory=dict)  # path -> text
    kept: list[Path] = field(default_factory=list)  # existing files not overwritten


def _dump(data: Any) -> str:
    return yaml.safe_dump(data, sort_keys=False, default_flow_style=False, allow_unicode=True)


def _pin(groups: list[list[str]]) -> list[list[str]]:
    return [g if any(c.startswith("_UID=") for c in g) else [*g, "_UID=0"] for g in groups]


def filter_text(key: str, converted: ConvertedFilter) -> str:
    data = dict(converted.data or {})
    if "journal_match" in data:
        data["journal_match"] = _pin(data["journal_match"])
    notes = list(converted.notes)
    left = [r for r in converted.regexes if not r.converted]
    notes += [f"left out: {r.original} ({r.reason})" for r in left]
    if notes:
        data["notes"] = " ".join(notes)
    head = f"# {key}: converted from fail2ban's {', '.join(converted.files) or converted.name}\n"
    return head + _dump(data)


def plan_files(plan: ImportPlan, src: Path, out: Path) -> dict[Path, str]:
    """Every file the import would write, with its text."""
    main = out / "journalban.yaml"
    jails: dict[str, Any] = {}
    recidive: dict[str, Any] | None = None
    for j in plan.jails:
        if j.status == "built-in" and j.enabled:
            keys = ("maxretry", "findtime", "bantime")
            recidive = {"enabled": True, **{k: j.settings[k] for k in keys if k in j.settings}}
            continue
        if j.status == "not converted" or not j.enabled:
            continue
        jails[j.new_name] = j.settings
    # The packaged default enables sshd: follow fail2ban if its sshd jail was off.
    for j in plan.jails:
        if j.new_name == "sshd" and not j.enabled:
            jails["sshd"] = {"enabled": False}
    data: dict[str, Any] = {}
    if plan.backend is not None:
        data["firewall"] = {"backend": plan.backend}
    if recidive is not None:
        data["recidive"] = recidive
    data["jails"] = jails
    files = {out / "jail.d" / "50-imported.yaml": HEADER.format(src=src, main=main) + _dump(data)}
    used = {j.filter_file for j in plan.jails if j.enabled and j.filter_file}
    for key, converted in sorted(plan.filters.items()):
        if key in used:
            files[out / "filters.d" / f"{key}.yaml"] = filter_text(key, converted)
    files[main] = MAIN_TEXT
    return files


def write_files(files: dict[Path, str], *, force: bool, dry_run: bool) -> Written:
    """Write ``files``; journalban.yaml is only ever created, others kept unless ``force``."""
    written = Written()
    for path, text in files.items():
        exists = path.exists()
        if exists and (path.name == "journalban.yaml" or not force):
            written.kept.append(path)
            continue
        written.files[path] = text
        if dry_run:
            continue
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.tmp")
        tmp.write_text(text, encoding="utf-8")
        os.replace(tmp, path)
    return written
