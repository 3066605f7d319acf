"""matching.guards: the file lines' first test (a start of a regex they may match, or a
string it requires, searched before the fused match), checked against the regexes on every
packaged filter and mode, and the same hits with and without it."""

from __future__ import annotations

import re

import pytest

from journalban.events import LineBatch
from journalban.matching.engine import CompiledFilter, LineMatcher
from journalban.matching.guards import TRIAL, Guards, literal_guard, start_guard, strings_follow
from journalban.matching.library import FilterLibrary
from journalban.matching.needles import line_regex_after
from support.bare_messages import bare_messages
from support.filter_modes import every_filter_mode

HEAD = "Dec  4 09:07:24 web1 sshd[41235]: "
NOW = 1796461644.0


def guard(*patterns: str) -> str | None:
    found = start_guard([re.compile(p) for p in patterns])
    return None if found is None else found.pattern


def test_a_guard_is_the_starts_after_their_common_prefix() -> None:
    assert guard(r"^Failed (?:password|none) for", r"^Failed publickey for invalid user ") == (
        r"Failed\ (?:none\ for|password\ for|publickey\ for\ invalid\ user\ )"
    )
    assert guard(r"^Accepted password for ") == r"Accepted\ password\ for\ "
    # Starts without a common prefix of MIN_PREFIX characters: the search would test every
    # character; a regex that may start with anything: no test at all.
    assert guard(r"^(?:error: )?Received disconnect") is None
    assert guard(r"^Fai", r"^Faile") is None
    assert guard(r"^Failed ", r"^\w+ failed") is None


def test_else_a_guard_is_a_few_strings_each_match_holds_beyond_the_literals() -> None:
    def strings(literals: tuple[str, ...], *patterns: str) -> tuple[str, ...] | None:
        return literal_guard([re.compile(p) for p in patterns], literals)

    disconnect = r"^(?:error: )?Received disconnect from (?=.*: ?(?:3|14): )\S+(?: port \d+)?: ?(?:3|14): .*$"
    # The literal the scan found and what it holds (" from ") tell nothing more; ":" is short.
    assert strings(("Received disconnect from ",), disconnect) == ("14: ", "3: ")
    assert strings(("Failed ",), r"^Failed \S+ for ", r"^Failed \S+ by ") == (" for ", " by ")
    assert strings(("x",), r"^.*$") is None  # no required string
    assert strings(("Failed ",), r"^Failed \w+") is None  # only the literal itself
    assert strings(("a",), r"^a bbb", r"^a ccc", r"^a ddd", r"^a eee") is None  # too many


@pytest.mark.parametrize(("name", "mode"), every_filter_mode())
def test_a_guard_finds_every_line_its_regexes_match(name: str, mode: str) -> None:
    fdef = FilterLibrary(None).load(name)
    messages = list(bare_messages())
    for successes in (False, True):
        compiled = CompiledFilter(fdef, mode, successes=successes)
        regexes = [regex for _, regex in compiled.regexes]
        # Every regex alone, each needle's regexes, and all of them.
        masks = {1 << k for k in range(len(regexes))} | {-1}
        masks |= {compiled.regexes_needing(1 << bit) for bit in range(len(compiled.needles))}
        for mask in masks:
            found = compiled.line_guard(mask)
            if found is None:
                continue
            chosen = [r for k, r in enumerate(regexes) if mask >> k & 1]
            for message in messages:
                if any(regex.match(message) for regex in chosen):
                    for line in (message, HEAD + message, "<38>" + HEAD + message):
                        text = f"x\n{line}\ny"  # a line inside a text, as the scan finds it
                        at = text.index(line)
                        assert found(text, at, at + len(line)) is not None, (name, mode, mask, line)


def _lines(messages: list[str]) -> list[str]:
    return [HEAD + message for message in messages]


def _hits(lines: list[str], guarded: bool) -> list[tuple[object, ...]]:
    matcher = LineMatcher(
        CompiledFilter(FilterLibrary(None).load("sshd"), "normal", successes=True), lambda: NOW
    )
    if not guarded:
        matcher.guards.for_mask = lambda mask: None  # type: ignore[method-assign]
    out: list[tuple[object, ...]] = []
    for at in range(0, len(lines), 50):  # several batches: guards decided in one, used later
        out += matcher.hits(LineBatch("f", lines[at : at + 50], "0"))
    return out


