"""The benchmark corpora (tests/benchmarks/corpora.py): deterministic, of the shapes they claim.

Each generator marks the lines its corpus's filter should count; journalban's
matcher must find exactly those lines (so the benchmark's counts are checked
against a second opinion, and the filters against realistic lines).
"""

from __future__ import annotations

import collections
import ipaddress
import re
import sys
import time
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parents[1] / "benchmarks"))

import corpora
import corpora_sshd
import gen_sshd_corpus
from corpus_log import distinct_addresses

from journalban.cli.regex import count_file
from journalban.matching.engine import MATCHED, CompiledFilter, LineMatcher
from journalban.matching.library import FilterLibrary

SYSLOG = re.compile(r"^[A-Z][a-z]{2} [ \d]\d \d\d:\d\d:\d\d \S+ ([^\s\[:]+)(?:\[\d+\])?: (.+)$")
ADDRESS = re.compile(
    r"(?<![\w.:])(?:\d{1,3}(?:\.\d{1,3}){3}|[0-9a-f]{1,4}(?::[0-9a-f]{0,4}){2,7})(?![\w.:])"
)
LINES = 6000


def sample(name: str, lines: int = LINES) -> list[tuple[str, bool]]:
    return list(corpora.flagged_lines(name, lines))


def test_every_corpus_is_the_same_file_each_time_and_another_with_another_seed(
    tmp_path: Path,
) -> None:
    for name in corpora.CORPORA:
        one = corpora.write_corpus(name, tmp_path / "a.log", 3000)
        two = corpora.write_corpus(name, tmp_path / "b.log", 3000)
        other = corpora.write_corpus(name, tmp_path / "c.log", 3000, seed=7)
        assert one.sha256 == two.sha256, name
        assert (tmp_path / "a.log").read_bytes() == (tmp_path / "b.log").read_bytes()
        assert other.sha256 != one.sha256, name
        text = (tmp_path / "a.log").read_text()
        assert text.count("\n") == 3000
        assert text.endswith("\n")
        assert one.failures == sum(flag for _, flag in sample(name, 3000))


def test_the_sshd_corpus_is_gen_sshd_corpus_output(tmp_path: Path) -> None:
    expected = list(gen_sshd_corpus.generate(4000))
    corpora.write_corpus("sshd", tmp_path / "auth.log", 4000)
    assert (tmp_path / "auth.log").read_text().splitlines() == expected


@pytest.mark.parametrize("name", sorted(corpora.CORPORA))
def test_every_line_is_a_syslog_line_with_a_clock_that_moves_forward(name: str) -> None:
    last = 0.0
    for line, _ in sample(name, 2000):
        assert SYSLOG.match(line), line
        when = time.mktime(time.strptime("2025 " + line[:15], "%Y %b %d %H:%M:%S"))
        assert when >= last - 3600  # a DST change may step back an hour, nothing else
        last = max(last, when)


@pytest.mark.parametrize("name", sorted(corpora.CORPORA))
def test_journalban_finds_exactly_the_lines_the_generator_marked(name: str) -> None:
    spec = corpora.CORPORA[name]
    flagged = sample(name)
    lines = [line for line, _ in flagged]
    matcher = LineMatcher(CompiledFilter(FilterLibrary(None).load(spec.filter)), time.time)
    found = {o.index for o in matcher.match_lines(lines) if o.kind == MATCHED}
    marked = {i for i, (_, flag) in enumerate(flagged) if flag}
    assert marked, name
    assert sorted(found - marked)[:3] == []
    assert sorted(marked - found)[:3] == []


