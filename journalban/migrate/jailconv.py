"""fail2ban jails (``jail.conf``, ``jail.local``, ``jail.d/``) as journalban jails."""

from __future__ import annotations

import glob
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from journalban.config.yamlsource import Marks
from journalban.errors import ConfigError
from journalban.matching.aliases import ALIASES
from journalban.matching.filterdef import parse_filter
from journalban.matching.library import FilterLibrary
from journalban.migrate.actionconv import plan_actions
from journalban.migrate.agreement import check_against_fail2ban
from journalban.migrate.checks import injectable, slow_regexes
from journalban.migrate.filterconv import ConvertedFilter, convert_filter, journal_groups
from journalban.migrate.inifile import IniFiles, IniReader
from journalban.migrate.stock import filter_state
from journalban.migrate.values import (
    action_calls,
    as_bool,
    duration,
    ignore_entries,
    jail_name,
    parse_call,
    port_spec,
    words,
)

NOT_JAILS = {"INCLUDES", "Definition", "Init", "DEFAULT"}
# Values fail2ban provides to jail.conf's interpolation.
PROVIDED = {"fail2ban_version": "1.0", "fail2ban_confpath": "/etc/fail2ban"}
INCREMENT_KEYS = {
    "bantime.factor": "factor",
    "bantime.multipliers": "multipliers",
    "bantime.maxtime": "maxtime",
    "bantime.overalljails": "across_jails",
}


@dataclass
class JailResult:
    """What became of one fail2ban jail."""

    name: str
    new_name: str
    enabled: bool
    status: str  # "shipped", "converted", "not converted"
    settings: dict[str, Any] = field(default_factory=dict)
    filter_name: str = ""
    filter_file: str | None = None  # f2b-NAME when a converted filter is used
    reason: str = ""
    warnings: list[str] = field(default_factory=list)
    backend: str | None = None


@dataclass
class ImportPlan:
    jails: list[JailResult] = field(default_factory=list)
    filters: dict[str, ConvertedFilter] = field(default_factory=dict)  # f2b-NAME -> filter
    backend: str | None = None
    warnings: list[str] = field(default_factory=list)


def jail_names(ini: IniFiles) -> list[str]:
    return [s for s in ini.sections if s not in NOT_JAILS and not s.startswith("KNOWN/")]