def test_near_misses_are_told_by_the_guard_and_the_hits_are_the_same() -> None:
    near = "Failed publickey for bob from 198.51.100.{} port 40122 ssh2: RSA SHA256:AbCdEf0123"
    failing = "Failed password for invalid user admin from 203.0.113.{} port 22 ssh2"
    odd = "Failed publickey for invalid user x from 203.0.113.{} port 22 ssh2: RSA SHA256:Ab"
    reason = "Received disconnect from 198.51.100.{} port 4411:11: Bye Bye [preauth]"
    lines = _lines(
        [(near if k % 3 else failing if k % 2 else odd).format(k % 250) for k in range(600)]
        + [reason.format(k % 250) for k in range(100)]
    )
    with_guard, without = _hits(lines, True), _hits(lines, False)
    assert with_guard == without
    assert len(with_guard) == 200  # every third line fails, and only those
    compiled = CompiledFilter(FilterLibrary(None).load("sshd"), "normal", successes=True)
    guards = Guards(compiled)
    mask = 1 << compiled.needles.index("Failed")
    test = guards.for_mask(mask)
    assert test is not None
    for k in range(TRIAL):
        test(lines[k], 0, len(lines[k]))
    assert guards.for_mask(mask) is not None  # two thirds told: kept
    mask = 1 << compiled.needles.index("Received disconnect from")
    test = guards.for_mask(mask)
    assert test is not None
    for line in lines[-TRIAL:]:
        assert test(line, 0, len(line)) is None  # reason 11, not 3 or 14
    assert guards.for_mask(mask) is not None


def test_a_guard_that_tells_no_miss_is_dropped_after_its_trial() -> None:
    lines = _lines(
        [f"Accepted publickey for bob from 198.51.100.{k % 250} port 22 ssh2" for k in range(300)]
    )
    assert _hits(lines, True) == _hits(lines, False)
    compiled = CompiledFilter(FilterLibrary(None).load("sshd"), "normal", successes=True)
    guards = Guards(compiled)
    mask = 1 << compiled.needles.index("Accepted")
    test = guards.for_mask(mask)
    assert test is not None
    for line in lines[:TRIAL]:
        assert test(line, 0, len(line)) is not None
    assert guards.for_mask(mask) is None  # it told none: no search from now on


def test_a_kept_search_of_starts_leaves_its_near_misses_in_the_scan() -> None:
    """Once a needle's lone mask kept its search of starts, the scan takes that search for
    the needle's dense lines: a ``Failed publickey for bob`` line holds ``Failed`` but no
    start, so it is no candidate at all; the hits are the same as without guards."""
    from journalban.matching.literals import line_ends

    near = "Failed publickey for bob from 198.51.100.{} port 40122 ssh2: RSA SHA256:AbCdEf0123"
    failing = "Failed password for invalid user admin from 203.0.113.{} port 22 ssh2"
    other = "Failed password for root from 192.0.2.{} port 22 ssh2"
    lines = _lines(
        [(near if k % 4 else failing if k % 8 else other).format(k % 250) for k in range(800)]
    )
    matcher = LineMatcher(
        CompiledFilter(FilterLibrary(None).load("sshd"), "normal", successes=True), lambda: NOW
    )
    assert matcher._guarded_lines() == {}  # nothing kept before a trial
    hits = []
    for at in range(0, len(lines), 100):
        hits += matcher.hits(LineBatch("f", lines[at : at + 100], "0"))
    assert hits == _hits(lines, False)
    assert len(hits) == 200
    bit = matcher.filter.needles.index("Failed")
    searches = matcher._guarded_lines()
    assert set(searches) == {bit}
    text = "\n".join(lines[:100])
    plain, guarded = (
        line_ends(text, matcher.filter.scan),
        line_ends(text, matcher.filter.scan, searches),
    )
    assert len(plain) == 100
    assert sorted(guarded) == sorted(
        end for end in plain if "publickey" not in text[text.rfind("\n", 0, end) + 1 : end]
    )
    assert len(guarded) == 25


