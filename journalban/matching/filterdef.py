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
    attacker_fields:               # the text a remote client writes into these lines
      user: the login name the client typed
      agent: {about: the User-Agent header, escaped: '"\\'}  # or never: CHARS
    successregex:                  # an accepted login (known-good pairs, see docs/detection.md)
      - '^Accepted password for <USER> from <HOST> port \\d+'
    samples:
      - line: "..."                 # a full log line (date and prefix included)
        host: 203.0.113.5           # null: must not match
        modes: [aggressive]         # where this expectation holds (default: every mode)
        fields: {user: root}        # where attacker_fields sit in this line (each copy of the text)

Every ``attacker_fields`` entry is marked in at least one sample that matches;
the injection suite (tests/adversarial) rewrites each marked field with
look-alike addresses, separators and copies of the line's own tail.
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
from journalban.matching.sessions import SessionRules, parse_sessions
from journalban.matching.tags import compile_failregex, compile_plain

FILTER_KEYS = {
    "description", "journal_match", "idents", "modes", "prefilter", "failregex",
    "ignoreregex", "samples", "files", "notes", "attacker_fields", "successregex", "sessions",
}  # fmt: skip


@dataclass(frozen=True, slots=True)
class RegexDef:
    """One failregex or successregex: its text, compiled, the modes it belongs to, its line."""

    pattern: str
    regex: re.Pattern[str]
    modes: frozenset[str]
    line: int | None = None


@dataclass(frozen=True, slots=True)
class Sample:
    """A sample line of a filter and what the filter must find in it."""

    line: str
    host: str | None
    modes: frozenset[str]
    user: str | None = None
    time: str | None = None
    ignored: bool = False
    where: int | None = None
    # (attacker field name, its text in ``line``): where client text sits.
    fields: tuple[tuple[str, str], ...] = ()
    success: bool = False  # the line is an accepted login (a successregex matches it)
    # The address the line counts for through its session (matching.sessions), the
    # samples before it fed to the session table in order; None: it counts nothing.
    session: str | None = None


@dataclass(frozen=True, slots=True)
class AttackerField:
    """Text a remote client writes into the filter's lines, and what the server
    guarantees about it: characters it ``never`` writes there (it refuses or
    strips them) and characters it writes ``escaped`` (as a backslash and the
    character; a backslash as two)."""

    about: str
    never: str = ""
    escaped: str = ""
    success: bool = False  # the line is an accepted login (a successregex matches it)


@dataclass(frozen=True, slots=True)
class FilterDef:
    """A filter as loaded from its YAML file (see the format above)."""

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
    successregex: tuple[RegexDef, ...] = ()
    sessions: SessionRules | None = None  # failures correlated by session (matching.sessions)
    files: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    # attacker field name -> what it is; None: the filter does not say (not allowed
    # for shipped filters, see tests/adversarial/test_injection_fields.py).
    attacker_fields: Mapping[str, AttackerField] | None = None

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


def _attacker_fields(data: Mapping[str, Any], marks: Marks) -> dict[str, AttackerField] | None:
    if "attacker_fields" not in data:
        return None
    value = data["attacker_fields"]
    where = marks.locate(("attacker_fields",))
    if not isinstance(value, Mapping):
        raise FilterError("attacker_fields: must map each field name to what it holds", *where)
    out = {}
    for name, item in value.items():
        at = marks.locate(("attacker_fields", name))
        if isinstance(item, str):
            item = {"about": item}
        if (
            not isinstance(item, Mapping)
            or set(item) - {"about", "never", "escaped"}
            or not all(isinstance(v, str) for v in item.values())
            or not str(item.get("about", "")).strip()
        ):
            raise FilterError(
                f"attacker_fields: {name}: a description, or {{about: TEXT, never: CHARS, "
                "escaped: CHARS}}",
                *at,
            )
        out[str(name)] = AttackerField(
            item["about"], item.get("never", ""), item.get("escaped", "")
        )
    return out


def _sample_fields(
    sample: Mapping[str, Any],
    line: str,
    declared: Mapping[str, AttackerField] | None,
    marks: Marks,
    path: KeyPath,
) -> tuple[tuple[str, str], ...]:
    """A sample's ``fields``: each a declared attacker field and its text in the line
    (every occurrence of the text is that field: a server may write it twice)."""
    value = sample.get("fields")
    if value is None:
        return ()
    where = marks.locate((*path, "fields"))
    if not isinstance(value, Mapping):
        raise FilterError("fields: must map attacker field names to their text", *where)
    out = []
    for name, text in value.items():
        if declared is None or name not in declared:
            raise FilterError(f"fields: {name!r} is not in attacker_fields", *where)
        if not isinstance(text, str) or not text:
            raise FilterError(f"fields: {name}: must be the field's text in the line", *where)
        if text not in line:
            raise FilterError(f"fields: {name}: {text!r} is not in the line", *where)
        out.append((str(name), text))
    return tuple(out)


def _check_fields_marked(
    declared: Mapping[str, AttackerField] | None,
    samples: list[Sample],
    marks: Marks,
    sessions: bool = False,
) -> None:
    if not declared:
        return
    # A session's lines name the address apart from the failure (matching.sessions):
    # there a marked field anywhere in the sequence is exercised.
    marked = {
        name
        for s in samples
        if s.host is not None or s.session is not None or sessions
        for name, _ in s.fields
    }
    if missing := sorted(set(declared) - marked):
        raise FilterError(
            f"attacker_fields {missing} are marked (fields:) in no sample that matches",
            *marks.locate(("attacker_fields",)),
        )


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
    if not regexes and not data.get("sessions"):
        raise FilterError("a filter needs at least one failregex or a sessions section", file, 1)
    successes = []
    for i, pattern in enumerate(_strings(data.get("successregex") or [], marks, ("successregex",))):
        f, line = marks.locate(("successregex", i))
        successes.append(
            RegexDef(pattern, compile_failregex(pattern, f, line), frozenset(modes), line)
        )
    ignore = tuple(
        compile_plain(p, *marks.locate(("ignoreregex", i)))
        for i, p in enumerate(_strings(data.get("ignoreregex") or [], marks, ("ignoreregex",)))
    )
    declared = _attacker_fields(data, marks)
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
                fields=_sample_fields(s, s["line"], declared, marks, ("samples", i)),
                success=bool(s.get("success", False)),
                session=None if s.get("session") is None else str(s["session"]),
            )
        )
    _check_fields_marked(declared, samples, marks, sessions=bool(data.get("sessions")))
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
        attacker_fields=declared,
        successregex=tuple(successes),
        sessions=parse_sessions(data.get("sessions"), marks),
    )


def load_filter_file(path: Path, name: str | None = None) -> FilterDef:
    data, marks = load_yaml(path)
    return parse_filter(data, marks, name or path.stem, str(path))


def load_filter_text(text: str, name: str, file: str) -> FilterDef:
    data, marks = load_yaml_text(text, file)
    return parse_filter(data, marks, name, file)
