"""Converted fail2ban filters against fail2ban-regex itself, line by line.

For a filter of ``/etc/fail2ban/filter.d`` and its test log in
``../shared/corpus/fail2ban-samples/`` (never copied into the project):
fail2ban-regex (``--usedns=no``: addresses only, as journalban) says which
lines its filter matches and with which address; the filter converted by
``journalban.migrate`` is run over the same lines in its default mode. A line
agrees when both miss it, or both match it with the same address.
"""

from __future__ import annotations

import subprocess
from dataclasses import dataclass, field
from pathlib import Path

from journalban.config.yamlsource import Marks
from journalban.matching.filterdef import FilterDef, parse_filter
from journalban.migrate.agreement import Agreement, fail2ban_results, log_lines
from journalban.migrate.agreement import compare as agreement_of
from journalban.migrate.filterconv import ConvertedFilter
from support.corpus import CORPUS, CORPUS_NOW

FAIL2BAN_ETC = Path("/etc/fail2ban")


def corpus_lines(name: str) -> list[str]:
    """The log lines of a corpus file (comments and blank lines left out)."""
    return log_lines(CORPUS / name)


def as_filterdef(converted: ConvertedFilter) -> FilterDef:
    assert converted.data is not None
    return parse_filter(converted.data, Marks(), f"f2b-{converted.name}", "<converted>")


@dataclass
class Census:
    """Every filter of Debian's filter.d: converted or not, and agreement with fail2ban."""

    filters: list[str] = field(default_factory=list)  # those with a failregex
    refused: dict[str, str] = field(default_factory=dict)  # name -> why not converted
    agreements: dict[str, Agreement] = field(default_factory=dict)
    not_compared: dict[str, str] = field(default_factory=dict)  # converted, but no verdict

    @property
    def converted(self) -> list[str]:
        return [f for f in self.filters if f not in self.refused]

    @property
    def agreeing(self) -> list[str]:
        return [n for n, a in self.agreements.items() if a.percent >= 95.0]

    def lines(self) -> tuple[int, int]:
        return (
            sum(a.agree for a in self.agreements.values()),
            sum(a.lines for a in self.agreements.values()),
        )


def census(fail2ban_regex: str) -> Census:
    """Convert every filter of /etc/fail2ban/filter.d and compare it with fail2ban on its test log."""
    from journalban.migrate.filterconv import convert_filter
    from journalban.migrate.inifile import IniReader

    reader = IniReader(FAIL2BAN_ETC)
    out = Census()
    for conf in sorted((FAIL2BAN_ETC / "filter.d").glob("*.conf")):
        name = conf.stem
        converted = convert_filter(reader, name, {})
        if not converted.regexes:
            continue  # an include (common.conf, apache-common.conf ...), not a filter
        out.filters.append(name)
        if converted.data is None:
            out.refused[name] = converted.reason
            continue
        if not (CORPUS / name).is_file():
            out.not_compared[name] = "no test log"
            continue
        try:
            out.agreements[name] = compare(fail2ban_regex, converted, name)
        except subprocess.TimeoutExpired:
            out.not_compared[name] = "fail2ban-regex ran over a minute on its own test log"
    return out


def census_table(c: Census) -> str:
    """The per-filter table for docs/migrating-from-fail2ban.md."""
    rows = ["| filter | converted regexes | lines agreeing with fail2ban-regex |", "|---|---|---|"]
    for name in c.filters:
        if name in c.refused:
            rows.append(f"| `{name}` | not converted: {c.refused[name]} | |")
        elif name in c.agreements:
            a = c.agreements[name]
            rows.append(f"| `{name}` | yes | {a.agree} / {a.lines} ({a.percent:.1f} %) |")
        else:
            rows.append(f"| `{name}` | yes | {c.not_compared[name]} |")
    return "\n".join(rows)


def compare(fail2ban_regex: str, converted: ConvertedFilter, corpus_name: str) -> Agreement:
    """How often the converted filter and fail2ban agree on ``corpus_name``'s lines."""
    conf = FAIL2BAN_ETC / "filter.d" / f"{converted.name}.conf"
    theirs = fail2ban_results(fail2ban_regex, str(conf), CORPUS / corpus_name, timeout=60)
    lines = corpus_lines(corpus_name)
    return agreement_of(as_filterdef(converted), theirs, lines, lambda: CORPUS_NOW)


if __name__ == "__main__":  # pragma: no cover - prints the docs table
    result = census("/usr/bin/fail2ban-regex")
    agree, total = result.lines()
    print(
        f"{len(result.filters)} filters, {len(result.converted)} converted, "
        f"{len(result.agreeing)} agree on >= 95 % of their lines; lines {agree}/{total}"
    )
    print(census_table(result))