def test_kept_strings_leave_their_near_misses_in_the_scan() -> None:
    """Once ``Received disconnect``'s lone mask kept its strings (reason ``3: `` or
    ``14: ``, one of which each of its regexes holds), the scan looks for them and the
    needle in their lines: a reason-11 line is no candidate. Crafted lines holding the
    reason before the needle, in the user, in another needle's line find the same hits
    as without guards; strings too common for the scan leave it to the loop."""
    from journalban.matching.literals import line_ends

    crafted = [
        "Received disconnect from 198.51.100.{} port 4411:11: Bye Bye [preauth]",
        "Received disconnect from 203.0.113.{} port 4411:3: Auth fail [preauth]",
        "Received disconnect from 203.0.113.{}: 14: No supported authentication methods",
        "error: Received disconnect from 203.0.113.{} port 22:3: x",
        "3: Received disconnect from 198.51.100.{} port 4411:11: Bye Bye",
        "14: x Received disconnect from 198.51.100.{} port 4411:11: Bye",
        "Failed password for 3: Received disconnect from 198.51.100.{} port 22 ssh2",
        "Received disconnect from 198.51.100.{}:11: by 14:",
        "Received disconnect from 198.51.100.{}:11: Received disconnect from 1.2.3.4:3: x",
    ]
    lines = _lines(
        [crafted[0].format(k % 250) for k in range(300)]
        + [crafted[k % len(crafted)].format(k % 250) for k in range(900)]
    )
    matcher = LineMatcher(
        CompiledFilter(FilterLibrary(None).load("sshd"), "normal", successes=True), lambda: NOW
    )
    hits = []
    for at in range(0, len(lines), 100):
        hits += matcher.hits(LineBatch("f", lines[at : at + 100], "0"))
    assert hits == _hits(lines, False)
    assert len(hits) == 4 * 100  # crafted 1, 2, 3 and the Failed line (its user holds 3: )
    assert all(
        str(hit[1]).startswith("203.0.113.") or str(hit[0]).find("Failed password for 3: ") > 0
        for hit in hits
    )
    bit = matcher.filter.needles.index("Received disconnect from")
    searches = matcher._guarded_lines()
    assert bit in searches
    found = searches[bit]
    # Its regexes hold the reason after the needle: the needle's lines holding one after it.
    assert isinstance(found, re.Pattern)
    assert found.pattern == (
        r"Received\ disconnect\ from\ (?=[^\n]{0,128}:\ (?<=(?:14|.3):\ )|[^\n]{128})[^\n]*"
    ).replace("\\n", "\n")
    text = "\n".join(lines[:300])
    assert line_ends(text, matcher.filter.scan, searches) == {}  # reason 11: none
    assert len(line_ends(text, matcher.filter.scan)) == 300
    text = "\n".join(lines[:300] + lines[300 : 300 + len(crafted)])  # each crafted line once
    plain = line_ends(text, matcher.filter.scan)
    kept = {}
    for end, mask in plain.items():
        line = text[text.rfind("\n", 0, end) + 1 : end]
        after = line[line.find("Received disconnect from") :]
        if "3: " in after or "14: " in after:
            kept[end] = mask
        elif mask != 1 << bit:
            kept[end] = mask & ~(1 << bit)
    assert line_ends(text, matcher.filter.scan, searches) == kept
    # Out: the reason-11 lines, "...:11: by 14:", and the two holding the reason before the
    # needle alone (the Failed line keeps its own needle's bit).
    assert len(kept) == len(crafted) - 4
    # A text whose needle lines hold the strings only before the needle: none of them.
    dense = "\n".join(
        HEAD + f"x 3: y Received disconnect from 10.0.0.{k % 250}:11: z" for k in range(300)
    )
    assert len(line_ends(dense, matcher.filter.scan)) == 300
    assert line_ends(dense, matcher.filter.scan, searches) == {}
    dense = dense.replace(":11: z", ":14: z")
    assert line_ends(dense, matcher.filter.scan, searches) == line_ends(dense, matcher.filter.scan)


def test_strings_follow_the_needle_only_where_every_regex_holds_them_after_it() -> None:
    texts = ["Received disconnect from"]

    def follow(*patterns: str) -> bool:
        return strings_follow([re.compile(p) for p in patterns], ("14: ", "3: "), texts)

    assert follow(r"^(?:error: )?Received disconnect from (?=.*: ?(?:3|14): )\S+: ?(?:3|14): .*$")
    assert not follow(r"^(?:3|14): Received disconnect from \S+$")
    assert not follow(r"^(?:3|14): Received disconnect from \S+$", r"^Received disconnect from 3: ")
    assert follow(r"^(?:3|14): Received disconnect from \S+ (?:3|14): $")  # after it as well
    assert not follow(r"^(?:3|14): (?:Received disconnect from )?x$")  # the needle optional
    needle = ("Received disconnect from", ())
    assert line_regex_after(needle, ("ab", "cd")) is None  # no common end
    assert line_regex_after(("abc", ()), ("123456: ", "3: ")) is None  # pad wider than "abc"
    regex = line_regex_after(needle, ("14: ", "3: "))
    assert regex is not None
    for line, found in [
        ("Received disconnect from 1.2.3.4 port 22:3: x", True),
        ("Received disconnect from 1.2.3.4: 14: x", True),
        ("Received disconnect from3: x", True),  # the pad on the needle's characters
        ("3: Received disconnect from 1.2.3.4:11: x", False),
        ("Received disconnect from 1.2.3.4:11: x\n3: y", False),  # another line's
        ("Received disconnect from 1.2.3.4:4: x 13:x", False),
        # A string more than 128 characters on, or a line longer: let through (the line's
        # guard tells it), so that a failed look at each of many literals stays short.
        ("Received disconnect from " + "x" * 200 + " 3: y", True),
        ("Received disconnect from " * 2600, True),
        (("Received disconnect from " * 6)[:150], False),
    ]:
        assert (regex.search(line) is not None) is found, line


