"""The generated part of docs/filters.md: the filter table and the corpus scores.

Run `.venv/bin/python tests/support/filters_table.py` to rewrite it;
tests/conformance/test_filters_doc.py checks that the file is current.
"""

from __future__ import annotations

import sys
from pathlib import Path

import yaml

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from journalban.matching.library import FilterLibrary
from support.corpus import ALIASES, CORPUS, NO_CORPUS, FileScore, corpus_available, score

DOC = Path(__file__).resolve().parents[2] / "docs" / "filters.md"
BEGIN = "<!-- BEGIN GENERATED: tests/support/filters_table.py -->"
END = "<!-- END GENERATED -->"


def _cell(items: list[str] | tuple[str, ...]) -> str:
    return "<br>".join(f"`{i}`" for i in items) if items else "—"


_SPACES = {" ": "space", "\t": "tab", "\n": "newline"}


def _chars(chars: str) -> str:
    """Characters for a table cell: whitespace by name, the rest in one code span."""
    named = [_SPACES[c] for c in chars if c in _SPACES]
    rest = "".join(c for c in chars if c not in _SPACES).replace("|", "\\|")
    return ", ".join(named + ([f"`{rest}`"] if rest else []))


def _declared_groups(path: Path) -> list[str]:
    """The journal match groups as the filter file writes them: ``_UID=@postfix`` stays
    so (loading resolves it to the uid of this machine's user, when there is one)."""
    data = yaml.safe_load(path.read_text()) or {}
    return [" ".join(group) for group in data.get("journal_match") or []]


def filter_table(library: FilterLibrary) -> list[str]:
    out = [
        "## Filters at a glance",
        "",
        "| filter | modes | journal match groups | idents | Debian | Fedora | Arch |",
        "|---|---|---|---|---|---|---|",
    ]
    for name in library.names():
        f = library.load(name)
        groups = _declared_groups(Path(f.file))
        files = [_cell(f.files.get(d, ())) for d in ("debian", "fedora", "arch")]
        out.append(
            f"| `{name}` | {', '.join(f.modes)} | {_cell(groups)} | {_cell(sorted(f.idents))} | "
            + " | ".join(files)
            + " |"
        )
    out.append("")
    out.append(
        "— in a distribution column: the service logs to the journal only there (or has no default file)."
    )
    out += [
        "",
        "## What clients write into each filter's lines",
        "",
        "Each filter's `attacker_fields` (see docs/filter-writing.md): the text a remote",
        "client chooses, and what the server guarantees about it. The injection suite",
        "(tests/adversarial/test_injection_fields.py) rewrites every one of them in every",
        "mode and checks that only the real peer, or nothing, is reported.",
        "",
        "| filter | field | what it is | never written there | escaped |",
        "|---|---|---|---|---|",
    ]
    for name in library.names():
        declared = library.load(name).attacker_fields
        fields = declared or {}
        if declared == {}:
            out.append(
                f"| `{name}` | none: no client text in its lines (both ends anchored) | | | |"
            )
        elif not fields:
            out.append(f"| `{name}` | **none declared** | | | |")
        for field, info in fields.items():
            never, escaped = _chars(info.never), _chars(info.escaped)
            about = info.about.replace("|", "\\|")
            out.append(f"| `{name}` | `{field}` | {about} | {never} | {escaped} |")
    return out


def corpus_table(library: FilterLibrary) -> list[str]:
    out = [
        "## Against fail2ban's corpus",
        "",
        "Each filter run over fail2ban's sample file of the same name (`sshd` also over",
        "`sshd-journal`), once per mode the annotations ask for. *Found*: annotated",
        "failures reported with the right host. *False*: matches in normal mode on lines",
        "that must not match. *Times*: found lines whose time is off by more than a second",
        "(TAI64N: 10 s). Left out of the score, with the reason: lines whose host is a DNS",
        "name (journalban never resolves names from logs), non-canonical addresses",
        "(`192.030.0.6`), lines under a `constraint` or fail2ban's own `test.*` options,",
        "and failures that need several lines put together (`attempts`, or the address on",
        "another line).",
        "",
        "| filter | scored | found | % | false | times | left out |",
        "|---|---:|---:|---:|---:|---:|---|",
    ]
    total_scored = total_found = 0
    results: list[FileScore] = []
    for name in library.names():
        if name in NO_CORPUS or not (CORPUS / name).exists():
            continue
        r = score(library.load(name), ALIASES.get(name, [name]))
        results.append(r)
        total_scored += r.scored
        total_found += r.found
        left = ", ".join(f"{why}: {n}" for why, n in sorted(r.excluded.items())) or "—"
        out.append(
            f"| `{name}` | {r.scored} | {r.found} | {r.percent:.1f} | {len(r.false_matches)} | "
            f"{len(r.wrong_times)} | {left} |"
        )
    pct = 100.0 * total_found / total_scored if total_scored else 100.0
    out.append(f"| **all** | {total_scored} | {total_found} | {pct:.1f} | | | |")
    out += ["", "Judged by their own samples only (no corpus file): "
            + ", ".join(f"`{n}`" for n in sorted(NO_CORPUS)) + ".", ""]  # fmt: skip
    out += ["### Scored lines not found", ""]
    for r in results:
        for line in r.missed + r.wrong_host:
            out.append(f"- `{r.name}` {line.replace('|', '/')[:300]}")
    return out


def generated() -> str:
    library = FilterLibrary(override_dir=None)
    lines = [BEGIN, "", *filter_table(library), ""]
    if corpus_available():
        lines += corpus_table(library)
    lines += ["", END]
    return "\n".join(lines) + "\n"


def current_section(text: str) -> str:
    if BEGIN not in text:
        return ""
    start = text.index(BEGIN)
    return text[start : text.index(END, start) + len(END)] + "\n"


def rewrite() -> None:
    text = DOC.read_text() if DOC.exists() else "# Filters\n\n"
    new = generated()
    old = current_section(text)
    text = (
        text.replace(old.rstrip("\n"), new.rstrip("\n"))
        if old
        else text.rstrip("\n") + "\n\n" + new
    )
    DOC.write_text(text)


if __name__ == "__main__":
    rewrite()
