"""``matching.warmup.warm``: the fused regexes a file's first lines need, compiled before
any line is read (a held file reader child), with the matching unchanged."""

from __future__ import annotations

import pytest

from journalban.events import LineBatch
from journalban.matching.engine import LineMatcher
from journalban.matching.library import FilterLibrary
from journalban.matching.spec import MatcherSpec
from journalban.matching.warmup import warm
from support.compiles import fused_compiles

NOW = 1_764_000_000.0
SYSLOG = [
    "Nov 23 10:00:01 host sshd[1201]: Failed password for root from 203.0.113.5 port 40122 ssh2",
    "Nov 23 10:00:02 host sshd[1202]: Failed password for invalid user admin from 2001:db8::17 "
    "port 40122 ssh2",
    "Nov 23 10:00:03 host sshd[1203]: Invalid user oracle from 198.51.100.4 port 5122",
    "Nov 23 10:00:04 host sshd[1204]: Accepted password for alice from 192.0.2.10 port 22 ssh2",
    "Nov 23 10:00:05 host sshd[1205]: Connection closed by 192.0.2.99 port 1022 [preauth]",
]
ISO = [
    "2025-11-23T10:00:01.000000+00:00 host sshd[1201]: Failed password for root from "
    "203.0.113.5 port 40122 ssh2",
    "2025-11-23T10:00:03.000000+00:00 host sshd[1203]: Invalid user oracle from 198.51.100.4 "
    "port 5122",
]


def _matcher() -> LineMatcher:
    spec = MatcherSpec("sshd", None, None, successes=True)
    return LineMatcher(spec.compile(FilterLibrary(None).load("sshd")), lambda: NOW)


def _hits(matcher: LineMatcher, lines: list[str]) -> list[object]:
    return list(matcher.hits(LineBatch("files:x", lines, "0")))


@pytest.fixture
def compiled(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """The regex masks ``CompiledFilter.fused`` compiles, in order."""
    return fused_compiles(monkeypatch)


def test_the_samples_regexes_are_compiled_and_no_date_format_settled(compiled: list[int]) -> None:
    matcher = _matcher()
    samples = [sample.line for sample in matcher.filter.fdef.samples]
    assert warm(matcher, samples) > 0
    assert compiled  # sshd's samples: the masks of its failures, under syslog's head
    assert matcher.heads.format is None
    assert matcher.heads.regex is None
    assert matcher.dates.hits == {}


def test_a_file_in_a_samples_format_compiles_nothing_more_and_finds_the_same(
    compiled: list[int],
) -> None:
    plain = _matcher()
    expected = _hits(plain, SYSLOG)
    assert compiled  # without the warm-up its first lines compile theirs
    warmed = _matcher()
    warm(warmed, [sample.line for sample in warmed.filter.fdef.samples])
    compiled.clear()
    assert _hits(warmed, SYSLOG) == expected
    assert compiled == []
    assert len(expected) == 4  # three failures and the accepted login


def test_a_file_in_another_format_compiles_its_own_and_finds_the_same(
    compiled: list[int],
) -> None:
    expected = _hits(_matcher(), ISO)
    warmed = _matcher()
    warm(warmed, [sample.line for sample in warmed.filter.fdef.samples])
    compiled.clear()
    assert _hits(warmed, ISO) == expected
    assert compiled
    assert len(expected) == 2


def test_a_filter_seen_through_proxies_compiles_nothing(compiled: list[int]) -> None:
    """Its lines take the general path (``LineMatcher.hits``), which uses no mask's regex."""
    fdef = FilterLibrary(None).load("nginx-http-auth")
    spec = MatcherSpec("nginx-http-auth", None, None, trusted_proxies=["192.0.2.0/24"])
    matcher = LineMatcher(spec.compile(fdef), lambda: NOW)
    assert matcher.filter.trusted
    assert warm(matcher, [sample.line for sample in fdef.samples]) == 0
    assert compiled == []
