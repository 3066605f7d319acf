"""The file path's guards, the literal prefilter's required strings and the message
starts hold for regexes no packaged filter has: generated ones, with each a string it
matches built alongside (literals, classes, optional and repeated groups, alternations,
case-insensitive groups, named groups, nested).

A user's own filter goes through the same analyses as the packaged ones
(``matching.guards``, ``literals.required_sets``, ``starts.message_starts``); a string a
regex matches that one of them rejected would be a failure the agent never sees.
"""

from __future__ import annotations

import random
import re
from collections.abc import Callable

import pytest

from journalban.matching.guards import line_guard
from journalban.matching.literals import required_sets
from journalban.matching.starts import message_starts

WORDS = ["Failed ", "password", "for ", "invalid user ", "from ", "port ", "3: ", "14: ",
         "Received disconnect", "auth", "ab", "x", "Fa", "Failed p", "F"]  # fmt: skip
HEAD = "Dec  5 12:00:00 host sshd[1]: "
Make = Callable[[], str]


class _Generator:
    """A regex and a maker of strings it may match, built together."""

    def __init__(self, seed: int) -> None:
        self.rng = random.Random(seed)

    def node(self, depth: int) -> tuple[str, Make]:
        rng = self.rng
        k = rng.random()
        if depth > 3 or k < 0.35:
            word = rng.choice(WORDS)
            return re.escape(word), lambda: word
        if k < 0.45:
            return r"[a-cF0-9]", lambda: rng.choice("abcF0123456789")
        if k < 0.52:
            return r"\S+", lambda: "".join(rng.choice("ab1.:F") for _ in range(rng.randint(1, 5)))
        if k < 0.6:
            regex, make = self.node(depth + 1)
            return f"(?:{regex})?", lambda: make() if rng.random() < 0.5 else ""
        if k < 0.7:
            (one, make1), (two, make2) = self.node(depth + 1), self.node(depth + 1)
            return f"(?:{one}|{two})", lambda: make1() if rng.random() < 0.5 else make2()
        if k < 0.76:
            regex, make = self.node(depth + 1)
            return f"(?:{regex}){{1,3}}", lambda: "".join(make() for _ in range(rng.randint(1, 3)))
        if k < 0.84:
            regex, make = self.node(depth + 1)

            def any_case() -> str:
                return "".join(c.upper() if rng.random() < 0.5 else c.lower() for c in make())

            return f"(?i:{regex})", any_case
        if k < 0.88:
            regex, make = self.node(depth + 1)
            return f"(?P<g{rng.randrange(10**9)}>{regex})", make
        parts = [self.node(depth + 1) for _ in range(rng.randint(2, 4))]
        return "".join(p[0] for p in parts), lambda: "".join(p[1]() for p in parts)


@pytest.mark.parametrize("seed", range(4))
def test_every_match_of_a_generated_regex_passes_its_guard_starts_and_literals(
    seed: int,
) -> None:
    gen = _Generator(seed)
    guarded = checked = 0
    for _ in range(1500):
        pattern, make = gen.node(0)
        regex = re.compile(pattern)
        sets = required_sets(regex)
        starts = message_starts([regex])
        guard = line_guard([regex], [])
        guarded += guard is not None
        for _ in range(4):
            message = make()
            found = regex.match(message)
            if found is None:
                continue  # (an alternation or a repeat may have matched otherwise)
            checked += 1
            text = found.group(0)
            for strings in sets:
                assert any(s in text for s in strings), (pattern, message, strings)
            if starts:
                assert message.startswith(starts), (pattern, message, starts)
            line = HEAD + message + gen.rng.choice(["", " tail", "\t3: x"])
            if guard is not None:
                assert guard(line, 0, len(line)) is not None, (pattern, message)
    # Not vacuous: most regexes have a guard, and most strings matched.
    assert guarded > 400
    assert checked > 3000