@pytest.mark.parametrize(("name", "mode"), every_filter_mode())
def test_a_needle_s_line_regex_after_strings_finds_every_line_its_regexes_match(
    name: str, mode: str
) -> None:
    """Where a needle's lone mask takes the regex of its strings after it (``Guards``), every
    line one of the mask's regexes matches is found by it."""
    fdef = FilterLibrary(None).load(name)
    messages = list(bare_messages())
    for successes in (False, True):
        compiled = CompiledFilter(fdef, mode, successes=successes)
        guards = Guards(compiled)
        for bit in range(len(compiled.needles)):
            mask = compiled.regexes_needing(1 << bit)
            found = guards._lines_of(1 << bit, None)
            if not isinstance(found, re.Pattern):
                continue
            chosen = [r for k, (_, r) in enumerate(compiled.regexes) if mask >> k & 1]
            # A line a regex matches through another needle's literal holds that needle
            # too, and keeps its bit (``strings_follow``'s ``others``): not this regex's.
            others = guards.other_texts(bit)
            for message in messages:
                if any(
                    regex.match(message) and not any(t in message for t in other)
                    for regex, other in zip(chosen, others, strict=True)
                ):
                    for line in (message, HEAD + message):
                        text = f"x\n{line}\ny"
                        assert found.search(text) is not None, (name, mode, bit, line)


def test_a_lone_needle_s_shared_string_after_it_leaves_its_near_misses_in_the_scan() -> None:
    """sshd's ``nvalid user`` alone leaves two regexes whose own strings are too many
    together (``Failed publickey for invalid user ``; ``[Ii](?:llegal|nvalid) user ``), both
    followed by `` from `` (``shared_guard``): the lone mask's lines are told by `` from ``
    after the needle, in the trial, in the scan's dense and sparse paths alike, and the near
    misses (``Connection closed by invalid user bob 10.0.0.1``, ``Disconnected from invalid
    user ...``, `` from `` before the needle) are no candidates. Crafted lines (`` from ``
    in the user, a line also holding ``Illegal user``, the string on the next line) find the
    same hits as without guards."""
    from journalban.matching.literals import line_ends

    crafted = [
        "Invalid user admin from 203.0.113.{} port 4411",
        "Connection closed by invalid user admin 198.51.100.{} port 4411 [preauth]",
        "Disconnected from invalid user admin 198.51.100.{} port 4411 [preauth]",
        "Invalid user from from 203.0.113.{} port 22",
        "Connection closed by invalid user from 198.51.100.{} port 22 [preauth]",
        "Illegal user x 198.51.100.{} invalid user y from 203.0.113.9",
        "Illegal user invalid user z from 203.0.113.{}",
        "Failed publickey for invalid user root from 203.0.113.{} port 22 ssh2",
        "error: Invalid user " + "x" * 200 + " from 203.0.113.{}",
    ]
    near = crafted[1].format(7)
    lines = _lines(
        [crafted[k % 3].format(k % 250) for k in range(300)]
        + [crafted[k % len(crafted)].format(k % 250) for k in range(900)]
    )
    hits = _hits(lines, True)
    assert hits == _hits(lines, False)
    assert len(hits) == 100 + 6 * 100  # the Invalid user lines, and six crafted ones
    matcher = LineMatcher(
        CompiledFilter(FilterLibrary(None).load("sshd"), "normal", successes=True), lambda: NOW
    )
    for at in range(0, 300, 100):
        matcher.hits(LineBatch("f", lines[at : at + 100], "0"))
    bit = matcher.filter.needles.index("nvalid user")
    found = matcher._guarded_lines().get(bit)
    assert isinstance(found, re.Pattern)
    assert found.search(HEAD + near) is None
    assert found.search(HEAD + crafted[0].format(7)) is not None
    # Dense (the regex over the text) and sparse (each line of str.find's tested): the near
    # misses go without the needle's bit, the others keep it.
    dense = "\n".join(lines[:300])
    sparse = "\n".join([lines[0], "x" * 20000, lines[1], "y" * 20000, lines[2]])
    for text in (dense, sparse):
        plain = line_ends(text, matcher.filter.scan)
        kept = line_ends(text, matcher.filter.scan, matcher._guarded_lines())
        for end in plain:
            line = text[text.rfind("\n", 0, end) + 1 : end]
            told = " from " not in line[line.find("nvalid user ") :]
            assert (end in kept) is not told, line
    assert len(line_ends(sparse, matcher.filter.scan, matcher._guarded_lines())) == 1
