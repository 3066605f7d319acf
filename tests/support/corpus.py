"""fail2ban's sample corpus as an external yardstick for our filters.

Reads ``../shared/corpus/fail2ban-samples/<name>`` (never copied into the
project), runs one of our filters over it once per mode the annotations ask
for, and scores: annotated failures found with the right host, false matches,
wrong times. See docs/filters.md for the rules of what is scored.
"""

from __future__ import annotations

import ipaddress
import json
import os
import re
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from journalban.addresses import parse_address
from journalban.matching.engine import MATCHED, CompiledFilter, LineMatcher
from journalban.matching.filterdef import FilterDef

CORPUS = Path(__file__).resolve().parents[2].parent / "shared" / "corpus" / "fail2ban-samples"
CORPUS_TZ = "CET-01CEST-02,M3.5.0,M10.5.0"
CORPUS_NOW = 1124013600.0
# Our filter names whose sample file has another name in the corpus.
ALIASES = {"sshd": ["sshd", "sshd-journal"]}
NO_CORPUS = {"qmail-smtp", "vpopmail", "qmailadmin", "qpsmtpd", "lighttpd-fastcgi", "lemonldap"}


@dataclass
class Expectation:
    file: str
    lineno: int
    line: str
    options: dict[str, Any]
    annotation: dict[str, Any] | None  # None: unannotated, must not match
    excluded: str = ""  # why the line is not scored


@dataclass
class FileScore:
    name: str
    scored: int = 0
    found: int = 0
    wrong_host: list[str] = field(default_factory=list)
    missed: list[str] = field(default_factory=list)
    false_matches: list[str] = field(default_factory=list)
    wrong_times: list[str] = field(default_factory=list)
    excluded: dict[str, int] = field(default_factory=dict)

    @property
    def percent(self) -> float:
        return 100.0 * self.found / self.scored if self.scored else 100.0


def corpus_available() -> bool:
    return CORPUS.is_dir()


def _options(text: str) -> list[dict[str, Any]]:
    value = json.loads(text)
    return value if isinstance(value, list) else [value]


def read_expectations(name: str, seen: set[str] | None = None) -> Iterator[Expectation]:
    """Every log line of a corpus file (and the files it adds) with options and annotation.

    ``seen`` holds the files already read, so that each is scored once.
    """
    seen = set() if seen is None else seen
    if name in seen:
        return
    seen.add(name)
    path = CORPUS / name
    file_opts: dict[str, Any] = {}
    option_sets: list[dict[str, Any]] = [{}]
    pending: list[dict[str, Any]] = []
    for lineno, raw in enumerate(
        path.read_text(encoding="utf-8", errors="replace").splitlines(), 1
    ):
        stripped = raw.strip()
        if stripped.startswith("#"):
            if m := re.search(r"failJSON:\s*(\{.*\})", stripped):
                pending.append(json.loads(m.group(1)))
            elif m := re.search(r"fileOptions:\s*(.*)$", stripped):
                file_opts = _options(m.group(1))[0]
                option_sets = [{}]
            elif m := re.search(r"filterOptions:\s*(.*)$", stripped):
                option_sets = _options(m.group(1))
            elif m := re.search(r'addFILE:\s*"([^"]+)"', stripped):
                yield from read_expectations(m.group(1), seen)
            continue
        if not stripped:
            continue
        annotations: list[dict[str, Any] | None] = list(pending) or [None]
        for annotation in annotations:
            for opts in option_sets:
                yield Expectation(name, lineno, raw, {**file_opts, **opts}, annotation)
        pending = []


