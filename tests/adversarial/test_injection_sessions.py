"""Injection into session lines: client text never chooses the address a session counts for.

A filter's ``sessions`` correlate a failure naming no address with the address
an earlier line of the session named (matching.sessions). For every filter with
sessions, every marked field of every sample is rewritten with the payloads of
test_injection_fields (address look-alikes, separators, tokens, copies of the
line's tail with another address, a copy of a teaching line) and the samples
are fed in order: every line that counts must count for an address its
sequence really taught, never for an injected one.
"""

from __future__ import annotations

import pytest
from test_injection_fields import INJECTED4, INJECTED6, as_written, payloads

from journalban.addresses import parse_address
from journalban.matching.engine import CompiledFilter, LineMatcher
from journalban.matching.filterdef import FilterDef, Sample
from journalban.matching.library import FilterLibrary
from journalban.matching.sessions import SessionTable, file_session_hits

LIBRARY = FilterLibrary(override_dir=None)
WITH_SESSIONS = [n for n in LIBRARY.names() if LIBRARY.load(n).sessions is not None]
NOW = 1_800_000_000.0


def _counted(fdef: FilterDef, lines: list[str]) -> list[str]:
    assert fdef.sessions is not None
    table = SessionTable(fdef.sessions)
    refused = LineMatcher(CompiledFilter(fdef, fdef.default_mode), lambda: NOW).ident_refused
    hits = file_session_hits(table, lines, lambda _: NOW, refused, NOW)
    return [str(parse_address(h[1])) for h in hits]


def _session_line(fdef: FilterDef, line: str) -> bool:
    rules = fdef.sessions
    assert rules is not None
    message = line.split("]: ", 1)[-1]
    return any(r.match(message) for r in (*rules.teach, *rules.count, *rules.end))


def _teaching_copies(fdef: FilterDef) -> list[str]:
    """Each sample's message with its addresses swapped for injected ones."""
    out = []
    for sample in fdef.samples:
        message = sample.line.split("]: ", 1)[-1]
        for real in {str(parse_address(s.session)) for s in fdef.samples if s.session}:
            if real in message:
                out += [message.replace(real, INJECTED4), message.replace(real, INJECTED6)]
    return out


def _rewrites(fdef: FilterDef, sample: Sample) -> list[str]:
    declared = fdef.attacker_fields or {}
    extra = _teaching_copies(fdef)
    lines = []
    for name, value in sample.fields:
        start = sample.line.index(value)
        raws = [*payloads(sample, value, start, start + len(value))]
        raws += [f"{value} {copy}" for copy in extra] + extra
        for raw in dict.fromkeys(raws):
            text = as_written(declared[name], raw)
            if text is not None:
                lines.append(sample.line.replace(value, text))
    return lines


@pytest.mark.parametrize("name", WITH_SESSIONS)
def test_client_text_never_chooses_a_sessions_address(name: str) -> None:
    fdef = LIBRARY.load(name)
    originals = [s.line for s in fdef.samples]
    taught = set(_counted(fdef, originals))
    assert taught, f"{name}: the samples count nothing through their sessions"
    escapes = []
    tried = 0
    for i, sample in enumerate(fdef.samples):
        for rewritten in _rewrites(fdef, sample):
            tried += 1
            if not _session_line(fdef, rewritten):
                continue  # no session regex matches it: it neither teaches nor counts
            lines = [*(o for o in originals[:i] if _session_line(fdef, o)), rewritten]
            lines += [o for o in originals[i + 1 :] if _session_line(fdef, o)]
            for address in _counted(fdef, lines):
                if address not in taught:
                    escapes.append(
                        f"sample line {sample.where}: {rewritten}\n    counted {address}"
                    )
    assert tried > 0, f"{name}: no sample marks client text (fields:)"
    assert not escapes, f"{name}: {len(escapes)} injected lines:\n" + "\n".join(escapes[:10])
