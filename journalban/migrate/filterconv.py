"""A fail2ban filter (``filter.d/NAME.conf`` and its overrides) as journalban filter data.

The filter is read as fail2ban reads it for one jail: the jail's
``filter = NAME[key=value, ...]`` parameters win over the file, ``[Init]``
values come next, then ``<tag>`` references are resolved. What comes out is
the data of a journalban filter file (``failregex``, ``ignoreregex``,
``idents``, ``journal_match``) and, per fail2ban regex, what became of it.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from journalban.errors import ConfigError
from journalban.migrate.datepat import date_regex
from journalban.migrate.identhead import ident_like_head
from journalban.migrate.idents import daemon_idents
from journalban.migrate.inifile import IniFiles, IniReader, substitute_tags
from journalban.migrate.regexconv import HOST_MARK, PREFIX_MARK, Refused, convert_regex

FILTER_OPTIONS = (
    "failregex", "ignoreregex", "prefregex", "maxlines", "datepattern", "journalmatch", "_daemon",
)  # fmt: skip
_CONTENT = re.compile(r"<F-CONTENT>(.*?)</F-CONTENT>")
_STANDARD_DATES = {"", "{^LN-BEG}", "^{DATE}"}


@dataclass
class RegexOutcome:
    """What became of one fail2ban regex."""

    original: str
    converted: str | None
    reason: str = ""


@dataclass
class ConvertedFilter:
    """A fail2ban filter as journalban filter data, or why it could not be."""

    name: str
    params: dict[str, str]
    data: dict[str, Any] | None
    regexes: list[RegexOutcome] = field(default_factory=list)
    ignores: list[RegexOutcome] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    reason: str = ""  # why nothing was converted
    files: list[str] = field(default_factory=list)
    problems: list[str] | None = None  # slow or injectable regexes; None: not checked yet
    agreement: str | None = None  # against fail2ban-regex on fail2ban's test log, when there

    @property
    def complete(self) -> bool:
        return self.data is not None and all(r.converted for r in self.regexes + self.ignores)


class _Options(Mapping[str, str]):
    """Option values as ``<tag>`` resolution sees them: combined first, then [Definition]."""

    def __init__(self, ini: IniFiles, combined: dict[str, str], extra: dict[str, str]) -> None:
        self.ini, self.combined, self.extra = ini, combined, extra
        self._cache: dict[str, str | None] = {}

    def __getitem__(self, key: str) -> str:
        value = self.get(key)
        if not isinstance(value, str):
            raise KeyError(key)
        return value

    def get(self, key: str, default: Any = None) -> Any:
        if key in self.combined:
            return self.combined[key]
        if key not in self._cache:
            try:
                self._cache[key] = (
                    self.ini.get("Definition", key, self.extra)
                    if self.ini.has("Definition", key) or key in self.extra
                    else None
                )
            except ConfigError:
                self._cache[key] = None
        value = self._cache[key]
        return default if value is None else value

    def __iter__(self) -> Any:
        return iter(self.combined)

    def __len__(self) -> int:
        return len(self.combined)


def read_fail2ban_filter(reader: IniReader, name: str, params: Mapping[str, str]) -> dict[str, str]:
    """The filter's options as fail2ban would hand them to its server, prefix marked.

    Raises:
        ConfigError: the files cannot be read or their references do not resolve.
    """
    ini = reader.read(f"filter.d/{name}")
    extra = {k.lower(): v for k, v in params.items()}
    # common.conf's prefix becomes the marker; a filter extending it
    # ("%(known/__prefix_line)s(?:\w{14,20}: )?") keeps its own part after it.
    ini.defaults["__prefix_line"] = PREFIX_MARK
    ini.defaults["__hostname"] = HOST_MARK
    combined: dict[str, str] = {}
    for opt in FILTER_OPTIONS:
        if ini.has("Definition", opt):
            combined[opt] = ini.get("Definition", opt, extra)
    init: dict[str, str] = dict(extra)
    for opt in ini.own_options("Init"):
        value = ini.get("Init", opt, extra)
        init.setdefault(f"known/{opt}", value)
        init.setdefault(opt, value)
    combined.update(init)
    resolved = substitute_tags(combined, _Options(ini, combined, extra), ini)
    resolved["__files__"] = "\n".join(str(f) for f in ini.files)
    return resolved


def _lines(value: str) -> list[str]:
    return [line.strip() for line in value.split("\n") if line.strip()]


def _with_prefregex(prefregex: str, regex: str) -> str:
    m = _CONTENT.search(prefregex)
    if m is None:
        return regex
    # fail2ban searches the failregex in the content: a lookahead keeps the content's own pattern.
    body = regex[1:] if regex.startswith("^") else ".*?" + regex
    return prefregex[: m.start()] + "(?=" + body + ")(?:" + m.group(1) + ")" + prefregex[m.end() :]


def journal_groups(journalmatch: str) -> list[list[str]]:
    """fail2ban's ``A=1 B=2 + C=3`` as groups of conditions (OR of ANDs)."""
    groups = []
    for part in journalmatch.split("+"):
        conds = [c for c in part.split() if "=" in c]
        if conds:
            groups.append(conds)
    return groups


