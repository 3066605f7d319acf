"""matching.starts: how a message must start for a regex's ``match``, and the reader
child's route of those starts (sources.journalroute), checked against the regexes
themselves on every packaged filter and mode."""

from __future__ import annotations

import random
import re

import pytest

from journalban.agent.journalfinder import ClassMatch, Gate, JailFinder
from journalban.matching.engine import CompiledFilter
from journalban.matching.library import FilterLibrary
from journalban.matching.sessions import SessionTable
from journalban.matching.starts import message_starts, start_classes
from journalban.sources.journalroute import FAILURE, SESSION, TEACH, Route, prefix_tree, route_for
from support.bare_messages import bare_messages
from support.filter_modes import every_filter_mode


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


@pytest.mark.parametrize(("name", "mode"), every_filter_mode())
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


@pytest.mark.parametrize(("name", "mode"), every_filter_mode())
def test_the_alternation_of_a_starts_class_finds_what_the_whole_finds(name: str, mode: str) -> None:
    fdef = FilterLibrary(None).load(name)
    messages = list(bare_messages())
    for successes in (False, True):
        compiled = CompiledFilter(fdef, mode, successes=successes)
        classes = start_classes([regex for _, regex in compiled.regexes])
        whole = compiled._whole
        if classes is None or whole is None:
            continue
        assert len({s for starts, _ in classes for s in starts}) == sum(len(s) for s, _ in classes)
        alternations = {}
        for _, mask in classes:
            alternation = compiled.alternation_of(mask)
            assert alternation is not None
            alternations[mask] = alternation.match
        tried = messages + [s + m for starts, _ in classes for s in starts for m in messages[:50]]
        for message in tried:
            expected = whole.match(message)
            found = [(starts, mask) for starts, mask in classes if message.startswith(starts)]
            assert len(found) <= 1, "a message starts with one start at most"
            if not found:
                assert expected is None, (name, mode, message)
                continue
            got = alternations[found[0][1]](message)
            if expected is None or got is None:
                assert expected is got, (name, mode, message)
                continue
            assert got.lastgroup == expected.lastgroup
            assert got.span() == expected.span()
            branch = compiled.branches[got.lastgroup]  # type: ignore[index]
            assert [got.group(inner) for inner, _ in branch.groups] == [
                expected.group(inner) for inner, _ in branch.groups
            ]


def test_the_route_tells_each_message_as_startswith_does_in_order() -> None:
    fdef = FilterLibrary(None).load("sshd")
    assert fdef.sessions is not None
    gate = Gate(SessionTable(fdef.sessions), ["Failed "])
    assert gate.prefixes is not None
    classes = start_classes([r for _, r in CompiledFilter(fdef, None, successes=True).regexes])
    assert classes is not None
    encoded = [tuple(s.encode() for s in starts) for starts, _ in classes]
    failure = tuple(s for starts in encoded for s in starts)
    # A stand-in match per class, to tell which class the route picked.
    stand_ins = [re.compile(f"(?!){k}").match for k in range(len(classes))]
    route = route_for(
        gate.prefixes, gate.teach_prefixes, list(zip(encoded, stand_ins, strict=True))
    )
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
        leaf = None if m is None else route.leaves[raw[: m.end()]]
        assert (None if leaf is None else route.kinds[leaf]) == expected, raw
        if leaf is not None:  # a failure start's class, or none for a session line
            k = [k for k, starts in enumerate(encoded) if raw.startswith(starts)]
            assert route.matchers[leaf] is (None if expected != FAILURE else stand_ins[k[0]])
        kinds.add(expected)
        # Quiet: the session lines that do not teach are no candidates (none fails).
        q = route.quiet_match(raw) if raw and route.quiet_firsts[raw[0]] else None
        q_leaf = None if q is None else route.leaves[raw[: q.end()]]
        assert q_leaf == (None if expected == SESSION else leaf)
    assert kinds == {TEACH, SESSION, FAILURE, None}


def test_no_route_where_a_start_of_one_kind_begins_one_of_another() -> None:
    never = re.compile("(?!)").match
    assert route_for([b"Connection "], [b"Connection from "], [([b"Failed "], never)]) is None
    assert route_for([b"Disc"], [b"Conn"], [([b"Disconnected"], never)]) is None
    assert route_for([b"Disc"], [b"Conn"], [([b"Failed"], never)]) is not None


