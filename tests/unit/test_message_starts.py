"""matching.starts: how a message must start for a regex's ``match``, and the reader
child's route of those starts (sources.journalroute), checked against the regexes
themselves on every packaged filter and mode."""

from __future__ import annotations

import random
import re

import pytest

from journalban.agent.journalfinder import Gate
from journalban.matching.engine import CompiledFilter
from journalban.matching.library import FilterLibrary
from journalban.matching.sessions import SessionTable
from journalban.matching.starts import message_starts
from journalban.sources.journalroute import FAILURE, SESSION, TEACH, prefix_tree, route_for
from support.bare_messages import bare_messages


def starts(*patterns: str) -> tuple[str, ...] | None:
    return message_starts([re.compile(p) for p in patterns])


def test_starts_go_on_through_optional_groups_classes_and_partial_branches() -> None:
    assert starts(r"^(?:error: )?PAM: \w") == ("PAM: ", "error: PAM: ")
    assert starts(r"^[Ii](?:llegal|nvalid) user ") == (
        "Illegal user ", "Invalid user ", "illegal user ", "invalid user ",
    )  # fmt: skip
    # A branch one of whose strings is only partly known still tells its start (and
    # what follows it is not known to follow each).
    assert starts(r"^Failed (?:password|keyboard-interactive(?:/\w+)?|none) for") == (
        "Failed keyboard-interactive", "Failed none", "Failed password",
    )  # fmt: skip
    assert starts(r"^Received from (?=.*: 3: )\[?x") == ("Received from [x", "Received from x")
    assert starts(r"^ab{2,}c") == ("ab",)  # a repeat: its first time only
    assert starts(r"(?>ab|c)d") == ("abd", "cd")
    # One start holding another: the shorter is enough.
    assert starts(r"^User ", r"^User x") == ("User ",)
    assert starts(r"a?bc") == ("abc", "bc")
    for unknown in (r"(?i)abc", r"\w+abc", r"a?\w", r"(?:x)*y", r"^.*closed", r"[^a]b", r"a|\d"):
        assert starts(unknown) is None, unknown
    assert starts(r"^abc", r"\w+") is None
    # Past MAX_STARTS strings the starts found so far serve.
    assert starts(r"^x[abcdefgh][abcdefgh]") == tuple(f"x{c}" for c in "abcdefgh")


def _cases() -> list[tuple[str, str]]:
    library = FilterLibrary(None)
    return [(name, mode) for name in library.names() for mode in library.load(name).modes]


@pytest.mark.parametrize(("name", "mode"), _cases())
def test_every_match_starts_with_a_start(name: str, mode: str) -> None:
    fdef = FilterLibrary(None).load(name)
    messages = list(bare_messages())
    for successes in (False, True):
        compiled = CompiledFilter(fdef, mode, successes=successes)
        regexes = [regex for _, regex in compiled.regexes]
        found = message_starts(regexes)
        if name == "sshd":
            assert found, "sshd's failure and success regexes all start with literals"
        if found is None:
            continue
        whole = compiled._whole
        # Each start, at the front of messages that otherwise matched elsewhere.
        tried = messages + [start + message for start in found for message in messages[:50]]
        count = 0
        for message in tried:
            matched = any(regex.match(message) for regex in regexes)
            if whole is not None:
                assert matched == (whole.match(message) is not None)
            if matched:
                assert message.startswith(found), (name, mode, message)
                count += 1
        if name == "sshd":  # (other filters' samples may not be syslog lines)
            assert count > 100, "sshd's samples and corpus lines match"


def test_the_route_tells_each_message_as_startswith_does_in_order() -> None:
    fdef = FilterLibrary(None).load("sshd")
    assert fdef.sessions is not None
    gate = Gate(SessionTable(fdef.sessions), ["Failed "])
    assert gate.prefixes is not None
    found = message_starts(r for _, r in CompiledFilter(fdef, None, successes=True).regexes)
    assert found is not None
    failure = tuple(s.encode() for s in found)
    route = route_for(gate.prefixes, gate.teach_prefixes, failure)
    assert route is not None
    rng = random.Random(5)
    raws = [m.encode() for m in bare_messages()]
    every = (*gate.prefixes, *failure)
    raws += [s[: rng.randrange(len(s) + 1)] + b"\xff tail" for s in every for _ in range(3)]
    raws += [s + b"\xfe\xff" for s in every] + [b"", b"C", b"\x00", b"\xff"]
    kinds = set()
    for raw in raws:
        if raw.startswith(gate.teach_prefixes):
            expected = TEACH
        elif raw.startswith(gate.prefixes):
            expected = SESSION
        elif raw.startswith(failure):
            expected = FAILURE
        else:
            expected = None
        m = route.match(raw) if raw and route.firsts[raw[0]] else None
        assert (None if m is None else m.lastindex) == expected, raw
        kinds.add(expected)
        # Quiet: the session lines that do not teach are no candidates (none fails).
        m = route.quiet_match(raw) if raw and route.quiet_firsts[raw[0]] else None
        assert (None if m is None else m.lastindex) == (None if expected == SESSION else expected)
    assert kinds == {TEACH, SESSION, FAILURE, None}


def test_the_prefix_tree_matches_exactly_what_starts_with_a_start() -> None:
    rng = random.Random(11)
    for _ in range(200):
        starts = {bytes(rng.choice(b"ab(.") for _ in range(rng.randrange(1, 5))) for _ in range(6)}
        tree = re.compile(prefix_tree(starts))
        for _ in range(50):
            text = bytes(rng.choice(b"ab(.") for _ in range(rng.randrange(0, 7)))
            assert (tree.match(text) is not None) == text.startswith(tuple(starts)), (starts, text)