def _exclusion(exp: Expectation, filter_name: str) -> str:
    opts, ann = exp.options, exp.annotation
    cond = opts.get("test.condition")
    if cond is not None:
        m = re.fullmatch(r"\s*name\s*==\s*'([^']*)'\s*", cond)
        if m is None or m.group(1) != filter_name:
            return "test.* option (fail2ban's own harness)"
    if any(k.startswith("test.") and k != "test.condition" for k in opts):
        return "test.* option (fail2ban's own harness)"
    if ann is None:
        return ""
    if "constraint" in ann:
        return "constraint"
    if ann.get("attempts") is not None:
        return "needs several lines (attempts)"
    host = expected_host(ann)
    if ann.get("match") and host is not None:
        if parse_address(str(host)) is None:
            try:
                ipaddress.ip_address(str(host))
            except ValueError:
                return (
                    "host is a DNS name (never resolved)"
                    if not re.fullmatch(r"[\d.]+", str(host))
                    else "non-canonical address"
                )
            return "non-canonical address"
        if str(host) not in exp.line and not _mapped_in(str(host), exp.line):
            return "address on another line"
    return ""


def expected_host(ann: dict[str, Any]) -> str | None:
    host = ann.get("host") or ann.get("ip4") or ann.get("ip6")
    return None if host is None else str(host)


def _mapped_in(host: str, line: str) -> bool:
    return f"::ffff:{host}" in line


def _expected_time(text: str) -> float:
    base = text.split(".")[0]
    return time.mktime(time.strptime(base, "%Y-%m-%dT%H:%M:%S"))


def score(fdef: FilterDef, corpus_names: list[str]) -> FileScore:
    """Run ``fdef`` over its corpus files in every mode they ask for."""
    old_tz = os.environ.get("TZ")
    os.environ["TZ"] = CORPUS_TZ
    time.tzset()
    try:
        return _score(fdef, corpus_names)
    finally:
        if old_tz is None:
            os.environ.pop("TZ", None)
        else:
            os.environ["TZ"] = old_tz
        time.tzset()


def _score(fdef: FilterDef, corpus_names: list[str]) -> FileScore:
    result = FileScore(fdef.name)
    matchers: dict[str, LineMatcher] = {}

    def matcher(mode: str) -> LineMatcher | None:
        if mode not in fdef.modes:
            return None
        if mode not in matchers:
            matchers[mode] = LineMatcher(CompiledFilter(fdef, mode), lambda: CORPUS_NOW)
        return matchers[mode]

    seen: set[str] = set()
    for name in corpus_names:
        for exp in read_expectations(name, seen):
            mode = str(exp.options.get("mode", fdef.default_mode))
            why = _exclusion(exp, fdef.name)
            ann = exp.annotation or {"match": False}
            where = f"{exp.file}:{exp.lineno} [{mode}]"
            if why:
                if ann.get("match"):
                    result.excluded[why] = result.excluded.get(why, 0) + 1
                continue
            m = matcher(mode)
            if m is None:
                if ann.get("match"):
                    result.scored += 1
                    result.missed.append(f"{where}: our filter has no mode {mode!r}")
                continue
            outcome = m.match_line(exp.line)
            if m.filter.prefilter is not None and not m.filter.prefilter.search(exp.line):
                outcome = type(outcome)(2, 0)  # the prefilter would have skipped it
            if not ann.get("match"):
                if outcome.kind == MATCHED and mode == fdef.default_mode:
                    result.false_matches.append(f"{where}: {exp.line.strip()}")
                continue
            result.scored += 1
            if outcome.kind != MATCHED or outcome.address is None:
                result.missed.append(
                    f"{where}: {exp.line.strip()} ({outcome.reason or 'no match'})"
                )
                continue
            if outcome.address != parse_address(str(expected_host(ann))):
                result.wrong_host.append(
                    f"{where}: got {outcome.address}, want {expected_host(ann)}"
                )
                continue
            result.found += 1
            want = ann.get("time")
            if want is not None and outcome.time is not None:
                slack = 10.5 if exp.line.lstrip().startswith("@4000") else 1.0
                if abs(outcome.time - _expected_time(str(want))) > slack:
                    result.wrong_times.append(
                        f"{where}: got {time.strftime('%Y-%m-%dT%H:%M:%S', time.localtime(outcome.time))}, want {want}"
                    )
            elif want is not None:
                result.wrong_times.append(f"{where}: no time read, want {want}")
    return result