def test_the_prefix_tree_names_the_start_a_text_begins_with() -> None:
    rng = random.Random(11)
    for _ in range(200):
        drawn = {bytes(rng.choice(b"ab(.") for _ in range(rng.randrange(1, 5))) for _ in range(6)}
        starts = [s for s in drawn if not any(o != s and s.startswith(o) for o in drawn)]
        shut = frozenset(rng.sample(starts, rng.randrange(len(starts))))
        leaves: list[bytes] = []
        tree = re.compile(prefix_tree(starts, leaves))
        bare = re.compile(prefix_tree(starts, [], shut, marked=False))
        assert bare.groups == 0
        closed = re.compile(prefix_tree(starts, [], shut))
        assert sorted(leaves) == sorted(starts)
        for _ in range(50):
            text = bytes(rng.choice(b"ab(.") for _ in range(rng.randrange(0, 7)))
            begun = [s for s in starts if text.startswith(s)]
            m = tree.match(text)
            assert (None if m is None or m.lastindex is None else leaves[m.lastindex - 1]) == (
                begun[0] if begun else None
            ), (starts, text)
            b = bare.match(text)  # no groups: its end is the start's, where one opens
            assert (None if b is None else text[: b.end()]) == next(
                (s for s in begun if s not in shut), None
            ), (starts, shut, text)
            m = closed.match(text)
            open_ = [s for s in begun if s not in shut]
            assert (None if m is None or m.lastindex is None else leaves[m.lastindex - 1]) == (
                open_[0] if open_ else None
            ), (starts, shut, text)


def _sshd_finder_and_route() -> tuple[JailFinder, Route]:
    """The sshd jail's finder (sessions, successes) and the route of its start classes."""
    from journalban.matching.spec import MatcherSpec, pickle_filter

    fdef = FilterLibrary().load("sshd")
    spec = MatcherSpec("sshd", None, None, check_idents=False, successes=True)
    finder = JailFinder({**spec.to_json(), "filter_def": pickle_filter(fdef)})
    assert finder.start_classes is not None
    assert finder.gate is not None
    assert finder.gate.prefixes is not None
    route = route_for(finder.gate.prefixes, finder.gate.teach_prefixes, finder.start_classes)
    assert route is not None
    return finder, route


def test_a_class_is_compiled_at_its_first_message_and_then_called_directly() -> None:
    """The finder's classes of starts compile their alternation at their first message
    (``ClassMatch``): until then the route's slots hold them, after it the compiled match;
    what they find is the eager alternation's."""
    finder, route = _sshd_finder_and_route()
    slots = [k for k, kind in enumerate(route.kinds) if kind == FAILURE]
    assert all(isinstance(route.matchers[k], ClassMatch) for k in slots)  # none compiled
    compiled = finder.matcher.filter
    eager = {
        starts: compiled.alternation_of(regexes)
        for starts, regexes in start_classes([r for _, r in compiled.regexes]) or ()
    }
    message = "Failed password for root from 203.0.113.9 port 22 ssh2"
    m = route.match(message.encode())
    assert m is not None
    leaf = route.leaves[message.encode()[: m.end()]]
    assert leaf in slots
    lazy = route.matchers[leaf]
    assert lazy is not None
    found = lazy(message)
    assert not isinstance(route.matchers[leaf], ClassMatch)  # compiled, in its place
    (alternation,) = [a for starts, a in eager.items() if message.startswith(starts)]
    assert alternation is not None
    expected = alternation.match(message)
    assert found is not None
    assert expected is not None
    assert found.groupdict() == expected.groupdict()
    assert found.lastgroup == expected.lastgroup
    others = [k for k in slots if route.matchers[k] is not route.matchers[leaf]]
    assert others
    assert all(isinstance(route.matchers[k], ClassMatch) for k in others)


def test_a_held_childs_finder_compiles_every_class_before_its_first_message() -> None:
    """``JailFinder.prepare`` (a held reader child, before the agent's GO) compiles every
    class's match: the route's slots then hold the compiled matches, except a guarded
    class's, whose trial (its first messages) has not run and still counts from none."""
    finder, route = _sshd_finder_and_route()
    assert finder.start_classes is not None
    classes = [match for _, match in finder.start_classes]
    assert all(isinstance(match, ClassMatch) for match in classes)
    finder.prepare()
    slots = [k for k, kind in enumerate(route.kinds) if kind == FAILURE]
    guarded = [m for m in classes if isinstance(m, ClassMatch) and m.guard is not None]
    assert guarded  # sshd's Received disconnect
    for k in slots:
        held = route.matchers[k]
        assert isinstance(held, ClassMatch) == any(held is m for m in guarded)
    assert all(m._tried == 0 for m in guarded)
    message = "Failed password for root from 203.0.113.9 port 22 ssh2"
    m = route.match(message.encode())
    assert m is not None
    match = route.matchers[route.leaves[message.encode()[: m.end()]]]
    assert match is not None
    found = match(message)
    assert found is not None
    assert found.group(finder.matcher.filter.branches[found.lastgroup or ""].host or "") == (
        "203.0.113.9"
    )


def test_a_route_compiles_each_of_its_trees_when_first_asked() -> None:
    """A reader asks for a tree at a batch's start: one that stays quiet (no session taught,
    none held: sshd's corpora) never compiles the other, and the route's start compiles
    neither."""
    from support.sshdroute import sshd_route

    _, route = sshd_route()
    assert route._trees == [None, None]
    quiet = route.quiet_match
    assert route._trees == [None, quiet]
    assert route.quiet_match is quiet
    closed = b"Connection closed by 203.0.113.9 port 22 [preauth]"
    assert quiet(closed) is None  # a session line that does not teach: shut while quiet
    found = route.match(closed)
    assert found is not None
    assert route.kinds[route.leaves[closed[: found.end()]]] == SESSION
    assert route._trees[0] is route.match
