"""The journal child's prefilter (sources.literalscan) finds exactly the messages holding a literal.

Each literal is searched from its rarest byte with a lookbehind for the bytes
before it; the pattern must agree with a plain substring test on every
packaged filter's literals (every mode, session literals included, as the
agent asks for them), on the filters' own samples and on messages built to
trip it: the literal at the very start and end of a message (the lookbehind
at offset 0), cut short on either side, with its pivot byte changed, and
overlapping repetitions.
"""

from __future__ import annotations

import random
import re

import pytest

from journalban.matching.library import FilterLibrary
from journalban.matching.spec import MatcherSpec
from journalban.sources.literalscan import first_look, literal_scan, pivoted, pivots, sparse
from support.filter_modes import every_filter_mode


def _holds(message: bytes, literals: list[bytes]) -> bool:
    return any(literal in message for literal in literals)


def _agent_literals(name: str, mode: str) -> list[str]:
    """The prefilter the agent sends for a journal jail of this filter (agent.build)."""
    fdef = FilterLibrary(None).load(name)
    literals = list(MatcherSpec(name, mode, None).compile(fdef).literals)
    if fdef.sessions is not None and literals:
        session = fdef.sessions.literals
        if session is None:
            return []
        literals += session
    return literals


def _tricky(literal: bytes, rng: random.Random) -> list[bytes]:
    words = [b"", b"x", b"sshd[12]: ", b"from 203.0.113.5 port 22", bytes(range(1, 40))]
    cases = [literal, literal + literal, literal[1:], literal[:-1], literal[::-1]]
    for at in range(len(literal)):
        changed = bytearray(literal)
        changed[at] = (changed[at] + 1) % 128
        cases.append(bytes(changed))
    cases += [rng.choice(words) + case + rng.choice(words) for case in list(cases)]
    # Half of it, then the whole: the lookbehind must not stop at the first half.
    cases.append(literal[: len(literal) // 2] + literal)
    return cases


@pytest.mark.parametrize(("name", "mode"), every_filter_mode())
def test_scan_agrees_with_substring_test_on_every_filter(name: str, mode: str) -> None:
    literals = _agent_literals(name, mode)
    scan = literal_scan(literals)
    if scan is None:
        assert not literals or any(not lit.strip() or not lit.isascii() for lit in literals)
        return
    wanted = [lit.strip().encode() for lit in literals]
    rng = random.Random(name)
    fdef = FilterLibrary(None).load(name)
    messages = [s.line.encode("utf-8", "replace") for s in fdef.samples]
    for literal in wanted:
        messages += _tricky(literal, rng)
        others = rng.sample(wanted, min(3, len(wanted)))
        messages.append(b" ".join(o[: len(o) - 1] for o in others))
    found = 0
    for message in messages:
        holds = _holds(message, wanted)
        assert (scan.search(message) is not None) == holds, (name, mode, message)
        found += holds
    assert found >= len(wanted)  # every literal was found at least in itself


def test_pivots_cover_every_literal_with_bytes_rare_in_the_sample() -> None:
    literals = [b"reject: RCPT from", b"reject: HELO from", b"too many errors after"]
    # 'j' stands for both "reject" literals; 'y' is the rarest byte of the third here.
    sample = (
        b"connect from mail.example.org[203.0.113.5]\n"
        b"warning: hostname 203-0-113-5.example.net does not resolve to address 203.0.113.5\n"
        b"disconnect from mail.example.org[203.0.113.5] ehlo=1 mail=1 rcpt=1 data=1 quit=1\n"
    ) * 20
    at = pivots(literals, sample)
    assert {literal[at[literal]] for literal in literals} == {ord("j"), ord("y")}
    # Without a sample, by COMMON_BYTES: a capital is rarer than any letter listed.
    assert pivots([b"Failed "], b"") == {b"Failed ": 0}
    assert pivoted(b"reject: RCPT from", 2) == b"j(?<=rej)ect:" + re.escape(b" RCPT from")
    for literal in (b"Failed ", b"reject: RCPT from", b"too many errors after", b"a"):
        for offset in range(len(literal)):
            regex = re.compile(pivoted(literal, offset))
            # The match starts at the pivot: it is found in the literal, in no part of it.
            assert regex.search(literal) is not None
            assert regex.search(literal[:-1]) is None
            assert regex.search(literal[1:]) is None


@pytest.mark.parametrize(("name", "mode"), every_filter_mode())
def test_a_scan_tuned_by_a_sample_finds_the_same_messages(name: str, mode: str) -> None:
    literals = _agent_literals(name, mode)
    wanted = [lit.strip().encode() for lit in literals]
    if literal_scan(literals) is None:
        return
    rng = random.Random(name + mode)
    fdef = FilterLibrary(None).load(name)
    messages = [s.line.encode("utf-8", "replace") for s in fdef.samples]
    messages += [case for literal in wanted for case in _tricky(literal, rng)]
    # Sampled from messages of their own kind (the filter's samples), as the child does.
    scan = literal_scan(literals, b"\n".join(messages[:50]))
    assert scan is not None
    for message in messages:
        assert (scan.search(message) is not None) == _holds(message, wanted), message


def test_no_scan_without_usable_literals() -> None:
    assert literal_scan([]) is None
    assert literal_scan(["ok", "  "]) is None  # a blank literal is in every message
    assert literal_scan(["caf\u00e9"]) is None  # non-ASCII: decoding could differ


def test_scans_of_one_sample_count_its_bytes_once_alike() -> None:
    """The reader child tunes its exact scan and its first look by one sample: the byte
    counts the first finds are shared with the second (``counts``), with the same pivots,
    patterns and table as each counting alone."""
    literals = ["reject: RCPT from ", "too many errors after ", "improper command pipelining"]
    sample = b"\n".join(
        [b"connect from mail.example.org[203.0.113.5]", b"reject: RCPT from x"] * 30
    )
    counts: dict[int, int] = {}
    scan = literal_scan(literals, sample, counts)
    assert counts == {byte: sample.count(byte) for byte in set("".join(literals).encode())}
    alone = literal_scan(literals, sample)
    assert scan is not None
    assert alone is not None
    assert scan.pattern == alone.pattern
    filled = dict(counts)
    shared, fresh = first_look(literals, sample, counts), first_look(literals, sample)
    assert counts == filled  # nothing counted again
    assert shared is not None
    assert fresh is not None
    assert shared[0] == fresh[0]
    for message in [*sample.split(b"\n"), b"x too many errors after y", b"improper"]:
        seen = message.translate(shared[0])
        assert (shared[1](seen) is None) == (fresh[1](seen) is None), message


@pytest.mark.parametrize(("name", "mode"), every_filter_mode())
def test_the_first_look_misses_no_message_holding_a_literal(name: str, mode: str) -> None:
    """first_look (pivot bytes translated to one, each literal searched from it) finds every
    message the exact scan finds, untuned and tuned by a sample; the reader asks the exact
    scan only of what it finds, so the candidates are the same."""
    literals = _agent_literals(name, mode)
    wanted = [lit.strip().encode() for lit in literals]
    if literal_scan(literals) is None:
        assert first_look(literals) is None
        return
    rng = random.Random("first" + name + mode)
    fdef = FilterLibrary(None).load(name)
    messages = [s.line.encode("utf-8", "replace") for s in fdef.samples]
    messages += [case for literal in wanted for case in _tricky(literal, rng)]
    messages += [b"\x00" + m + b"\x00" for m in messages[:20]]  # the stand-in byte itself
    for sample in (b"", b"\n".join(messages[:50])):
        look = first_look(literals, sample)
        if look is None:  # one pivot serves every literal: the exact scan alone
            at = pivots(sorted({w for w in wanted}, key=len, reverse=True), sample)
            assert len({literal[at[literal]] for literal in at}) == 1
            continue
        table, search = look
        found = 0
        for message in messages:
            if _holds(message, wanted):
                assert search(message.translate(table)) is not None, message
                found += 1
        assert found >= len(wanted)


def test_the_first_look_serves_where_few_messages_hold_a_literal() -> None:
    literals = ["reject: RCPT from ", "too many errors after "]
    scan = literal_scan(literals)
    assert scan is not None
    quiet = b"\n".join(
        [b"connect from mail.example.org[203.0.113.5]"] * 9 + [b"reject: RCPT from x"]
    )
    busy = b"\n".join([b"reject: RCPT from x", b"connect from y"])
    assert sparse(scan, quiet)
    assert not sparse(scan, busy)
    assert not sparse(scan, b"")
    look = first_look(literals, quiet)
    assert look is not None
    table, search = look
    assert search(b"x reject: RCPT from y".translate(table)) is not None
    assert search(b"connect from mail.example.org".translate(table)) is None
