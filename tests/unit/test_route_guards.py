"""The route's guarded starts (sources.journalroute.guard_ahead, Route.guard): a message
starting with a guarded start is a candidate only where it holds one of its class's guard
strings, and no message a regex of the class may match is ever skipped.

sshd's ``Received disconnect from`` lines of reason 11 (11% of sshd's corpora) fail in the
normal mode (regex 8 wants reason 3 or 14); a wider mode's 8b takes them, and there the
class has no such guard. The class's trial (``ClassMatch``, the file path's rule) keeps
the guard only where at least half its first messages hold none of the strings.
"""

from __future__ import annotations

import random
import re

import pytest

from journalban.agent.journalfinder import ClassMatch, _guard
from journalban.matching.engine import CompiledFilter
from journalban.matching.guards import TRIAL
from journalban.matching.library import FilterLibrary
from journalban.matching.starts import start_classes
from journalban.sources.journalroute import FAILURE, Route, guard_ahead, route_for
from support.bare_messages import bare_messages
from support.filter_modes import every_filter_mode
from support.sshdroute import sshd_route

RECEIVED = (b"Received disconnect from ", b"error: Received disconnect from ")


def test_a_guard_lookahead_holds_exactly_where_the_message_holds_a_string() -> None:
    rng = random.Random(19)
    alphabet = b"ab3:1 "
    looked = 0
    for _ in range(3000):
        start = bytes(rng.choice(alphabet) for _ in range(rng.randrange(1, 5)))
        suffix = bytes(rng.choice(alphabet) for _ in range(rng.randrange(1, 3)))
        strings = tuple(
            {
                bytes(rng.choice(alphabet) for _ in range(rng.randrange(0, 3))) + suffix
                for _ in range(rng.randrange(1, 4))
            }
        )
        look = guard_ahead(start, strings)
        if look is None:
            continue
        looked += 1
        guarded = re.compile(re.escape(start) + look)
        for _ in range(20):
            tail = bytes(rng.choice(alphabet + b"\n") for _ in range(rng.randrange(0, 9)))
            message = start + tail
            holds = any(s in message for s in strings)
            assert (guarded.match(message) is not None) == holds, (start, strings, message)
    assert looked > 300


def test_no_lookahead_where_a_string_may_begin_inside_the_start_or_ends_unlike_the_others() -> None:
    assert guard_ahead(b"Invalid user ", (b" from ",)) is None  # " " ends the start
    assert guard_ahead(b"Failed 3", (b"3: ",)) is None
    assert guard_ahead(b"x: 3: y", (b"3: ",)) is None  # in the start: no use
    assert guard_ahead(b"Received ", (b"3: ", b"[preauth]")) is None  # no common suffix
    look = guard_ahead(RECEIVED[0], (b"14: ", b"3: "))
    assert look is not None
    guarded = re.compile(re.escape(RECEIVED[0]) + look)
    assert guarded.match(RECEIVED[0] + b"198.51.100.9 port 4411:3: Auth fail [preauth]")
    assert guarded.match(RECEIVED[0] + b"198.51.100.9 port 4411: 14: No auth methods")
    assert not guarded.match(RECEIVED[0] + b"198.51.100.9 port 4412:11: Bye Bye [preauth]")


@pytest.mark.parametrize(("name", "mode"), every_filter_mode())
def test_a_guarded_start_lets_through_every_message_its_class_may_match(
    name: str, mode: str
) -> None:
    fdef = FilterLibrary(None).load(name)
    messages = list(bare_messages())
    compiled = CompiledFilter(fdef, mode, successes=True)
    classes = start_classes([regex for _, regex in compiled.regexes])
    if classes is None or compiled._whole is None:
        return
    for starts, mask in classes:
        strings = _guard(compiled, mask, starts)
        alternation = compiled.alternation_of(mask)
        if strings is None or alternation is None:
            continue
        encoded = tuple(s.encode() for s in strings)
        for start in starts:
            look = guard_ahead(start.encode(), encoded)
            if look is None:
                continue
            guarded = re.compile(re.escape(start.encode()) + look)
            tails = [m[len(start) :] for m in messages if m.startswith(start)]
            tails += messages[:200] + [f"x {s} y" for s in strings] + [f"{s}" for s in strings]
            for tail in tails:
                message = start + tail
                if alternation.match(message) is not None:
                    raw = message.encode("utf-8", "surrogateescape")
                    assert guarded.match(raw) is not None, (name, mode, message)
    if name == "sshd":
        received = [
            _guard(compiled, mask, starts)
            for starts, mask in classes
            if "Received disconnect from " in starts
        ]
        # Reason 3 or 14 in the normal mode; the wider modes take reason 11 (8b), and the
        # strings (a reason or "[preauth]") end unlike each other: no lookahead, no guard.
        assert received == ([("14: ", "3: ")] if mode == "normal" else [None])


def _slot(route: Route, message: str) -> tuple[int, ClassMatch]:
    raw = message.encode()
    found = route.quiet_match(raw)
    assert found is not None
    leaf = route.leaves[raw[: found.end()]]
    assert route.kinds[leaf] == FAILURE
    slot = route.matchers[leaf]
    assert isinstance(slot, ClassMatch)
    return leaf, slot


def test_the_trial_keeps_a_guard_that_tells_and_the_route_then_skips_those_lines() -> None:
    finder, route = sshd_route()
    bye = "Received disconnect from 198.51.100.{}:11: Bye Bye [preauth]"
    auth = "Received disconnect from 198.51.100.9 port 4411:3: Auth fail [preauth]"
    index, trial = _slot(route, bye.format(1))
    for k in range(TRIAL - 1):
        assert trial(bye.format(k)) is None
        assert route.matchers[index] is trial  # on trial: still in its slot
    assert route._ahead == {}
    assert trial(auth) is not None  # the 64th message: kept (63 of 64 held no reason)
    assert route.matchers[index] is not trial  # the compiled match, called directly
    assert set(route._ahead) == set(RECEIVED)
    assert route.quiet_match(bye.format(1).encode()) is None
    assert route.match(("error: " + bye.format(2)).encode()) is None
    found = route.quiet_match(auth.encode())
    assert found is not None
    assert route.leaves[auth.encode()[: found.end()]] == index
    # A route made after the trial is guarded at once.
    assert finder.start_classes is not None
    assert finder.gate is not None
    assert finder.gate.prefixes is not None
    later = route_for(finder.gate.prefixes, finder.gate.teach_prefixes, finder.start_classes)
    assert later is not None
    assert set(later._ahead) == set(RECEIVED)


def test_the_trial_drops_a_guard_that_tells_too_few_lines() -> None:
    _, route = sshd_route()
    accepted = "Accepted publickey for bob from 198.51.100.{} port 22 ssh2: ED25519 SHA256:x"
    index, trial = _slot(route, accepted.format(1))
    assert trial.guard == (" from ",)
    for k in range(TRIAL):
        assert trial(accepted.format(k)) is not None
    assert route.matchers[index] is not trial
    assert route._ahead == {}
    assert route._trees == [None, None] or route._trees[1] is not None


def test_no_guard_where_a_wider_mode_takes_reason_11() -> None:
    _, route = sshd_route("aggressive")
    index, trial = _slot(route, "Received disconnect from 198.51.100.1 port 2:11: Bye [preauth]")
    assert trial.guard is None
    assert trial("Received disconnect from 198.51.100.1 port 2:11: Bye [preauth]") is not None
    assert route.matchers[index] is not trial
    assert route._ahead == {}
