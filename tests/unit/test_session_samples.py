"""A filter's sessions are specified by its samples too: fed in order, each line
counts for the address its ``session:`` names, or for none."""

from __future__ import annotations

import pytest

from journalban.addresses import parse_address
from journalban.errors import FilterError
from journalban.events import FAILURE, SUCCESS, Hit
from journalban.matching.engine import MISSED, CompiledFilter, LineMatcher
from journalban.matching.filterdef import FilterDef, Sample, load_filter_text
from journalban.matching.library import FilterLibrary
from journalban.matching.sessions import SessionTable, file_session_hits

LIBRARY = FilterLibrary(override_dir=None)
WITH_SESSIONS = [n for n in LIBRARY.names() if LIBRARY.load(n).sessions is not None]
NOW = 1_800_000_000.0


def session_counts(fdef: FilterDef, lines: list[str]) -> list[Hit | None]:
    """What each line gives through the session table, fed in order (the file
    reader's way: the session is the line's ident and pid, or its session group)."""
    assert fdef.sessions is not None
    table = SessionTable(fdef.sessions)
    matcher = LineMatcher(CompiledFilter(fdef, fdef.default_mode), lambda: NOW)
    out: list[Hit | None] = [None] * len(lines)
    for i, line in enumerate(lines):
        for hit in file_session_hits(table, [line], lambda _: NOW, matcher.ident_refused, NOW):
            # A count that waited for its teach line (sessions.late) comes out with the
            # teach line: it belongs to the earlier line holding its message.
            at = i if hit[0] == line else max(k for k in range(i) if hit[0] in lines[k])
            out[at] = hit
    return out


def _want(sample: Sample) -> tuple[str, str | None, int] | None:
    if sample.session is None:
        return None
    mark = SUCCESS if sample.success else FAILURE
    return str(parse_address(sample.session)), sample.user, mark


def _got(hit: Hit | None, sample: Sample) -> tuple[str, str | None, int] | None:
    if hit is None:
        return None
    # A sample names the user only where it checks it.
    user = hit[3] if sample.user is not None or sample.success else sample.user
    return str(parse_address(hit[1])), user, hit[4]


def test_some_shipped_filters_have_sessions() -> None:
    assert {"sshd", "opensmtpd"} <= set(WITH_SESSIONS)


@pytest.mark.parametrize("name", WITH_SESSIONS)
def test_session_samples_count_for_their_session_only(name: str) -> None:
    fdef = LIBRARY.load(name)
    got = session_counts(fdef, [s.line for s in fdef.samples])
    wrong = [
        f"line {s.where}: gives {_got(g, s)!r}, want {_want(s)!r}"
        for s, g in zip(fdef.samples, got, strict=True)
        if _got(g, s) != _want(s)
    ]
    assert not wrong, "\n".join(wrong)


@pytest.mark.parametrize("name", WITH_SESSIONS)
def test_every_session_count_regex_is_hit_by_a_sample(name: str) -> None:
    fdef = LIBRARY.load(name)
    assert fdef.sessions is not None
    counted = [s.line for s in fdef.samples if s.session is not None]
    unhit = [
        r.pattern
        for r in (*fdef.sessions.count, *fdef.sessions.success)
        if not any(r.match(line.split("]: ", 1)[-1]) for line in counted)
    ]
    assert not unhit, (
        "session count and success regexes no sample with session: hits:\n" + "\n".join(unhit)
    )


SESSIONS_ONLY = """\
sessions:
  teach: ['^(?P<session>[0-9a-f]{4}) open <ADDR>$']
  count: ['^(?P<session>[0-9a-f]{4}) bad password$']
samples:
  - line: "Mar  3 10:00:01 mx d[1]: 0a0b open 203.0.113.5"
    host: null
  - line: "Mar  3 10:00:02 mx d[1]: 0a0b bad password"
    host: null
    session: 203.0.113.5
"""


def test_a_sessions_only_filter_needs_no_failregex() -> None:
    fdef = load_filter_text(SESSIONS_ONLY, "d", "d.yaml")
    assert fdef.failregex == ()
    line = fdef.samples[1].line
    matcher = LineMatcher(CompiledFilter(fdef, "normal"), lambda: NOW)
    assert [o.kind for o in matcher.match_lines([line])] == [MISSED]
    assert [h and h[1] for h in session_counts(fdef, [s.line for s in fdef.samples])] == [
        None,
        "203.0.113.5",
    ]


def test_a_filter_needs_a_failregex_or_sessions() -> None:
    with pytest.raises(FilterError, match="failregex or a sessions"):
        load_filter_text("samples: []\n", "d", "d.yaml")
