"""Filter files: what a failure looks like for one service, with samples that prove it.

A filter file (YAML) holds:

    description: text
    journal_match:                 # groups OR-ed; conditions in a group AND-ed
      - [_SYSTEMD_UNIT=ssh.service, _UID=0]
      - [_SYSTEMD_UNIT=postfix.service, _UID=@postfix]   # @NAME: that system user's uid
    idents: [sshd, sshd-session]   # syslog identifiers a file line must carry
    modes: [normal, ddos, aggressive]   # the first is the default
    prefilter: ["Failed ", "Invalid user "]   # a line without any of these is a miss
    failregex:
      - regex: '^Failed password for <USER> from <HOST> port \\d+$'
        modes: [normal, aggressive]   # default: every mode
    ignoreregex: []
    samples:
      - line: "..."                 # a full log line (date and prefix included)
        host: 203.0.113.5           # null: must not match
        modes: [aggressive]         # where this expectation holds (default: every mode)
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from journalban.config.journalmatch import parse_condition
from journalban.config.yamlsource import KeyPath, Marks, load_yaml, load_yaml_text
from journalban.errors import FilterError
from journalban.matching.tags import compile_failregex, compile_plain

FILTER_KEYS = {
    "description", "journal_match", "idents", "modes", "prefilter", "failregex",
    "ignoreregex", "samples", "files", "notes",
}  # fmt: skip


@dataclass(frozen=True, slots=True)
class RegexDef:
    pattern: str
    regex: re.Pattern[str]
    modes: frozenset[str]
    line: int | None = None


@dataclass(frozen=True, slots=True)
class Sample:
    line: str
    host: str | None
    modes: frozenset[str]
    user: str | None = None
    time: str | None = None
    ignored: bool = False
    where: int | None = None


@dataclass(frozen=True, slots=True)
class FilterDef:
    name: str
    file: str
    description: str = ""
    journal_match: tuple[tuple[tuple[str, str], ...], ...] = ()
    idents: frozenset[str] = frozenset()
    modes: tuple[str, ...] = ("normal",)
    prefilter: tuple[str, ...] = ()
    failregex: tuple[RegexDef, ...] = ()
    ignoreregex: tuple[re.Pattern[str], ...] = ()
    samples: tuple[Sample, ...] = ()
    files: Mapping[str, tuple[str, ...]] = field(default_factory=dict)

    @property
    def default_mode(self) -> str:
        return self.modes[0]

    def regexes_for(self, mode: str) -> list[tuple[int, RegexDef]]:
        return [(i, r) for i, r in enumerate(self.failregex) if mode in r.modes]


def _strings(value: Any, marks: Marks, path: KeyPath) -> tuple[str, ...]:
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise FilterError(
            f"{'.'.join(map(str, path))}: must be a list of strings", *marks.locate(path)
        )
    return tuple(value)


def _journal_match(value: Any, marks: Marks) -> tuple[tuple[tuple[str, str], ...], ...]:
    if not isinstance(value, list):
        raise FilterError(
            "journal_match: must be a list of groups", *marks.locate(("journal_match",))
        )
    groups = []
    for i, group in enumerate(value):
        conds = _strings(group, marks, ("journal_match", i))
        pairs = []
        for cond in conds:
            try:
                pairs.append(parse_condition(cond))
            except ValueError as exc:
                raise FilterError(str(exc), *marks.locate(("journal_match", i))) from None
        groups.append(tuple(pairs))
    return tuple(groups)


def parse_filter(data: Any, marks: Marks, name: str, file: str) -> FilterDef:
    """Validate a filter's data. Raises: FilterError with file and line."""
    if not isinstance(data, Mapping):
        raise FilterError("a filter file must be a mapping", file, 1)
    for key in data:
        if key not in FILTER_KEYS:
            raise FilterError(f"unknown key {key!r}", *marks.locate((key,)))
    modes = _strings(data.get("modes", ["normal"]), marks, ("modes",))
    if not modes:
        raise FilterError("modes: needs at least one mode", *marks.locate(("modes",)))
    regexes = []
    for i, item in enumerate(data.get("failregex") or []):
        path: KeyPath = ("failregex", i)
        f, line = marks.locate(path)
        if isinstance(item, str):
            item = {"regex": item}
        if not isinstance(item, Mapping) or not isinstance(item.get("regex"), str):
            raise FilterError("a failregex needs regex: PATTERN", f, line)
        item_modes = frozenset(_strings(item.get("modes", list(modes)), marks, (*path, "modes")))
        if unknown := item_modes - set(modes):
            raise FilterError(f"failregex uses undeclared modes {sorted(unknown)}", f, line)
        regexes.append(
            RegexDef(item["regex"], compile_failregex(item["regex"], f, line), item_modes, line)
        )
    if not regexes:
        raise FilterError("a filter needs at least one failregex", file, 1)
    ignore = tuple(
        compile_plain(p, *marks.locate(("ignoreregex", i)))
        for i, p in enumerate(_strings(data.get("ignoreregex") or [], marks, ("ignoreregex",)))
    )
    samples = []
    for i, s in enumerate(data.get("samples") or []):
        f, line = marks.locate(("samples", i))
        if not isinstance(s, Mapping) or not isinstance(s.get("line"), str):
            raise FilterError("a sample needs line: TEXT", f, line)
        host = s.get("host")
        samples.append(
            Sample(
                line=s["line"],
                host=None if host is None else str(host),
                modes=frozenset(
                    _strings(s.get("modes", list(modes)), marks, ("samples", i, "modes"))
                ),
                user=None if s.get("user") is None else str(s["user"]),
                time=None if s.get("time") is None else str(s["time"]),
                ignored=bool(s.get("ignored", False)),
                where=line,
            )
        )
    files_raw = data.get("files") or {}
    files = (
        {str(k): _strings(v, marks, ("files", k)) for k, v in files_raw.items()}
        if isinstance(files_raw, Mapping)
        else {}
    )
    return FilterDef(
        name=name,
        file=file,
        description=str(data.get("description", "")),
        journal_match=_journal_match(data["journal_match"], marks)
        if "journal_match" in data
        else (),
        idents=frozenset(_strings(data.get("idents") or [], marks, ("idents",))),
        modes=modes,
        prefilter=_strings(data.get("prefilter") or [], marks, ("prefilter",)),
        failregex=tuple(regexes),
        ignoreregex=ignore,
        samples=tuple(samples),
        files=files,
    )


def load_filter_file(path: Path, name: str | None = None) -> FilterDef:
    data, marks = load_yaml(path)
    return parse_filter(data, marks, name or path.stem, str(path))


def load_filter_text(text: str, name: str, file: str) -> FilterDef:
    data, marks = load_yaml_text(text, file)
    return parse_filter(data, marks, name, file)
