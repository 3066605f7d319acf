"""What an import did, for people (text) and programs (``--json``)."""

from __future__ import annotations

from typing import Any

from journalban.migrate.importer import ImportResult


def as_json(result: ImportResult, exit_code: int) -> dict[str, Any]:
    plan = result.plan
    return {
        "source": str(result.source),
        "out": str(result.out),
        "exit": exit_code,
        "complete": result.complete,
        "backend": plan.backend,
        "warnings": plan.warnings,
        "renamed": {j.name: j.new_name for j in plan.jails if j.name != j.new_name},
        "jails": [
            {
                "name": j.name,
                "new_name": j.new_name,
                "enabled": j.enabled,
                "status": j.status,
                "fail2ban_filter": j.filter_name,
                "filter": j.settings.get("filter"),
                "mode": j.settings.get("mode"),
                "reason": j.reason,
                "warnings": j.warnings,
                "settings": j.settings,
            }
            for j in plan.jails
        ],
        "filters": [
            {
                "name": key,
                "fail2ban_filter": f.name,
                "params": f.params,
                "complete": f.complete,
                "reason": f.reason,
                "notes": f.notes,
                "agreement_with_fail2ban": f.agreement or None,
                "regexes": [
                    {"fail2ban": r.original, "journalban": r.converted, "reason": r.reason}
                    for r in f.regexes
                ],
                "ignoreregex": [
                    {"fail2ban": r.original, "journalban": r.converted, "reason": r.reason}
                    for r in f.ignores
                ],
            }
            for key, f in sorted(plan.filters.items())
        ],
        "files": sorted(str(p) for p in (result.written.files if result.written else result.files)),
        "kept": sorted(str(p) for p in (result.written.kept if result.written else [])),
        "check": {"errors": result.check_errors, "warnings": result.check_warnings},
        "bans": None
        if result.bans is None
        else {
            "database": str(result.dbfile),
            "active": len(result.bans.active),
            "history": len(result.bans.history),
            "skipped": result.bans.skipped,
        },
    }


def as_text(result: ImportResult, dry_run: bool) -> str:
    plan = result.plan
    lines = [f"fail2ban configuration {result.source} -> {result.out}"]
    if plan.backend:
        lines.append(f"firewall backend: {plan.backend}")
    lines += [f"warning: {w}" for w in plan.warnings]
    for j in plan.jails:
        state = "enabled " if j.enabled else "disabled"
        name = j.name if j.name == j.new_name else f"{j.name} -> {j.new_name}"
        lines.append(f"jail {name} [{state}]: {j.status}: {j.reason}")
        lines += [f"    warning: {w}" for w in j.warnings] if j.enabled else []
    used = {j.filter_file for j in plan.jails if j.enabled and j.filter_file}
    for key, f in sorted(plan.filters.items()):
        if key not in used:
            continue
        kept = sum(1 for r in f.regexes if r.converted)
        lines.append(f"filter {f.name} -> {key}: {kept} of {len(f.regexes)} regexes converted")
        lines += [f"    left out: {r.original} ({r.reason})" for r in f.regexes if not r.converted]
        lines += [f"    note: {n}" for n in f.notes]
    if result.bans is not None:
        lines.append(
            f"bans from {result.dbfile}: {len(result.bans.active)} active, "
            f"{len(result.bans.history)} in the history, {len(result.bans.skipped)} left out"
        )
    verb = "would write" if dry_run else "wrote"
    files = result.written.files if result.written else result.files
    lines += [f"{verb} {p}" for p in sorted(files)]
    if result.written:
        lines += [f"kept existing {p}" for p in result.written.kept]
    lines += [f"check-config error: {e}" for e in result.check_errors]
    lines += [f"check-config warning: {w}" for w in result.check_warnings]
    return "\n".join(lines)