def convert_filter(reader: IniReader, name: str, params: Mapping[str, str]) -> ConvertedFilter:
    """The journalban filter data for fail2ban filter ``name`` with the jail's ``params``."""
    out = ConvertedFilter(name, dict(params), None)
    try:
        opts = read_fail2ban_filter(reader, name, params)
    except ConfigError as exc:
        out.reason = f"cannot read the fail2ban filter: {exc}"
        return out
    out.files = _lines(opts.pop("__files__", ""))
    prefregex = opts.get("prefregex", "").strip()
    daemon = opts.get("_daemon", "").strip()
    daemon = daemon if daemon not in ("", r"\S*", r"\S+") else ""
    for raw in _lines(opts.get("failregex", "")):
        full = _with_prefregex(prefregex, raw) if prefregex else raw
        try:
            out.regexes.append(RegexOutcome(raw, convert_regex(full, daemon or None)))
        except Refused as exc:
            out.regexes.append(RegexOutcome(raw, None, str(exc)))
    for raw in _lines(opts.get("ignoreregex", "")):
        try:
            out.ignores.append(RegexOutcome(raw, _convert_ignore(raw)))
        except Refused as exc:
            out.ignores.append(RegexOutcome(raw, None, str(exc)))
    own_heads = False
    for r in out.regexes:
        if r.converted is not None and (made := ident_like_head(r.converted, 1)) is not None:
            r.converted, own_heads = made, True
    skip_date = date_regex(opts.get("datepattern", ""))
    if skip_date is not None:
        for r in out.regexes:
            if r.converted is not None and r.converted.startswith("^"):
                r.converted = rf"^(?:{skip_date})? ?" + r.converted[1:]
    kept = [r.converted for r in out.regexes if r.converted]
    if not kept:
        out.reason = (
            "no failregex could be converted"
            if out.regexes
            else "the filter has no failregex (it is an include or an empty filter)"
        )
        return out
    maxlines = opts.get("maxlines", "").strip()
    if maxlines not in ("", "1", "0"):
        out.notes.append(
            f"maxlines = {maxlines}: journalban matches one line at a time; "
            "regexes spanning lines were left out"
        )
    date = opts.get("datepattern", "").strip()
    if date not in _STANDARD_DATES:
        out.notes.append(f"datepattern {date!r} not carried over: journalban finds the date itself")
    data: dict[str, Any] = {
        "description": f"Converted from fail2ban's filter.d/{name} by journalban import-fail2ban.",
        "failregex": [{"regex": r} for r in kept],
        "ignoreregex": [r.converted for r in out.ignores if r.converted],
    }
    idents = daemon_idents(opts.get("_daemon", "")) if "_daemon" in opts else None
    if idents and own_heads:
        out.notes.append(
            "no idents: the service's own line head (a level or a name in brackets, "
            '"NOTICE[12049]:") reads as a syslog ident to journalban'
        )
    elif idents:
        data["idents"] = idents
    elif PREFIX_MARK in opts.get("failregex", "") + prefregex:
        out.notes.append(
            "no idents: fail2ban's _daemon is not a plain list of names, so lines of every "
            "syslog program are read from files"
        )
    if opts.get("journalmatch", "").strip():
        data["journal_match"] = journal_groups(opts["journalmatch"])
    if any(("<HOST>" in (r.converted or "")) for r in out.regexes):
        out.notes.append(
            "<HOST> may match a host name in fail2ban; journalban never resolves names, "
            "so only lines naming an address count"
        )
    out.data = data
    return out


def _convert_ignore(raw: str) -> str:
    from journalban.matching.tags import compile_plain

    text = raw
    if text.startswith("^" + PREFIX_MARK):
        text = "^" + text[len("^" + PREFIX_MARK) :]
    text = text.replace(PREFIX_MARK, r"(?:\S+ )?").replace(HOST_MARK, r"\S+")
    text = re.sub(r"<(/?)F-([A-Za-z][A-Za-z0-9_]*)>", lambda m: ")" if m.group(1) else "(?:", text)
    for tag in ("<HOST>", "<ADDR>", "<IP4>", "<IP6>"):
        text = text.replace(tag, r"\S+")
    try:
        compile_plain(text)
    except ConfigError as exc:
        raise Refused(f"does not compile in journalban: {exc.message}") from None
    return text
