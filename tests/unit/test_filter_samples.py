"""Every shipped filter is specified by its samples: they must all hold."""

from __future__ import annotations

import pytest

from journalban.addresses import parse_address
from journalban.matching.engine import ACCEPTED, IGNORED, MATCHED, CompiledFilter, LineMatcher
from journalban.matching.filterdef import FilterDef
from journalban.matching.library import FilterLibrary

LIBRARY = FilterLibrary(override_dir=None)
NAMES = LIBRARY.names()


def _matcher(fdef: FilterDef, mode: str) -> LineMatcher:
    return LineMatcher(CompiledFilter(fdef, mode, successes=True), lambda: 1_800_000_000.0)


def _run(matcher: LineMatcher, line: str) -> tuple[int, str | None, int, str | None]:
    """Through the whole pipeline, prefilter included."""
    found = list(matcher.match_lines([line]))
    if not found:
        return 2, None, -1, None
    out = found[0]
    return out.kind, None if out.address is None else str(out.address), out.regex, out.user


@pytest.mark.parametrize("name", NAMES)
def test_filter_samples_hold_in_every_mode(name: str) -> None:
    fdef = LIBRARY.load(name)
    assert fdef.samples, f"{name} has no samples"
    failures = []
    for mode in fdef.modes:
        matcher = _matcher(fdef, mode)
        for sample in fdef.samples:
            if mode not in sample.modes:
                continue
            kind, host, _, user = _run(matcher, sample.line)
            want = None if sample.host is None else str(parse_address(sample.host))
            if sample.ignored:
                ok = kind == IGNORED
            elif sample.success and sample.session is None:
                ok = kind == ACCEPTED and host == want and user == sample.user
            elif want is None:
                ok = kind != MATCHED
            else:
                ok = (
                    kind == MATCHED
                    and host == want
                    and (sample.user is None or user == sample.user)
                )
            if not ok:
                failures.append(
                    f"line {sample.where} [{mode}]: got {host!r} ({kind}), want {want!r}"
                )
    assert not failures, "\n".join(failures)


@pytest.mark.parametrize("name", NAMES)
def test_every_failregex_is_hit_by_a_sample(name: str) -> None:
    fdef = LIBRARY.load(name)
    hit: set[int] = set()
    for mode in fdef.modes:
        matcher = _matcher(fdef, mode)
        for sample in fdef.samples:
            if mode in sample.modes and sample.host is not None:
                kind, _, regex, _ = _run(matcher, sample.line)
                if kind == MATCHED:
                    hit.add(regex)
    unhit = [f"#{i}: {r.pattern}" for i, r in enumerate(fdef.failregex) if i not in hit]
    assert not unhit, "failregexes no sample hits:\n" + "\n".join(unhit)


@pytest.mark.parametrize("name", NAMES)
def test_every_successregex_is_hit_by_a_sample(name: str) -> None:
    fdef = LIBRARY.load(name)
    first = len(fdef.failregex)
    hit = {
        regex - first
        for sample in fdef.samples
        if sample.success
        for kind, _, regex, _ in [_run(_matcher(fdef, fdef.default_mode), sample.line)]
        if kind == ACCEPTED
    }
    unhit = [r.pattern for i, r in enumerate(fdef.successregex) if i not in hit]
    assert not unhit, "successregexes no sample hits:\n" + "\n".join(unhit)


def test_success_lines_are_no_failures_without_successes() -> None:
    fdef = LIBRARY.load("sshd")
    matcher = LineMatcher(CompiledFilter(fdef), lambda: 1_800_000_000.0)
    for sample in fdef.samples:
        if sample.success:
            assert _run(matcher, sample.line)[0] != MATCHED


@pytest.mark.parametrize("name", NAMES)
def test_journal_groups_pin_a_trusted_uid(name: str) -> None:
    fdef = LIBRARY.load(name)
    for group in fdef.journal_match:
        fields = dict(group)
        assert "_UID" in fields, f"{name}: group {group} pins no _UID"
        assert "_SYSTEMD_UNIT" in fields or "_SYSTEMD_USER_UNIT" in fields, f"{name}: {group}"
