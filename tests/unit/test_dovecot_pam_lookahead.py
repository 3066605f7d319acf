"""dovecot's regex 3 (pam_unix with the user= copy): its lookahead changes no match.

After ``ruser=`` the regex says first that a ``user=`` follows (every match holds one).
A line without the copy (regex 5's) then fails there, by sre's fast scan for a literal
after ``.*``, instead of reading its user name back character by character to ``rhost=``
and trying its address. These tests hold the regex to its text without the lookahead,
on lines whose user name and whitespace an attacker chose.
"""

from __future__ import annotations

import itertools
import random
import re

from journalban.matching.library import FilterLibrary

LOOKAHEAD = "(?=(?s:.*)user=)"


def _regexes() -> tuple[re.Pattern[str], re.Pattern[str]]:
    """Regex 3 as shipped, and without its lookahead."""
    fdef = FilterLibrary(override_dir=None).load("dovecot")
    pattern = fdef.failregex[3].regex.pattern
    return re.compile(pattern), re.compile(pattern.replace(LOOKAHEAD, "", 1))


def test_regex_3_says_first_that_a_user_copy_follows() -> None:
    shipped, bare = _regexes()
    assert shipped.pattern.count(LOOKAHEAD) == 1
    assert "ruser=" + LOOKAHEAD + "(?P<user>" in shipped.pattern
    assert LOOKAHEAD not in bare.pattern


def test_regex_3_matches_as_without_its_lookahead() -> None:
    shipped, bare = _regexes()
    head = "pam_unix(dovecot:auth): authentication failure; logname= uid=0 euid=0 tty=dovecot "
    users = ["root", "", "x user=y", "user=", "Z rhost=192.0.2.66", "a\nb", "ruser=q", "é"]
    hosts = ["203.0.113.5", "2001:db8::5", "192.0.2.66", "bad"]
    gaps = ["  ", " ", "\t", "\n", "", " \n "]
    lines = []
    for user, host, gap in itertools.product(users, hosts, gaps):
        lines.append(f"{head}ruser={user} rhost={host}{gap}user={user}")
        lines.append(f"{head}ruser={user} rhost={host}{gap}user={user}x")
        lines.append(f"{head}ruser={user} rhost={host}{gap}")
        lines.append(f"auth: {head}ruser={user} rhost={host}{gap}user={user} rhost=192.0.2.66")
    rng = random.Random(3)
    pieces = ["user=", " rhost=203.0.113.9", "  ", "\n", "x", "ruser=", "\t", " user=x"]
    for _ in range(3_000):
        lines.append(head + "ruser=" + "".join(rng.choice(pieces) for _ in range(6)))
    matched = 0
    for line in lines:
        for end in {len(line), len(line) - 1, len(line) // 2}:
            a, b = shipped.match(line, 0, end), bare.match(line, 0, end)
            assert (a is None) == (b is None), (line, end)
            if a is not None and b is not None:
                matched += 1
                assert a.span() == b.span(), (line, end)
                assert a.groupdict() == b.groupdict(), (line, end)
    assert matched > 100