def test_near_miss_lines_mostly_hold_a_literal_of_the_filter_and_rarely_fail() -> None:
    prefilter = FilterLibrary(None).load("sshd").prefilter
    flagged = sample("sshd-near-miss")
    holding = [line for line, flag in flagged if not flag and any(p in line for p in prefilter)]
    assert len(holding) > 0.6 * len(flagged)
    failures = sum(flag for _, flag in flagged)
    assert 0.02 * len(flagged) < failures < 0.08 * len(flagged)
    for needed in ("Accepted publickey", "Connection closed by authenticating user",
                   "Failed publickey for", "[preauth]", "kex_exchange_identification"):  # fmt: skip
        assert any(needed in line for line, _ in flagged), needed
    # pre-auth disconnects without an address too
    messages = [SYSLOG.match(line).group(2) for line, _ in flagged]  # type: ignore[union-attr]
    assert any("Connection" in m and not ADDRESS.search(m) for m in messages)


def test_flood_is_half_failures_from_addresses_that_do_not_recur_early() -> None:
    flagged = sample("sshd-flood", 20_000)
    failures = [line for line, flag in flagged if flag]
    assert 0.45 < len(failures) / len(flagged) < 0.55
    # Each attack takes the next of the 200,000 addresses: none recurs across attacks.
    peers = [line.split(" from ")[1].split(" port ")[0] for line in failures if "Failed " in line]
    attacks = [p for k, p in enumerate(peers) if k == 0 or peers[k - 1] != p]
    assert len(set(attacks)) == len(attacks) > 3000
    versions = collections.Counter(ipaddress.ip_address(p).version for p in set(peers))
    assert 0.2 < versions[6] / len(set(peers)) < 0.5
    assert corpora_sshd.FLOOD_ADDRESSES == 200_000


def test_distinct_addresses_are_distinct_valid_and_mixed() -> None:
    import random

    addresses = distinct_addresses(random.Random(1), 5000, 0.35)
    assert len(set(addresses)) == 5000
    parsed = [ipaddress.ip_address(a) for a in addresses]
    assert all(str(p) == a for p, a in zip(parsed, addresses, strict=True))  # canonical text
    assert all(p.is_global or p in ipaddress.ip_network("2001:db8::/32") for p in parsed)
    assert 0.3 < sum(p.version == 6 for p in parsed) / 5000 < 0.4


def test_mixed_auth_log_is_one_third_sshd() -> None:
    flagged = sample("authlog-mixed", 12_000)
    idents = collections.Counter(SYSLOG.match(line).group(1) for line, _ in flagged)  # type: ignore[union-attr]
    assert abs(idents["sshd"] / len(flagged) - 1 / 3) < 0.02
    for other in ("sudo", "CRON", "systemd-logind", "su", "systemd"):
        assert idents[other] > 0, other
    assert any("pam_unix(sudo:auth): authentication failure" in line for line, _ in flagged)
    # an admin's grep for sshd's words, from sudo: never a failure
    assert any(line.split()[4] == "sudo:" and "Failed password" in line for line, _ in flagged)


@pytest.mark.parametrize(("name", "own", "other"), [("dovecot", "dovecot", "postfix/"),
                                                     ("postfix", "postfix/", "dovecot")])  # fmt: skip
def test_mail_corpora_are_mostly_their_daemon_with_the_other_mixed_in(
    name: str, own: str, other: str
) -> None:
    flagged = sample(name)
    idents = [SYSLOG.match(line).group(1) for line, _ in flagged]  # type: ignore[union-attr]
    mine = sum(i.startswith(own) for i in idents)
    assert mine > 0.6 * len(flagged)
    assert any(i.startswith(other) for i in idents)
    assert 0.03 * len(flagged) < sum(flag for _, flag in flagged) < 0.2 * len(flagged)


@pytest.mark.parametrize("name", sorted(corpora.CORPORA))
def test_the_summary_path_counts_what_the_generator_marked(name: str, tmp_path: Path) -> None:
    """`journalban regex`'s counting path (the benchmark's) on the written file."""
    written = corpora.write_corpus(name, tmp_path / "log", LINES)
    spec = corpora.CORPORA[name]
    matcher = LineMatcher(CompiledFilter(FilterLibrary(None).load(spec.filter)), time.time)
    tally = count_file(matcher, tmp_path / "log")
    assert tally.lines == LINES
    assert tally.matched == written.failures
    assert sum(tally.regex_hits.values()) == written.failures
