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

from journalban.addresses import parse_address
from journalban.config.yamlsource import Marks
from journalban.matching.engine import MATCHED, CompiledFilter, LineMatcher
from journalban.matching.filterdef import FilterDef, parse_filter
from journalban.migrate.filterconv import ConvertedFilter
from support.corpus import CORPUS, CORPUS_NOW

FAIL2BAN_ETC = Path("/etc/fail2ban")


@dataclass
class Agreement:
    name: str
    lines: int = 0
    agree: int = 0
    differ: list[str] = field(default_factory=list)

    @property
    def percent(self) -> float:
        return 100.0 * self.agree / self.lines if self.lines else 100.0


def corpus_lines(name: str) -> list[str]:
    """The log lines of a corpus file (comments and blank lines left out)."""
    path = CORPUS / name
    text = path.read_text(encoding="utf-8", errors="replace")
    return [
        line for line in text.splitlines() if line.strip() and not line.lstrip().startswith("#")
    ]


def fail2ban_results(fail2ban_regex: str, filter_conf: Path, log: Path) -> dict[str, str]:
    """Each line fail2ban's filter matched, with the address it names."""
    proc = subprocess.run(
        [fail2ban_regex, "--usedns=no", "-o", "<ip>\t<msg>", str(log), str(filter_conf)],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    found: dict[str, str] = {}
    for row in proc.stdout.splitlines():
        ip, sep, msg = row.partition("\t")
        if sep:
            for part in msg.split("\\n"):
                found[part] = ip
    return found


def as_filterdef(converted: ConvertedFilter) -> FilterDef:
    assert converted.data is not None
    return parse_filter(converted.data, Marks(), f"f2b-{converted.name}", "<converted>")


def compare(fail2ban_regex: str, converted: ConvertedFilter, corpus_name: str) -> Agreement:
    """How often the converted filter and fail2ban agree on ``corpus_name``'s lines."""
    log = CORPUS / corpus_name
    theirs = fail2ban_results(
        fail2ban_regex, FAIL2BAN_ETC / "filter.d" / f"{converted.name}.conf", log
    )
    result = Agreement(converted.name)
    matcher = LineMatcher(CompiledFilter(as_filterdef(converted)), lambda: CORPUS_NOW)
    for line in corpus_lines(corpus_name):
        result.lines += 1
        outcome = matcher.match_line(line)
        ours = str(outcome.address) if outcome.kind == MATCHED and outcome.address else None
        their_text = theirs.get(line)
        their_addr = parse_address(their_text) if their_text else None
        want = str(their_addr) if their_addr is not None else None
        if ours == want:
            result.agree += 1
        else:
            result.differ.append(f"ours {ours}, fail2ban {want}: {line}")
    return result