class JailConverter:
    """Converts the jails of one fail2ban directory."""

    def __init__(
        self,
        root: Path,
        sums: dict[str, str],
        library: FilterLibrary | None = None,
        *,
        commands: bool = False,
    ) -> None:
        self.commands = commands
        self.root = root
        self.reader = IniReader(root)
        self.sums = sums
        self.library = library or FilterLibrary(override_dir=None)
        self.extra = {**PROVIDED, "fail2ban_confpath": str(root)}

    def _get(self, ini: IniFiles, jail: str, option: str) -> str | None:
        if not ini.has(jail, option):
            return None
        return ini.get(jail, option, self.extra)

    def convert_all(self) -> ImportPlan:
        """Raises: ConfigError when jail.conf/jail.local cannot be read."""
        ini = self.reader.read("jail")
        plan = ImportPlan()
        taken: set[str] = set()
        for name in jail_names(ini):
            new = jail_name(name, taken)
            taken.add(new)
            try:
                result = self.convert(ini, name, new, plan)
            except (ConfigError, ValueError) as exc:
                enabled = as_bool(
                    ini.sections[name].get("enabled", ini.defaults.get("enabled", ""))
                )
                result = JailResult(name, new, enabled, "not converted", reason=str(exc))
            if new != name:
                result.warnings.append(f"renamed {name!r} to {new!r} (journalban jail names)")
            plan.jails.append(result)
        backends = [j.backend for j in plan.jails if j.enabled and j.backend]
        if backends:
            plan.backend = max(set(backends), key=backends.count)
            if len(set(backends)) > 1:
                plan.warnings.append(
                    f"jails used several firewall actions ({', '.join(sorted(set(backends)))}); "
                    f"journalban uses one backend for all: {plan.backend}"
                )
        return plan

    def convert(self, ini: IniFiles, name: str, new: str, plan: ImportPlan) -> JailResult:
        enabled = as_bool(self._get(ini, name, "enabled") or "false")
        result = JailResult(name, new, enabled, "not converted")
        s = result.settings
        s["enabled"] = enabled
        call = parse_call(self._get(ini, name, "filter") or name)
        result.filter_name = call.name
        backend = (self._get(ini, name, "backend") or "auto").strip()
        logpath = self._get(ini, name, "logpath") or ""
        files = [p.split()[0] for p in logpath.split("\n") if p.strip()]
        if backend.startswith("systemd"):
            s["source"] = "journal"
        else:
            s["source"] = "files"
            s["files"] = files
            if not files:
                raise ValueError(f"backend {backend} without a logpath")
            if enabled and not any(glob.glob(f) for f in files):
                result.warnings.append(f"no file matches logpath {', '.join(files)} on this host")
                result.settings["_no_files"] = True
        for key in ("maxretry",):
            if (v := self._get(ini, name, key)) is not None:
                s[key] = int(v.strip())
        for key in ("findtime", "bantime"):
            if (v := self._get(ini, name, key)) is not None:
                seconds = duration(v)
                s[key] = "permanent" if seconds is None else int(seconds)
        self._increment(ini, name, s)
        if (v := self._get(ini, name, "ignoreip")) is not None and words(v):
            s["ignoreip"], dropped = ignore_entries(v)
            result.warnings += [f"ignoreip {d!r} left out: not an address or name" for d in dropped]
        if (v := self._get(ini, name, "port")) is not None:
            s["port"] = port_spec(v)
        if (v := self._get(ini, name, "protocol")) is not None:
            proto = v.strip().lower()
            s["protocol"] = "tcp,udp" if proto == "all" else proto
        if (v := self._get(ini, name, "action")) is not None and v.strip():
            actions = plan_actions(action_calls(v), self.reader, self.commands)
            result.backend = actions.backend
            if actions.actions:
                s["actions"] = actions.actions
            result.warnings += actions.notes + actions.dropped
        if call.name == "recidive":
            result.status = "built-in"
            result.reason = (
                "journalban's built-in recidive: fed by its own ban decisions, "
                "not by reading fail2ban.log"
            )
            return result
        self._filter(ini, name, call.name, call.params, result, plan)
        if s.pop("_no_files", False) and result.status == "shipped" and self._has_journal(s):
            s["source"] = "journal"
            result.warnings.append(
                "no log file to read: the jail reads the journal through the shipped filter's "
                "journal matches instead"
            )
        return result

    def _has_journal(self, s: dict[str, Any]) -> bool:
        try:
            return bool(self.library.load(str(s.get("filter"))).journal_match)
        except (KeyError, ConfigError):
            return False

    def _increment(self, ini: IniFiles, name: str, s: dict[str, Any]) -> None:
        inc = self._get(ini, name, "bantime.increment")
        if inc is None or not as_bool(inc):
            return
        out: dict[str, Any] = {"enabled": True}
        for key, ours in INCREMENT_KEYS.items():
            v = self._get(ini, name, key)
            if v is None or not v.strip():
                continue
            if ours == "factor":
                out[ours] = max(1.0, float(v))
            elif ours == "multipliers":
                out[ours] = [float(x) for x in v.split()]
            elif ours == "maxtime":
                seconds = duration(v)
                out[ours] = "permanent" if seconds is None else int(seconds)
            else:
                out[ours] = as_bool(v)
        s["bantime_increment"] = out

    def _filter(
        self,
        ini: IniFiles,
        jail: str,
        fname: str,
        params: dict[str, str],
        result: JailResult,
        plan: ImportPlan,
    ) -> None:
        mode = params.get("mode", "normal") or "normal"
        others = {k: v for k, v in params.items() if k != "mode"}
        state = filter_state(self.root, fname, self.sums)
        shipped = self._shipped(fname, mode)
        missing = (
            not (self.root / "filter.d" / f"{fname}.conf").exists()
            and not (self.root / "filter.d" / f"{fname}.local").exists()
        )
        if shipped is not None and not others and (state in ("stock", "unknown") or missing):
            result.status = "shipped"
            result.settings["filter"], result.settings["mode"] = shipped
            result.reason = f"fail2ban's stock filter {fname} ({mode}): journalban's own filter"
            if missing:
                result.reason = (
                    f"fail2ban's filter.d has no {fname}; journalban's "
                    f"{shipped[0]} ({shipped[1]}) has that name"
                )
            elif state == "unknown":
                result.warnings.append(
                    "no package checksums to tell whether the fail2ban filter was changed; "
                    "the shipped filter is used"
                )
            self._journal(ini, jail, result, None)
            return
        key = (
            f"f2b-{fname}"
            if not params or params == {"mode": "normal"}
            else (f"f2b-{fname}-" + "-".join(v for _, v in sorted(params.items()) if v))
        )
        key = key.replace("/", "-")[:60]
        converted = plan.filters.get(key) or convert_filter(self.reader, fname, params)
        if converted.data is None:
            result.reason = f"filter {fname}: {converted.reason}"
            return
        plan.filters[key] = converted
        result.status = "converted"
        result.filter_file = key
        result.settings["filter"] = key
        why = state.partition(": ")[2] or "not one of journalban's filters"
        result.reason = f"filter {fname} converted to {key} ({why})"
        if shipped is not None:
            result.warnings.append(
                f"the admin changed fail2ban's {fname} filter ({why}): the converted copy "
                f"{key} is used instead of journalban's {shipped[0]}"
            )
        problems = self._check(converted) if result.enabled else []
        if result.enabled and converted.agreement is None:
            converted.agreement = self._agreement(converted, fname, params)
            if converted.agreement:
                converted.notes.append(converted.agreement)
        if result.enabled and converted.agreement:
            result.warnings.append(f"filter {fname}: {converted.agreement}")
        if problems:
            result.status = "converted, disabled"
            result.settings["enabled"] = False
            result.warnings += [f"written disabled: {p}" for p in problems]
        refused = [r for r in converted.regexes if not r.converted]
        if refused:
            result.warnings.append(
                f"filter {fname}: {len(refused)} of {len(converted.regexes)} regexes left out"
            )
        self._journal(ini, jail, result, converted)

    @staticmethod
    def _check(converted: ConvertedFilter) -> list[str]:
        """The converted filter's slow or injectable regexes (checked once per filter)."""
        if converted.problems is None:
            patterns = [str(r["regex"]) for r in (converted.data or {}).get("failregex", [])]
            problems = [
                f"regex #{i} may let client text choose the address (a free wildcard before "
                f"it, nothing tying it to the end of the line): {p}"
                for i, p in enumerate(patterns)
                if injectable(p)
            ]
            problems += [
                f"regex #{i} is slow on crafted lines (backtracking): {patterns[i]}"
                for i in slow_regexes(patterns)
            ]
            converted.problems = problems
            converted.notes += problems
        return converted.problems

    def _agreement(self, converted: ConvertedFilter, fname: str, params: dict[str, str]) -> str:
        """What fail2ban-regex and the converted filter say on fail2ban's test log."""
        try:
            fdef = parse_filter(converted.data, Marks(), f"f2b-{fname}", "<converted>")
        except ConfigError:
            return ""
        found = check_against_fail2ban(
            fdef, self.root / "filter.d" / f"{fname}.conf", params, fname
        )
        if found is None:
            return ""
        text = (
            f"agrees with fail2ban-regex on {found.agree} of {found.lines} lines of "
            f"fail2ban's test log for {fname}"
        )
        if found.differ:
            text += f" (first difference: {found.differ[0][:200]})"
        return text

    def _shipped(self, fname: str, mode: str) -> tuple[str, str] | None:
        if fname in ALIASES and mode == "normal":
            return ALIASES[fname]
        try:
            fdef = self.library.load(fname)
        except (KeyError, ConfigError):
            return None
        if mode in fdef.modes:
            return fdef.name, mode
        return None

    def _journal(
        self, ini: IniFiles, jail: str, result: JailResult, converted: ConvertedFilter | None
    ) -> None:
        if result.settings.get("source") != "journal":
            return
        own = self._get(ini, jail, "journalmatch")
        groups = journal_groups(own) if own and own.strip() else None
        if groups is None and converted is not None and converted.data is not None:
            groups = converted.data.get("journal_match")
        if groups is None:
            return
        pinned = []
        for group in groups:
            if not any(c.startswith("_UID=") for c in group):
                result.warnings.append(
                    f"journal match {' '.join(group)} pinned no uid: any local user could write "
                    "such entries (logger -t, a process named like the daemon); "
                    "pinned to _UID=0, change it if the daemon runs as another user"
                )
                group = [*group, "_UID=0"]
            pinned.append(group)
        result.settings["journal_match"] = pinned
